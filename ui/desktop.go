package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/ui/rfb"
	"github.com/sded/sded/ui/view"
)

func (s *server) desktopPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	ws, err := s.svc.GetWorkstation(r.Context(), p.actor(), r.PathValue("id"))
	if err != nil {
		return err
	}
	pr, err := s.svc.GetProject(r.Context(), p.actor(), ws.ProjectID)
	if err != nil {
		return err
	}
	d := view.Desktop{WorkstationID: ws.ID, Name: ws.Name, NoVNC: s.novnc, Paste: pr.Tier <= pasteMaxTier}
	var scripts []string
	if s.novnc {
		scripts = []string{"/static/desktop.js"}
	}
	return render(w, r, http.StatusOK, view.DesktopPage(s.layout(r, p, "Desktop: "+ws.Name, scripts...), d))
}

// maxDesktopMessage bounds one websocket message from the browser (a paste).
const maxDesktopMessage = 2 << 20

// desktopSocket authorises a desktop session through the service (which
// audits it), dials the workstation's console and runs the clipboard-filtering
// RFB proxy between the browser's websocket and the console until either
// side ends, the desktop idles out or the server shuts down.
func (s *server) desktopSocket(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx, a, id := r.Context(), p.actor(), r.PathValue("id")
	if !sameOrigin(r) {
		return errCrossOrigin
	}
	grant, err := s.svc.OpenDesktop(ctx, a, id, remote(r))
	if err != nil {
		return err
	}
	start := time.Now()
	closeReason := "console unavailable"
	defer func() {
		if err := s.svc.CloseDesktop(context.WithoutCancel(ctx), a, grant, time.Since(start), closeReason); err != nil {
			s.log.Error("auditing desktop close", "workstation", id, "err", err)
		}
	}()
	console, err := s.desktop.DialConsole(ctx, id)
	if err != nil {
		s.log.Warn("dialling console", "workstation", id, "err", err)
		return &model.Error{Code: model.CodeUnavailable, Message: "the workstation's console is not reachable; is it running?"}
	}
	// Accept checks that the Origin matches the Host: a cross-origin page
	// cannot open a desktop with the user's cookie.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"binary"}})
	if err != nil {
		console.Close()
		closeReason = "websocket refused"
		s.log.Warn("desktop websocket", "workstation", id, "err", err)
		return nil // Accept has written the response
	}
	c.SetReadLimit(maxDesktopMessage)
	pctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go s.watchSession(pctx, cancel, p.token)
	nc := websocket.NetConn(pctx, c, websocket.MessageBinary)
	st, err := rfb.Proxy(pctx, nc, console, rfb.Policy{AllowPaste: grant.AllowPaste, IdleTimeout: s.cfg.DesktopIdleTimeout})
	switch {
	case errors.Is(context.Cause(pctx), errSessionEnded):
		closeReason = "session ended"
		c.Close(websocket.StatusPolicyViolation, "session ended")
	case errors.Is(err, rfb.ErrIdle):
		closeReason = "idle timeout"
		c.Close(websocket.StatusPolicyViolation, "idle timeout")
	case err != nil && ctx.Err() == nil:
		closeReason = "protocol error: " + err.Error()
		c.Close(websocket.StatusPolicyViolation, "desktop protocol error")
	default:
		closeReason = "closed"
	}
	s.log.Info("desktop session ended", "workstation", id, "actor", a.String(), "duration", time.Since(start),
		"reason", closeReason, "dropped_copy_out", st.DroppedServerCutText, "dropped_paste", st.DroppedClientCutText,
		"pasted", st.ForwardedClientCutText, "bytes_to_browser", st.BytesToClient)
	return nil
}

// sameOrigin reports whether a websocket request comes from a page of this
// server (or from a client that sends no Origin, which no browser does).
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Scheme == "https" && strings.EqualFold(u.Host, r.Host)
}

// errSessionEnded ends a desktop whose login session is gone.
var errSessionEnded = errors.New("login session ended")

// watchSession ends the desktop (through cancel) once the login session that
// opened it ends — logout, expiry, or the user being disabled — checking
// every Config.DesktopSessionCheck.
func (s *server) watchSession(ctx context.Context, cancel context.CancelCauseFunc, token string) {
	t := time.NewTicker(s.cfg.DesktopSessionCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, _, err := s.svc.Authenticate(ctx, token); err != nil && model.CodeOf(err) == model.CodeUnauthenticated {
				cancel(errSessionEnded)
				return
			}
		}
	}
}
