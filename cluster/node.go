package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// Config describes a node. DataDir, BindAddr, FSM and Store are required.
type Config struct {
	// DataDir holds raft/ (log store raft.db, snapshots/), tls/ and node-id.
	DataDir string
	// NodeID names the node in the cluster; empty means the ID stored in
	// DataDir/node-id, or a new random one saved there.
	NodeID string
	// BindAddr is the one TCP address for raft and the cluster RPC, e.g.
	// "0.0.0.0:7480".
	BindAddr string
	// AdvertiseAddr is how peers reach this node; empty means BindAddr, which
	// must then name a specific IP.
	AdvertiseAddr string
	// TLSDir holds ca.crt, node.crt, node.key (and ca.key on signing nodes);
	// empty means DataDir/tls.
	TLSDir string
	Logger *slog.Logger
	// FSM is the replicated state machine (fsm.New over Store).
	FSM raft.FSM
	// Store is the FSM's bbolt store; Open reads its applied index.
	Store *state.Store
	// OnAccessDenied, if set, is also called (from a connection goroutine) for
	// every refused cluster connection or join attempt. The node itself logs
	// each one and records it in the audit log (rate-limited, see audit.go).
	OnAccessDenied func(remote, reason string)
	// Timing overrides the LAN defaults (DefaultTiming) when non-zero.
	Timing Timing
}

// Timing holds raft's timers.
type Timing struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	SnapshotInterval   time.Duration
	SnapshotThreshold  uint64
}

// DefaultTiming is tuned for nodes on one LAN: a follower notices a dead leader
// within 0.4–0.8 s and an election takes about as long again, so failover is
// normally well under 2 s. On a slower network raise the first three together.
var DefaultTiming = Timing{
	HeartbeatTimeout:   400 * time.Millisecond,
	ElectionTimeout:    400 * time.Millisecond,
	LeaderLeaseTimeout: 200 * time.Millisecond,
	CommitTimeout:      5 * time.Millisecond,
	SnapshotInterval:   60 * time.Second,
	SnapshotThreshold:  8192,
}

// Node is a running raft node.
type Node struct {
	cfg    Config
	id     string
	logger *slog.Logger
	ident  *identity

	raft    *raft.Raft
	trans   *raft.NetworkTransport
	logs    *raftboltdb.BoltStore
	snaps   *raft.FileSnapshotStore
	mux     *mux
	rpc     *rpcClient
	applied *applied

	auditor     *accessAuditor
	handlers    map[string]rpcHandler
	joinSlots   chan struct{}
	barrierTerm atomic.Uint64 // term in which this leader committed a barrier
	joinMu      sync.Mutex
	tokenStore  *tokenFile

	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
}

// Init prepares a fresh data directory to found a cluster: it resolves the
// node ID (creating DataDir/node-id) and creates the cluster CA and this
// node's certificate in TLSDir. Open on a fresh directory does this itself;
// Init is for `sded init`, which wants to fail if a CA already exists.
func Init(cfg Config) (nodeID string, err error) {
	if err := cfg.fill(); err != nil {
		return "", err
	}
	if err := InitCA(cfg.TLSDir, cfg.NodeID); err != nil {
		return "", err
	}
	return cfg.NodeID, nil
}

// Open starts the node in cfg.DataDir. A fresh data directory with no raft
// state bootstraps a one-node cluster (creating a cluster CA first if TLSDir
// has none), usable as soon as it has elected itself, which Open waits for.
// An existing data directory resumes; a corrupt raft log refuses to start.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	return open(ctx, cfg, true)
}

