package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/sded/sded/cluster/auditlog"
	"github.com/sded/sded/cluster/model"
)

// forwardAudit sends the audit log to the configured syslog collector while
// this node leads the cluster, so each event is sent once per collector
// (at least once: a new leader resumes from its own cursor and may repeat
// the events since its last send).
func (d *daemon) forwardAudit(ctx context.Context) {
	if d.cfg.Audit.Syslog == "" {
		return
	}
	fwd, err := auditlog.New(auditlog.Config{
		URL: d.cfg.Audit.Syslog, Hostname: d.node.ID(), Logger: d.log.With(slog.String("component", "syslog")),
		CursorFile: filepath.Join(d.cfg.Node.DataDir, "state", "syslog-cursor"),
		Source: func(_ context.Context, after uint64, limit int) ([]model.AuditEvent, error) {
			return d.store.AuditEvents(after+1, limit)
		},
	})
	if err != nil {
		d.log.Error("audit forwarding disabled", slog.Any("err", err))
		return
	}
	var cancel context.CancelFunc
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		leader := d.node.IsLeader()
		switch {
		case leader && cancel == nil:
			var fctx context.Context
			fctx, cancel = context.WithCancel(ctx)
			go fwd.Run(fctx)
		case !leader && cancel != nil:
			cancel()
			cancel = nil
		case leader:
			fwd.Kick()
		}
		select {
		case <-ctx.Done():
			if cancel != nil {
				cancel()
			}
			return
		case <-t.C:
		}
	}
}
