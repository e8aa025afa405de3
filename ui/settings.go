package ui

import (
	"errors"
	"net/http"
	"strings"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/view"
)

// breakGlassSetting, when "true", lets admins open any project's desktop;
// every such session is audited as break-glass. It is the key
// cluster.BreakGlassSetting names.
const breakGlassSetting = "desktop.break_glass"

func (s *server) settingsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v := view.Settings{}
	set, err := s.svc.Setting(r.Context(), p.actor(), breakGlassSetting)
	switch {
	case err == nil:
		v.BreakGlass = set.Value == "true"
		v.ChangedBy, v.ChangedAt = set.UpdatedBy, stamp(set.UpdatedAt)
	case errors.Is(err, model.ErrNotFound):
	default:
		return err
	}
	return render(w, r, http.StatusOK, view.SettingsPage(s.layout(r, p, "Settings"), v))
}

func (s *server) breakGlassSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := r.ParseForm(); err != nil {
		return formError(err)
	}
	var value string
	switch r.PostForm.Get("break_glass") {
	case "on":
		value = "true"
	case "off":
		value = "false"
	default:
		return model.FieldError("break_glass", "must be on or off")
	}
	if _, err := s.svc.PutSetting(r.Context(), p.actor(), breakGlassSetting, value); err != nil {
		return err
	}
	http.Redirect(w, r, "/admin/settings", http.StatusSeeOther)
	return nil
}

func (s *server) apiSetting(w http.ResponseWriter, r *http.Request, p *principal) error {
	set, err := s.svc.Setting(r.Context(), p.actor(), r.PathValue("key"))
	if err != nil {
		return err
	}
	return ok(w, set)
}

func (s *server) apiSettingPut(w http.ResponseWriter, r *http.Request, p *principal) error {
	var body struct {
		Value string `json:"value"`
	}
	if err := decodeJSON(r, &body); err != nil {
		return err
	}
	set, err := s.svc.PutSetting(r.Context(), p.actor(), r.PathValue("key"), strings.TrimSpace(body.Value))
	if err != nil {
		return err
	}
	return ok(w, set)
}