func open(ctx context.Context, cfg Config, bootstrap bool) (*Node, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if cfg.FSM == nil {
		return nil, errors.New("cluster config: FSM is required")
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating raft directory: %w", err)
	}
	fresh, err := isFresh(raftDir)
	if err != nil {
		return nil, err
	}
	ident, err := loadIdentity(cfg.TLSDir)
	if errors.Is(err, ErrNoCA) && fresh && bootstrap {
		cfg.Logger.Info("creating cluster CA", "dir", cfg.TLSDir)
		if err := InitCA(cfg.TLSDir, cfg.NodeID); err != nil {
			return nil, err
		}
		ident, err = loadIdentity(cfg.TLSDir)
	}
	if err != nil {
		return nil, fmt.Errorf("loading TLS material: %w", err)
	}
	if ident.nodeID() != cfg.NodeID {
		return nil, fmt.Errorf("node certificate in %s is for node %q, but this node is %q", cfg.TLSDir, ident.nodeID(), cfg.NodeID)
	}

	n := &Node{cfg: cfg, id: cfg.NodeID, logger: cfg.Logger, ident: ident}
	n.auditor = newAccessAuditor(n)
	n.handlers = n.rpcHandlers()
	n.joinSlots = make(chan struct{}, maxJoins)
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	if n.logs, err = openLogStore(filepath.Join(raftDir, "raft.db")); err != nil {
		return nil, err
	}
	if n.snaps, err = raft.NewFileSnapshotStoreWithLogger(raftDir, 3, newHCLog(n.logger, "raft-snapshot")); err != nil {
		return nil, fmt.Errorf("opening snapshot store: %w", err)
	}
	if err := n.checkLatestSnapshot(); err != nil {
		return nil, err
	}
	if err := n.listen(); err != nil {
		return nil, err
	}

	if cfg.Store != nil && cfg.Store.Discarded() {
		// See state.Open: the machine went down with unsynced commits; the
		// empty file is rebuilt from the newest snapshot (restored below,
		// since its applied index is behind it) and the log after it.
		n.logger.Warn("state file was open when the machine went down; rebuilding it from the raft snapshot and log",
			"moved_aside", state.UncleanPath(cfg.Store.Path()), "snapshot_index", n.latestSnapshotIndex())
	}
	storeIndex := n.storeAppliedIndex()
	n.applied = newApplied(storeIndex)
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.Logger = newHCLog(n.logger, "raft")
	t := cfg.Timing
	rc.HeartbeatTimeout = t.HeartbeatTimeout
	rc.ElectionTimeout = t.ElectionTimeout
	rc.LeaderLeaseTimeout = t.LeaderLeaseTimeout
	rc.CommitTimeout = t.CommitTimeout
	rc.SnapshotInterval = t.SnapshotInterval
	rc.SnapshotThreshold = t.SnapshotThreshold
	rc.MaxAppendEntries = 256
	rc.BatchApplyCh = true
	// The FSM's bbolt file survives restarts and skips indexes it already
	// applied, so restoring the newest snapshot on start is only needed when
	// the state file is behind it (e.g. it was replaced by a fresh one).
	rc.NoSnapshotRestoreOnStart = storeIndex >= n.latestSnapshotIndex()
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("raft configuration: %w", err)
	}
	hasState, err := raft.HasExistingState(n.logs, n.logs, n.snaps)
	if err != nil {
		return nil, fmt.Errorf("reading raft state: %w", err)
	}
	if !hasState && bootstrap && ident.caKey == nil {
		// Only the node that created the CA may found a cluster; a node that
		// joined but lost its raft state must not start a second one.
		return nil, fmt.Errorf("%s has a certificate from a cluster this node joined but no raft state: remove the data directory and join again", cfg.TLSDir)
	}
	fsm := wrapFSM(cfg.FSM, n.applied, n.storeAppliedIndex)
	if n.raft, err = raft.NewRaft(rc, fsm, n.logs, n.logs, n.snaps, n.trans); err != nil {
		return nil, fmt.Errorf("starting raft: %w", err)
	}
	n.mux.wg.Add(1)
	go n.mux.serve()
	go n.syncNodes()

	switch {
	case !hasState && bootstrap:
		n.logger.Info("bootstrapping a one-node cluster", "node", cfg.NodeID, "addr", cfg.AdvertiseAddr)
		f := n.raft.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(cfg.AdvertiseAddr),
		}}})
		if err := f.Error(); err != nil {
			return nil, fmt.Errorf("bootstrapping cluster: %w", err)
		}
		if err := n.WaitLeader(ctx); err != nil {
			return nil, err
		}
	case hasState:
		n.logger.Info("resuming raft node", "node", cfg.NodeID, "addr", cfg.AdvertiseAddr,
			"last_index", n.raft.LastIndex(), "state_applied_index", storeIndex)
		go n.updateOwnAddress()
	}
	ok = true
	return n, nil
}

