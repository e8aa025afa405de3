package airlock

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
)

// Link is a signed download link's token and when it stops working.
type Link struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// claims is what a link token carries: which file of which request, for
// whom, which bytes, until when.
type claims struct {
	Request string `json:"r"`
	File    string `json:"f"`
	User    string `json:"u"`
	SHA256  string `json:"h"`
	Expires int64  `json:"e"` // unix seconds
}

const maxTokenLen = 2048

// Link returns a download link for one file of a released export, for its
// requester only (the state's policy: no one else may download). The token
// is an HMAC-SHA256-signed claim with an expiry; it is a credential, so it
// is never logged or audited.
func (e *Engine) Link(ctx context.Context, actor model.Actor, requestID, file string) (Link, error) {
	r, err := e.load(ctx, actor, model.ActAirlockDownload, requestID)
	if err != nil {
		return Link{}, err
	}
	if err := e.authorize(ctx, actor, model.ActAirlockDownload, r); err != nil {
		return Link{}, err
	}
	if r.CreatedBy != actor.UserID {
		return Link{}, model.Errorf(model.CodeForbidden, "only the requester may download")
	}
	if r.Direction != model.AirlockExport || r.State != model.AirlockReleased {
		return Link{}, model.Errorf(model.CodeConflict, "only a released export can be downloaded; this %s request is %s", r.Direction, r.State)
	}
	f, ok := r.File(file)
	if !ok {
		return Link{}, model.Errorf(model.CodeNotFound, "file %s is not in request %s", quote(file), r.ID)
	}
	exp := e.now().Add(e.cfg.LinkTTL).Truncate(time.Second)
	c := claims{Request: r.ID, File: f.Name, User: actor.UserID, SHA256: f.SHA256, Expires: exp.Unix()}
	b, err := json.Marshal(c)
	if err != nil {
		return Link{}, err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return Link{Token: payload + "." + base64.RawURLEncoding.EncodeToString(e.sign(payload)), Expires: exp}, nil
}

func (e *Engine) sign(payload string) []byte {
	m := hmac.New(sha256.New, e.cfg.LinkKey)
	m.Write([]byte("sded airlock link v1\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// verify checks a token's signature and returns its claims (expiry is the
// caller's business, so that an expired link can be audited by user).
func (e *Engine) verify(token string) (claims, error) {
	bad := model.Errorf(model.CodeUnauthenticated, "the download link is not valid")
	if len(token) > maxTokenLen {
		return claims{}, bad
	}
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return claims{}, bad
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, e.sign(payload)) {
		return claims{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return claims{}, bad
	}
	var c claims
	if err := json.Unmarshal(b, &c); err != nil {
		return claims{}, bad
	}
	return c, nil
}

// Download is a file being downloaded.
type Download struct {
	File model.AirlockFile
	Body io.ReadCloser
}

// Download opens the file a link names. The link must verify and not have
// expired; the request must still be released (a revoked export cannot be
// fetched) and the link's user must still be allowed to download it. When
// actor is not zero it must be the link's user (a logged-in session). Every
// attempt is audited (airlock.file_download: success, denied or failure).
func (e *Engine) Download(ctx context.Context, actor model.Actor, token string) (Download, error) {
	c, err := e.verify(token)
	if err != nil {
		e.audit(ctx, model.Actor{}, "access.denied", model.OutcomeDenied, model.AirlockRequest{}, "", map[string]string{"action": "airlock.download", "error": err.Error()})
		return Download{}, err
	}
	user := model.Actor{UserID: c.User}
	r := model.AirlockRequest{ID: c.Request}
	deny := func(code model.ErrorCode, format string, args ...any) (Download, error) {
		err := model.Errorf(code, format, args...)
		e.audit(ctx, user, "airlock.file_download", model.OutcomeDenied, r, c.File, map[string]string{"error": err.Error()})
		return Download{}, err
	}
	if actor != (model.Actor{}) && actor.UserID != c.User {
		return deny(model.CodeForbidden, "the download link belongs to someone else")
	}
	if e.now().Unix() >= c.Expires {
		return deny(model.CodeUnauthenticated, "the download link expired at %s", time.Unix(c.Expires, 0).UTC().Format(time.RFC3339))
	}
	r, err = e.cfg.Requests.Airlock(ctx, user, c.Request)
	if err != nil {
		r = model.AirlockRequest{ID: c.Request}
		return deny(model.CodeOf(err), "%s", model.AsError(err).Message)
	}
	if err := e.authorize(ctx, user, model.ActAirlockDownload, r); err != nil {
		return Download{}, err
	}
	if r.CreatedBy != c.User || r.Direction != model.AirlockExport || r.State != model.AirlockReleased {
		return deny(model.CodeConflict, "request %s is %s: nothing can be downloaded", r.ID, r.State)
	}
	f, ok := r.File(c.File)
	if !ok || f.SHA256 != c.SHA256 {
		return deny(model.CodeNotFound, "file %s is not in request %s", quote(c.File), r.ID)
	}
	sf, err := e.stagedFile(r, f.Name)
	if err != nil {
		e.audit(ctx, user, "airlock.file_download", model.OutcomeFailure, r, f.Name, map[string]string{"error": err.Error()})
		return Download{}, err
	}
	staging, _, err := e.cfg.Keys.AirlockKeys(ctx, r.ProjectID)
	if err != nil {
		return Download{}, err
	}
	rc, err := e.opener(r.ProjectID, staging, sf)(ctx)
	if err != nil {
		e.audit(ctx, user, "airlock.file_download", model.OutcomeFailure, r, f.Name, map[string]string{"error": err.Error()})
		return Download{}, err
	}
	if err := e.cfg.Requests.RecordAudit(ctx, user, model.RecordAudit{Action: "airlock.file_download", Object: "airlock/" + r.ID,
		ProjectID: r.ProjectID, Outcome: model.OutcomeSuccess,
		Details: map[string]string{"file": quote(f.Name), "sha256": f.SHA256, "size": strconv.FormatInt(f.Size, 10)}}); err != nil {
		rc.Close()
		return Download{}, err // no download without its audit record
	}
	e.log.InfoContext(ctx, "airlock file downloaded", slog.String("request", r.ID), slog.String("file", quote(f.Name)), slog.String("user", c.User))
	return Download{File: f, Body: rc}, nil
}

// audit records an audit-only event; failures are logged.
func (e *Engine) audit(ctx context.Context, actor model.Actor, action string, out model.Outcome, r model.AirlockRequest, file string, details map[string]string) {
	d := map[string]string{}
	for k, v := range details {
		d[k] = truncate(v, model.MaxDetailLen)
	}
	if file != "" {
		d["file"] = quote(file)
	}
	ev := model.RecordAudit{Action: action, Outcome: out, Details: d, ProjectID: r.ProjectID}
	if r.ID != "" && idRE.MatchString(r.ID) {
		ev.Object = "airlock/" + r.ID
	}
	if err := e.recordAudit(ctx, actor, ev); err != nil {
		e.log.ErrorContext(ctx, "recording an airlock audit event", slog.String("action", action), slog.Any("err", err))
	}
}
