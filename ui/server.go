package ui

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// Config tunes the UI server.
type Config struct {
	// MaxBodyBytes bounds request bodies; zero means 1 MiB.
	MaxBodyBytes int64
	// DesktopIdleTimeout disconnects a desktop without input for this long;
	// zero means 30 minutes.
	DesktopIdleTimeout time.Duration
	// DesktopSessionCheck is how often an open desktop checks that the login
	// session which opened it still exists (logout, expiry or disabling the
	// user end the desktop too); zero means 30 seconds.
	DesktopSessionCheck time.Duration
	// Version is shown in the page footer.
	Version string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Health, if set, reports the cluster's live view of its nodes (leader,
	// reachability) for the nodes page and /api/v1/nodes; without it they
	// show only what the state records.
	Health func(ctx context.Context) ([]NodeHealth, error)
	// Airlock, if set, serves the airlock pages and /api/v1/airlock (the
	// engine, *airlock.Engine); without it those routes answer 503.
	Airlock Airlock
	// AirlockDirectory reads airlock requests (*cluster.Service); nil means
	// the Service passed to New, when it implements AirlockDirectory.
	AirlockDirectory AirlockDirectory
	// Images, if set, registers and deletes base images from the node's
	// import directory (the images page's form, POST /api/v1/images);
	// without it those routes answer 503 and the page only lists images.
	Images Images
	// AirlockMaxUpload bounds the body of one airlock upload (a browser's
	// multipart form or an API PUT); zero means 1 GiB.
	AirlockMaxUpload int64
}

func (c Config) withDefaults() Config {
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.DesktopIdleTimeout <= 0 {
		c.DesktopIdleTimeout = 30 * time.Minute
	}
	if c.DesktopSessionCheck <= 0 {
		c.DesktopSessionCheck = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.AirlockMaxUpload <= 0 {
		c.AirlockMaxUpload = 1 << 30
	}
	return c
}

// server holds the UI's dependencies.
type server struct {
	cfg     Config
	svc     Service
	desktop DesktopDialer
	log     *slog.Logger
	novnc   bool // the noVNC client is embedded
	// airlockDir reads airlock requests (Config.AirlockDirectory or svc).
	airlockDir AirlockDirectory
	// scheduler sets project schedules (svc, when it can); nil leaves
	// schedules read-only.
	scheduler ProjectScheduler
	// namer names project members for non-admins (svc, when it can).
	namer MemberNamer
}

// New returns the UI's HTTP handler: pages, the JSON API under /api/v1, the
// desktop websocket and static files. Serve it over TLS only (TLSConfig).
func New(cfg Config, svc Service, desktop DesktopDialer, logger *slog.Logger) http.Handler {
	s := &server{cfg: cfg.withDefaults(), svc: svc, desktop: desktop, log: logger, novnc: novncPresent()}
	s.airlockDir = resolveAirlockDirectory(cfg, svc)
	s.scheduler, _ = svc.(ProjectScheduler)
	s.namer, _ = svc.(MemberNamer)
	if s.cfg.Airlock != nil && s.airlockDir == nil {
		logger.Warn("the airlock engine is configured but nothing reads airlock requests: set ui.Config.AirlockDirectory")
	}
	if !s.novnc {
		logger.Warn("noVNC is not embedded: the browser desktop is unavailable; run ui/assets/fetch.sh (make deps) and rebuild")
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	mux.Handle("GET /static/", staticHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errNotFound)
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errCrossOrigin)
	}))
	return securityHeaders(cop.Handler(mux))
}

// csp allows only the server's own scripts, styles and images (plus data:
// images for the TOTP QR code) and websocket connections back to it.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
		next.ServeHTTP(w, r)
	})
}