// listen opens the port and builds the raft transport and the RPC client.
func (n *Node) listen() error {
	ln, err := net.Listen("tcp", n.cfg.BindAddr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", n.cfg.BindAddr, err)
	}
	adv, err := net.ResolveTCPAddr("tcp", n.cfg.AdvertiseAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("advertise address %q: %w", n.cfg.AdvertiseAddr, err)
	}
	n.mux = &mux{
		ln: ln, advertise: adv, tlsConf: n.ident.serverTLS(), logger: n.logger,
		denied:    n.accessDenied,
		raftConns: make(chan net.Conn),
		handleRPC: n.serveRPC, handleJoin: n.serveJoin,
		closed:  make(chan struct{}),
		pending: make(chan struct{}, 256),
	}
	n.rpc = newRPCClient(n.ident.clientTLS())
	n.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  &streamLayer{m: n.mux, client: n.ident.clientTLS()},
		MaxPool: 5,
		Timeout: 10 * time.Second,
		Logger:  newHCLog(n.logger, "raft-net"),
	})
	return nil
}

// accessDenied audits a refused connection and tells cfg.OnAccessDenied.
func (n *Node) accessDenied(remote, reason string, join bool) {
	n.auditor.record(remote, reason, join)
	if n.cfg.OnAccessDenied != nil {
		n.cfg.OnAccessDenied(remote, reason)
	}
}

// WaitLeader waits until some node, possibly this one, leads: after a restart
// Open returns before an election (a majority may still be down), and a
// daemon can use this to report readiness.
func (n *Node) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for a leader: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Close stops raft and releases the port and files. It does not leave the
// cluster: a restarted node with the same data directory rejoins.
func (n *Node) Close() error {
	var errs []error
	n.once.Do(func() {
		n.handOver()
		n.cancel()
		if n.raft != nil {
			if err := n.raft.Shutdown().Error(); err != nil {
				errs = append(errs, fmt.Errorf("stopping raft: %w", err))
			}
		}
		if n.trans != nil {
			n.trans.Close()
		}
		if n.mux != nil {
			n.mux.close()
		}
		if n.rpc != nil {
			n.rpc.close()
		}
		if n.logs != nil {
			if err := n.logs.Close(); err != nil {
				errs = append(errs, fmt.Errorf("closing raft log: %w", err))
			}
		}
	})
	return errors.Join(errs...)
}

// handOver transfers leadership before a planned stop, so the cluster does
// not wait out an election timeout.
func (n *Node) handOver() {
	if n.raft == nil || n.raft.State() != raft.Leader {
		return
	}
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	voters := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
		}
	}
	if voters < 2 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := wait(ctx, n.raft.LeadershipTransfer()); err != nil {
		n.logger.Warn("leadership transfer before stopping failed", "err", err)
	} else {
		n.logger.Info("handed leadership over before stopping")
	}
}

// ID is this node's ID.
func (n *Node) ID() string { return n.id }

// Addr is the address peers use to reach this node.
func (n *Node) Addr() string { return n.cfg.AdvertiseAddr }

// Store is the local replica of the state.
func (n *Node) Store() *state.Store { return n.cfg.Store }

// IsLeader reports whether this node currently leads.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

