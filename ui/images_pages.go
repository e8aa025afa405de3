package ui

import (
	"net/http"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

// imageFields are the fields of the register form, in the order the
// service's errors may name them.
var imageFields = []string{"name", "file", "format", "sha256", "kernel", "initrd", "cmdline"}

func (s *server) imagesPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return s.renderImages(w, r, p, view.Form{Values: map[string]string{"format": "auto"}}, "", http.StatusOK)
}

// renderImages shows the images; an admin on a server with the image port
// also gets the register form (f) and delete buttons, with delErr above
// the list after a refused delete.
func (s *server) renderImages(w http.ResponseWriter, r *http.Request, p *principal, f view.Form, delErr string, status int) error {
	ims, err := s.svc.ListImages(r.Context(), p.actor())
	if err != nil {
		return err
	}
	v := view.Images{Form: f, DeleteError: delErr, Manage: p.user.Admin && s.cfg.Images != nil}
	for _, im := range ims {
		v.Rows = append(v.Rows, view.ImageRow{ID: im.ID, Name: im.Name, Format: string(im.Format), Size: humanSize(im.Size),
			SHA256: im.SHA256, Created: stamp(im.CreatedAt), DirectBoot: im.Kernel != ""})
	}
	if v.Manage {
		dir, err := s.cfg.Images.ImportFiles(r.Context(), p.actor())
		if err != nil {
			s.log.Warn("listing the image import directory", "err", err)
			v.ImportError = "The import directory cannot be read: " + publicError(err).Message
		}
		v.ImportDir = dir.Path
		for _, fi := range dir.Files {
			v.Files = append(v.Files, view.Option{Value: fi.Name, Label: fi.Name + " (" + humanSize(fi.Size) + ", " + stamp(fi.Modified) + ")"})
		}
	}
	return render(w, r, status, view.ImagesPage(s.layout(r, p, "Images"), v))
}

func (s *server) imageCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	ims, err := s.images()
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	f := formOf(r, imageFields...)
	req := ImageRequest{Name: f.V("name"), File: f.V("file"), Format: f.V("format"), SHA256: f.V("sha256"),
		Kernel: f.V("kernel"), Initrd: f.V("initrd"), Cmdline: f.V("cmdline")}
	req.Normalize()
	err = req.Validate()
	if err == nil {
		if _, err = ims.AddImage(r.Context(), p.actor(), req); err == nil {
			http.Redirect(w, r, "/admin/images", http.StatusSeeOther)
			return nil
		}
	}
	if !isUserError(err) {
		return err
	}
	addError(&f, err, imageFields...)
	return s.renderImages(w, r, p, f, "", statusOf(err))
}

func (s *server) imageDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	ims, err := s.images()
	if err != nil {
		return err
	}
	err = ims.DeleteImage(r.Context(), p.actor(), r.PathValue("id"))
	if err == nil {
		http.Redirect(w, r, "/admin/images", http.StatusSeeOther)
		return nil
	}
	if !isUserError(err) {
		return err
	}
	return s.renderImages(w, r, p, view.Form{Values: map[string]string{"format": "auto"}}, model.AsError(err).Error(), statusOf(err))
}

func (s *server) apiImageCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	ims, err := s.images()
	if err != nil {
		return err
	}
	var req ImageRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	req.Normalize()
	if err := req.Validate(); err != nil {
		return err
	}
	im, err := ims.AddImage(r.Context(), p.actor(), req)
	if err != nil {
		return err
	}
	return created(w, im)
}

func (s *server) apiImageDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	ims, err := s.images()
	if err != nil {
		return err
	}
	if err := ims.DeleteImage(r.Context(), p.actor(), r.PathValue("id")); err != nil {
		return err
	}
	return noContent(w)
}

func (s *server) apiImportFiles(w http.ResponseWriter, r *http.Request, p *principal) error {
	ims, err := s.images()
	if err != nil {
		return err
	}
	dir, err := ims.ImportFiles(r.Context(), p.actor())
	if err != nil {
		return err
	}
	dir.Files = nonNil(dir.Files)
	return ok(w, dir)
}
