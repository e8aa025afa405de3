package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/reconcile"
	"github.com/sded/sded/hypervisor"
	"github.com/sded/sded/ui"
)

var (
	_ ui.Service          = (*cluster.Service)(nil)
	_ ui.ProjectScheduler = (*cluster.Service)(nil)
	_ ui.DesktopDialer    = consoleDialer{}
)

// consoleDialer opens a workstation's VNC console for the desktop proxy.
type consoleDialer struct{ hv *hypervisor.Driver }

func (c consoleDialer) DialConsole(ctx context.Context, workstationID string) (net.Conn, error) {
	return c.hv.OpenConsole(ctx, reconcile.DomainName(workstationID))
}

// serveUI starts the management web interface over HTTPS, with a
// self-signed certificate made at first start when none is configured.
func (d *daemon) serveUI(ctx context.Context) (func(), error) {
	certFile, keyFile := d.cfg.UI.TLSCert, d.cfg.UI.TLSKey
	if certFile == "" {
		dir := filepath.Join(d.cfg.Node.DataDir, "ui-tls")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating %s: %w", dir, err)
		}
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		host, _, _ := net.SplitHostPort(d.cfg.UI.Listen)
		hosts := []string{"localhost", "127.0.0.1", "::1"}
		if host != "" && host != "0.0.0.0" && host != "::" {
			hosts = append([]string{host}, hosts...)
		}
		if h, err := os.Hostname(); err == nil {
			hosts = append(hosts, h)
		}
		made, err := ui.EnsureSelfSigned(certFile, keyFile, hosts)
		if err != nil {
			return nil, fmt.Errorf("creating the UI's self-signed certificate: %w", err)
		}
		if made {
			d.log.Warn("created a self-signed certificate for the UI; install a real one (docs/ui.md)", slog.String("cert", certFile))
		}
	}
	// The web UI registers images only from this directory (by file name);
	// without it the images page says so and the rest of the UI works.
	if err := os.MkdirAll(d.cfg.Storage.ImageImportDir, 0o700); err != nil {
		d.log.Warn("cannot create the image import directory: the web UI cannot register images",
			slog.String("image_import_dir", d.cfg.Storage.ImageImportDir), slog.Any("err", err))
	}
	tlsCfg, err := ui.TLSConfig(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading the UI certificate (ui.tls_cert, ui.tls_key): %w", err)
	}
	h := ui.New(ui.Config{DesktopIdleTimeout: d.cfg.UI.DesktopIdleTimeout, Version: version, Health: d.nodeHealth,
		// One upload request may carry a file of the largest size and its form.
		Airlock: d.airlock, AirlockMaxUpload: d.cfg.Airlock.MaxFileSize + 1<<20,
		Images: uiImages{d: d, dir: importDir(d.cfg.Storage.ImageImportDir)}},
		d.svc, consoleDialer{d.hv}, d.log.With(slog.String("component", "ui")))
	ln, err := net.Listen("tcp", d.cfg.UI.Listen)
	if err != nil {
		return nil, fmt.Errorf("listening for the UI on %s (ui.listen): %w", d.cfg.UI.Listen, err)
	}
	uctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := ui.ServeListener(uctx, ln, tlsCfg, h, d.log.With(slog.String("component", "ui"))); err != nil {
			d.log.Error("UI stopped", slog.Any("err", err))
		}
	}()
	return func() { cancel(); <-done }, nil
}

// nodeHealth reports the cluster's live view of its nodes for the UI.
func (d *daemon) nodeHealth(ctx context.Context) ([]ui.NodeHealth, error) {
	st, err := d.node.Status(ctx)
	if err != nil {
		return nil, err
	}
	var out []ui.NodeHealth
	for _, p := range st.Peers {
		h := ui.NodeHealth{ID: p.ID, Leader: p.Leader, Healthy: p.Reachable, Detail: p.Err}
		if h.Detail == "" && p.Status != nil {
			h.Detail = fmt.Sprintf("%s, term %d, applied %d", p.Status.State, p.Status.Term, p.Status.AppliedIndex)
		}
		out = append(out, h)
	}
	return out, nil
}