func (n *Node) storeAppliedIndex() uint64 {
	if n.cfg.Store == nil {
		return 0
	}
	return n.cfg.Store.AppliedIndex()
}

// checkLatestSnapshot reads the newest snapshot through its checksum: the log
// before it is gone, so a node whose newest snapshot is damaged cannot be trusted.
func (n *Node) checkLatestSnapshot() error {
	l, err := n.snaps.List()
	if err != nil {
		return fmt.Errorf("listing snapshots: %w", err)
	}
	if len(l) == 0 {
		return nil
	}
	_, rc, err := n.snaps.Open(l[0].ID)
	if err != nil {
		return fmt.Errorf("%w: snapshot %s: %v (restore this node from a backup or remove its data directory and join it again)", ErrCorrupt, l[0].ID, err)
	}
	return rc.Close()
}

func (n *Node) latestSnapshotIndex() uint64 {
	l, err := n.snaps.List()
	if err != nil || len(l) == 0 {
		return 0
	}
	return l[0].Index
}

// validNodeID accepts what the model accepts as an actor's node ID.
func validNodeID(id string) error {
	if !model.ValidID(id) {
		return fmt.Errorf("node ID %q: want 1-64 characters of a-z, 0-9, '-' or '_', starting with a letter or digit", id)
	}
	return nil
}

// fill checks cfg and applies defaults.
func (c *Config) fill() error {
	if c.DataDir == "" {
		return errors.New("cluster config: DataDir is required")
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	if c.TLSDir == "" {
		c.TLSDir = filepath.Join(c.DataDir, "tls")
	}
	if c.NodeID == "" {
		id, err := loadNodeID(c.DataDir)
		if err != nil {
			return err
		}
		c.NodeID = id
	}
	if err := validNodeID(c.NodeID); err != nil {
		return err
	}
	if c.BindAddr == "" {
		return errors.New("cluster config: BindAddr is required")
	}
	if c.AdvertiseAddr == "" {
		host, _, err := net.SplitHostPort(c.BindAddr)
		if err != nil {
			return fmt.Errorf("cluster config: BindAddr %q: %w", c.BindAddr, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			return fmt.Errorf("cluster config: BindAddr %q has no specific IP; set AdvertiseAddr", c.BindAddr)
		}
		c.AdvertiseAddr = c.BindAddr
	}
	d := DefaultTiming
	t := &c.Timing
	for _, p := range []struct{ v, def *time.Duration }{
		{&t.HeartbeatTimeout, &d.HeartbeatTimeout}, {&t.ElectionTimeout, &d.ElectionTimeout},
		{&t.LeaderLeaseTimeout, &d.LeaderLeaseTimeout}, {&t.CommitTimeout, &d.CommitTimeout},
		{&t.SnapshotInterval, &d.SnapshotInterval},
	} {
		if *p.v == 0 {
			*p.v = *p.def
		}
	}
	if t.SnapshotThreshold == 0 {
		t.SnapshotThreshold = d.SnapshotThreshold
	}
	return nil
}

// loadNodeID reads DataDir/node-id or creates it with a random ID.
func loadNodeID(dir string) (string, error) {
	p := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(p)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading node ID: %w", err)
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	host, _ := os.Hostname()
	id := "node-" + hex.EncodeToString(r[:])
	if h := strings.ToLower(strings.Split(host, ".")[0]); validNodeID(h) == nil && len(h) <= 40 {
		id = h + "-" + hex.EncodeToString(r[:3])
	}
	if err := writeFileAtomic(p, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// isFresh reports whether the raft directory holds no log and no snapshot.
func isFresh(raftDir string) (bool, error) {
	for _, p := range []string{"raft.db", "snapshots"} {
		_, err := os.Stat(filepath.Join(raftDir, p))
		if err == nil {
			return false, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("inspecting raft directory: %w", err)
		}
	}
	return true, nil
}
