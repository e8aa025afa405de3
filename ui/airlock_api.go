package ui

import (
	"net/http"
	"strings"

	"github.com/sded/sded/cluster/airlock"
	"github.com/sded/sded/cluster/model"
)

// airlockJSON is a request in an API list: the request without its
// disclosure record (GET /api/v1/airlock/{id} has it), what it waits for,
// and the caller's next step.
type airlockJSON struct {
	model.AirlockRequest
	Waiting string `json:"waiting"`
	ForMe   string `json:"for_me,omitempty"`
}

func toJSON(items []airlockItem) []airlockJSON {
	out := make([]airlockJSON, 0, len(items))
	for _, it := range items {
		r := it.req
		r.DisclosureRecord = nil
		out = append(out, airlockJSON{AirlockRequest: r, Waiting: waiting(it.req), ForMe: it.viewer.outstanding(it.req)})
	}
	return out
}

func (s *server) apiAirlockOutstanding(w http.ResponseWriter, r *http.Request, p *principal) error {
	outstanding, mine, _, err := s.airlockOverview(r, p)
	if err != nil {
		return err
	}
	return ok(w, map[string]any{"outstanding": toJSON(outstanding), "mine": toJSON(mine)})
}

func (s *server) apiAirlockList(w http.ResponseWriter, r *http.Request, p *principal) error {
	_, dir, err := s.airlockOn()
	if err != nil {
		return err
	}
	pr, err := s.svc.GetProject(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	reqs, err := dir.AirlockRequests(r.Context(), p.actor(), pr.ID)
	if err != nil {
		return err
	}
	v := s.airlockViewer(r.Context(), p, pr)
	items := make([]airlockItem, 0, len(reqs))
	for _, req := range reqs {
		items = append(items, airlockItem{req, pr, v})
	}
	sortItems(items, false)
	return ok(w, toJSON(items))
}

func (s *server) apiAirlockCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Title   string `json:"title"`
		Context string `json:"context"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	req, err := s.airlockCreateImport(r.Context(), p, r.PathValue("id"), in.Title, in.Context)
	if err != nil {
		return err
	}
	return created(w, req)
}

func (s *server) apiAirlockGet(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, _, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	return ok(w, req)
}

// apiAirlockUpload streams the request body into one file of an import;
// ?pseudonymise=col1,col2 names CSV columns to pseudonymise.
func (s *server) apiAirlockUpload(w http.ResponseWriter, r *http.Request, p *principal) error {
	eng, _, err := s.airlockOn()
	if err != nil {
		return err
	}
	req, _, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	if req.Direction != model.AirlockImport {
		return errExportUpload
	}
	if r.ContentLength > s.cfg.AirlockMaxUpload {
		return s.uploadError("", &http.MaxBytesError{Limit: s.cfg.AirlockMaxUpload}, nil)
	}
	cols := r.URL.Query().Get("pseudonymise")
	if len(cols) > maxColumnsLen {
		return model.FieldError("pseudonymise", "is longer than %d characters", maxColumnsLen)
	}
	name := r.PathValue("file")
	body := &watchedReader{r: r.Body}
	out, err := eng.AddFile(r.Context(), p.actor(), req.ID, name, body, airlock.FileOptions{Pseudonymise: splitColumns(cols)})
	if err != nil {
		return s.uploadError(name, err, body.err)
	}
	return ok(w, out)
}

// decodeOptionalJSON decodes a JSON body when there is one.
func decodeOptionalJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 && r.Header.Get("Content-Type") == "" {
		return nil
	}
	return decodeJSON(r, v)
}

func (s *server) apiAirlockSubmit(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, _, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	var in struct {
		Context            string `json:"context"`
		DisclosureControls string `json:"disclosure_controls"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	out, err := s.airlockSubmitReq(r.Context(), p, req, in.Context, in.DisclosureControls)
	if err != nil {
		return err
	}
	return ok(w, out)
}

func (s *server) apiAirlockComment(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, _, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	out, err := s.airlockCommentReq(r.Context(), p, req, in.Text)
	if err != nil {
		return err
	}
	return created(w, out)
}

func (s *server) apiAirlockVote(w http.ResponseWriter, r *http.Request, p *principal) error {
	req, _, err := s.loadAirlock(r, p)
	if err != nil {
		return err
	}
	var in struct {
		File     string `json:"file"`
		Decision string `json:"decision"`
		Reason   string `json:"reason"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	out, err := s.airlockVoteReq(r.Context(), p, req, in.File, in.Decision, in.Reason)
	if err != nil {
		return err
	}
	return ok(w, out)
}

func (s *server) apiAirlockMove(to model.AirlockState) func(http.ResponseWriter, *http.Request, *principal) error {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		req, _, err := s.loadAirlock(r, p)
		if err != nil {
			return err
		}
		var in struct {
			Reason string `json:"reason"`
		}
		if err := decodeOptionalJSON(r, &in); err != nil {
			return err
		}
		out, err := s.airlockMoveReq(r.Context(), p, req, to, in.Reason)
		if err != nil {
			return err
		}
		return ok(w, out)
	}
}

func (s *server) apiAirlockFile(w http.ResponseWriter, r *http.Request, p *principal) error {
	eng, _, err := s.airlockOn()
	if err != nil {
		return err
	}
	fv, err := eng.View(r.Context(), p.actor(), r.PathValue("id"), r.PathValue("file"))
	if err != nil {
		return err
	}
	return ok(w, fv)
}

func (s *server) apiAirlockLink(w http.ResponseWriter, r *http.Request, p *principal) error {
	eng, _, err := s.airlockOn()
	if err != nil {
		return err
	}
	l, err := eng.Link(r.Context(), p.actor(), r.PathValue("id"), r.PathValue("file"))
	if err != nil {
		return err
	}
	return created(w, l)
}

// apiAirlockDownload takes the link's token in a JSON body (never in the
// URL) and streams the file.
func (s *server) apiAirlockDownload(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in struct {
		Token string `json:"token"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	d, err := s.download(r, p, strings.TrimSpace(in.Token))
	if err != nil {
		return err
	}
	if err := sendFile(w, d, false); err != nil {
		s.log.Warn("sending a downloaded airlock file", "err", err)
	}
	return nil
}
