package ui

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

// watchedReader remembers the error its reader returned, so an upload cut
// short by the body limit is reported as too large however the engine
// wrapped the error.
type watchedReader struct {
	r   io.Reader
	err error
}

func (w *watchedReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF {
		w.err = err
	}
	return n, err
}

// uploadError makes an upload failure a clear error on the "file" field:
// the body limit, a refused name (the engine says "name") or content.
func (s *server) uploadError(name string, err error, read error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) || errors.As(read, &mb) {
		return &model.Error{Code: model.CodeTooLarge, Field: "file",
			Message: fmt.Sprintf("the upload is larger than the limit of %s: upload fewer or smaller files at a time", humanSize(s.cfg.AirlockMaxUpload))}
	}
	if !isUserError(err) {
		return err
	}
	e := *model.AsError(err)
	if e.Field == "" || e.Field == "name" {
		e.Field = "file"
	}
	if e.Field == "file" && name != "" && !strings.Contains(e.Message, name) {
		e.Message = strconv.Quote(name) + ": " + e.Message
	}
	return &e
}

// maxColumnsLen bounds the pseudonymisation field of an upload form.
const maxColumnsLen = 4096

func splitColumns(s string) []string {
	var out []string
	for _, c := range strings.Split(s, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// airlockUpload streams the files of a multipart form into the request,
// one part at a time (nothing is buffered whole). The pseudonymisation
// field must come before the files, as the form puts it. Files stored
// before a refused one stay; the page says which was refused and why.
func (s *server) airlockUpload(w http.ResponseWriter, r *http.Request, p *principal) error {
	eng, _, err := s.airlockOn()
	if err != nil {
		return err
	}
	req, pr, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	f := emptyForm()
	fail := func(err error) error {
		if !isFormError(err) {
			return err
		}
		io.CopyN(io.Discard, r.Body, 8<<20) // let the browser finish sending and read the answer
		addError(&f, err, "file", "pseudonymise")
		if fresh, _, lerr := s.loadAirlock(r, p); lerr == nil {
			req = fresh
		}
		return s.renderAirlock(w, r, p, req, pr, airlockForms{upload: f}, statusOf(err))
	}
	if req.Direction != model.AirlockImport {
		return errExportUpload
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return fail(model.FieldError("file", "send the files as a multipart/form-data form: %v", err))
	}
	if r.ContentLength > s.cfg.AirlockMaxUpload {
		// Refused before any file is read; the fields before the files
		// are kept for the redisplayed form.
		keepFields(mr, &f)
		return fail(s.uploadError("", &http.MaxBytesError{Limit: s.cfg.AirlockMaxUpload}, nil))
	}
	var columns []string
	stored := 0
	for parts := 0; ; parts++ {
		if parts > 2*model.MaxAirlockFiles+4 {
			return fail(&model.Error{Code: model.CodeTooLarge, Field: "file", Message: fmt.Sprintf("more than %d parts in one upload", 2*model.MaxAirlockFiles+4)})
		}
		part, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(s.uploadError("", model.FieldError("file", "malformed upload: %v", err), err))
		}
		_, params, perr := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		filename, isFile := params["filename"]
		switch {
		case perr != nil:
		case !isFile && params["name"] == "pseudonymise":
			b, err := io.ReadAll(io.LimitReader(part, maxColumnsLen+1))
			if err != nil {
				part.Close()
				return fail(s.uploadError("", model.FieldError("pseudonymise", "could not be read: %v", err), err))
			}
			if len(b) > maxColumnsLen {
				part.Close()
				return fail(model.FieldError("pseudonymise", "is longer than %d characters", maxColumnsLen))
			}
			f.Values["pseudonymise"] = string(b)
			columns = splitColumns(string(b))
		case isFile && params["name"] == "file" && filename != "":
			body := &watchedReader{r: part}
			_, err := eng.AddFile(r.Context(), p.actor(), req.ID, filename, body, airlock.FileOptions{Pseudonymise: columns})
			if err != nil {
				part.Close()
				return fail(s.uploadError(filename, err, body.err))
			}
			stored++
		}
		part.Close()
	}
	if stored == 0 {
		return fail(model.FieldError("file", "choose at least one file"))
	}
	http.Redirect(w, r, "/airlock/"+url.PathEscape(req.ID), http.StatusSeeOther)
	return nil
}

// inlineTypes are the file types a reviewer's browser shows inline (as
// plain text or an image); anything else is offered as a download.
var inlineTypes = map[string]string{
	"csv": "text/plain; charset=utf-8", "tsv": "text/plain; charset=utf-8", "txt": "text/plain; charset=utf-8",
	"md": "text/plain; charset=utf-8", "log": "text/plain; charset=utf-8", "json": "text/plain; charset=utf-8",
	"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "gif": "image/gif",
}

// sendFile streams a staged file: inline for a reviewer when its type is
// safe to show, else as an attachment. The response is sandboxed.
func sendFile(w http.ResponseWriter, d airlock.Download, inline bool) error {
	defer d.Body.Close()
	h := w.Header()
	ext := ""
	if i := strings.LastIndexByte(d.File.Name, '.'); i >= 0 {
		ext = strings.ToLower(d.File.Name[i+1:])
	}
	disp := "attachment"
	ct, ok := inlineTypes[ext]
	if inline && ok {
		disp = "inline"
	} else {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": d.File.Name}))
	h.Set("Content-Length", strconv.FormatInt(d.File.Size, 10))
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'")
	h.Set("X-Content-SHA256", d.File.SHA256)
	w.WriteHeader(http.StatusOK)
	_, err := io.Copy(w, d.Body)
	return err
}

// airlockContent shows a file's bytes to a reviewer (audited by the
// engine); the page and the API share it.
func (s *server) airlockContent(w http.ResponseWriter, r *http.Request, p *principal) error {
	eng, _, err := s.airlockOn()
	if err != nil {
		return err
	}
	req, _, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	if err := scoped(p, reviewActionOf(req.Direction)); err != nil {
		return err
	}
	d, err := eng.OpenForReview(r.Context(), p.actor(), req.ID, r.PathValue("file"))
	if err != nil {
		return err
	}
	if err := sendFile(w, d, true); err != nil {
		s.log.Warn("sending an airlock file to a reviewer", "request", req.ID, "err", err)
	}
	return nil
}

// download opens a link's file for the signed-in user. A bad or expired
// link is a refusal of the link, not of the session: it must not sign
// the user out.
func (s *server) download(r *http.Request, p *principal, token string) (airlock.Download, error) {
	eng, _, err := s.airlockOn()
	if err != nil {
		return airlock.Download{}, err
	}
	if token == "" {
		return airlock.Download{}, model.FieldError("token", "is required: use the download link of a released file")
	}
	d, err := eng.Download(r.Context(), p.actor(), token)
	if model.CodeOf(err) == model.CodeUnauthenticated {
		return d, &model.Error{Code: model.CodeForbidden, Field: "token", Message: model.AsError(err).Message + "; open the request again for a new link"}
	}
	return d, err
}

func (s *server) airlockDownload(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	d, err := s.download(r, p, r.PostForm.Get("token"))
	if err != nil {
		return err
	}
	if err := sendFile(w, d, false); err != nil {
		s.log.Warn("sending a downloaded airlock file", "file", strconv.Quote(d.File.Name), "err", err)
	}
	return nil
}

// keepFields reads the form's text fields that come before its first file
// into f, so a refused upload's form keeps what was typed.
func keepFields(mr *multipart.Reader, f *view.Form) {
	for range 8 {
		part, err := mr.NextRawPart()
		if err != nil {
			return
		}
		_, params, perr := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
		_, isFile := params["filename"]
		if perr != nil || isFile {
			part.Close()
			return
		}
		if params["name"] == "pseudonymise" {
			if b, err := io.ReadAll(io.LimitReader(part, maxColumnsLen)); err == nil {
				f.Values["pseudonymise"] = string(b)
			}
		}
		part.Close()
	}
}
