// Command node is a minimal sded cluster member for the multi-process fault
// tests and benchmarks in test/cluster: the real cluster.Node, fsm and state
// behind a small plain-HTTP control API on a test-only address.
//
//	node -data DIR -bind IP:PORT -http IP:PORT [-id ID] [-join ADDR -token TOKEN]
//	     [-restore FILE] [-snapshot-threshold N]
//
// Control API (loopback or a test network namespace only):
//
//	POST /put?key=K&value=V&rid=R   propose CmdPutSetting; 200 {"index":N} or {"code","message"}
//	GET  /get?key=K[&lin=1]         read a setting (after a Barrier with lin=1)
//	GET  /status                    cluster.Status
//	POST /token?ttl=D               create a join token
//	POST /remove?id=ID              remove a node
//	GET  /backup                    stream a backup
//	GET  /debug/pprof/...           Go profiles (for profiling the benchmarks)
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sded/sded/cluster"
	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		dataDir   = flag.String("data", "", "data directory")
		id        = flag.String("id", "", "node ID")
		bind      = flag.String("bind", "", "raft+RPC address")
		httpAddr  = flag.String("http", "", "control API address")
		joinAddr  = flag.String("join", "", "join the cluster via this address")
		token     = flag.String("token", "", "join token")
		restore   = flag.String("restore", "", "restore this backup file into the fresh data directory")
		snapEvery = flag.Uint64("snapshot-threshold", 0, "take a raft snapshot after this many entries, checked every 200 ms (0: cluster defaults)")
	)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	st, err := state.Open(filepath.Join(*dataDir, "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := cluster.Config{
		DataDir: *dataDir, NodeID: *id, BindAddr: *bind, Logger: logger,
		FSM: fsm.NewBatching(fsm.New(st, logger, nil)), Store: st,
		OnAccessDenied: func(remote, reason string) {
			logger.Warn("ACCESS DENIED", "remote", remote, "reason", reason)
		},
	}
	if *snapEvery > 0 {
		cfg.Timing.SnapshotThreshold = *snapEvery
		cfg.Timing.SnapshotInterval = 200 * time.Millisecond
	}
	octx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var n *cluster.Node
	switch {
	case *restore != "":
		n, err = cluster.Restore(octx, *restore, cfg)
	case *joinAddr != "":
		n, err = cluster.Join(octx, *joinAddr, *token, cfg)
	default:
		n, err = cluster.Open(octx, cfg)
	}
	if err != nil {
		return err
	}
	defer n.Close()
	if err := ensureAdmin(octx, n); err != nil {
		return err
	}

	srv := &http.Server{Addr: *httpAddr, Handler: handler(n, logger), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	logger.Info("node ready", "id", n.ID(), "http", *httpAddr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func handler(n *cluster.Node, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /put", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cmd, err := model.NewCommand(model.CmdPutSetting, q.Get("rid"), admin, time.Now(),
			model.PutSetting{Key: q.Get("key"), Value: q.Get("value")})
		if err != nil {
			writeErr(w, err)
			return
		}
		res, err := n.Propose(r.Context(), cmd)
		if err != nil {
			writeErr(w, err)
			return
		}
		if res.Err != nil {
			writeErr(w, res.Err)
			return
		}
		writeJSON(w, map[string]uint64{"index": res.Index})
	})
	mux.HandleFunc("GET /get", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("lin") == "1" {
			if err := n.Barrier(r.Context()); err != nil {
				writeErr(w, err)
				return
			}
		}
		found := true
		s, err := n.Store().GetSetting(q.Get("key"))
		if errors.Is(err, model.ErrNotFound) {
			found, err = false, nil
		}
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, map[string]any{"value": s.Value, "found": found})
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		st, err := n.Status(r.Context())
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		ttl, err := time.ParseDuration(r.URL.Query().Get("ttl"))
		if err != nil {
			writeErr(w, &model.Error{Code: model.CodeInvalid, Message: err.Error()})
			return
		}
		t, err := n.CreateJoinToken(r.Context(), ttl)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, map[string]string{"token": t})
	})
	mux.HandleFunc("POST /remove", func(w http.ResponseWriter, r *http.Request) {
		if err := n.RemoveNode(r.Context(), r.URL.Query().Get("id")); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, map[string]string{})
	})
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		if err := n.Backup(r.Context(), w); err != nil {
			logger.Error("backup", "err", err)
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	return mux
}

// admin is the user the control API acts as; settings are admin-only.
var admin = model.Actor{UserID: "admin"}

// ensureAdmin creates the admin through the system-actor bootstrap path; an
// existing admin is fine.
func ensureAdmin(ctx context.Context, n *cluster.Node) error {
	cmd, err := model.NewCommand(model.CmdCreateUser, "bootstrap-admin", model.Actor{NodeID: n.ID()}, time.Now(),
		model.CreateUser{ID: "admin", Username: "admin", DisplayName: "Admin", Admin: true})
	if err != nil {
		return err
	}
	res, err := n.Propose(ctx, cmd)
	if err != nil {
		return fmt.Errorf("creating admin: %w", err)
	}
	if res.Err != nil && res.Err.Code != model.CodeAlreadyExists && res.Err.Code != model.CodeForbidden {
		return fmt.Errorf("creating admin: %w", res.Err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, err error) {
	me := model.AsError(err)
	status := http.StatusConflict
	if me.Code == model.CodeUnavailable {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(me)
}
