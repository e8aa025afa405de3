package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/cluster/fsm"
	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/cluster/state"
)

// testNode is a real Node (real TLS, raft, bbolt) in this process.
type testNode struct {
	*Node
	dir   string
	cfg   Config
	store *state.Store

	mu     sync.Mutex
	denied []string
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// newConfig prepares a data directory and config for node id (store opened).
func newConfig(t testing.TB, id string) *testNode {
	t.Helper()
	dir := filepath.Join(t.TempDir(), id)
	tn := &testNode{dir: dir}
	tn.cfg = Config{DataDir: dir, NodeID: id, BindAddr: freeAddr(t), Logger: testLogger(t)}
	tn.cfg.OnAccessDenied = func(remote, reason string) {
		tn.mu.Lock()
		tn.denied = append(tn.denied, reason)
		tn.mu.Unlock()
	}
	tn.openStore(t)
	return tn
}

func (tn *testNode) openStore(t testing.TB) {
	t.Helper()
	if err := os.MkdirAll(tn.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	st, err := state.Open(filepath.Join(tn.dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	tn.store = st
	tn.cfg.Store = st
	tn.cfg.FSM = fsm.NewBatching(fsm.New(st, tn.cfg.Logger, nil))
}

// close stops the node and its store.
func (tn *testNode) close() {
	if tn.Node != nil {
		tn.Node.Close()
		tn.Node = nil
	}
	if tn.store != nil {
		tn.store.Close()
		tn.store = nil
	}
}

func (tn *testNode) deniedReasons() []string {
	tn.mu.Lock()
	defer tn.mu.Unlock()
	return append([]string(nil), tn.denied...)
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// openNode bootstraps or resumes a node.
func openNode(t testing.TB, id string) *testNode {
	t.Helper()
	tn := newConfig(t, id)
	n, err := Open(ctxT(t, 20*time.Second), tn.cfg)
	if err != nil {
		t.Fatalf("opening %s: %v", id, err)
	}
	tn.Node = n
	t.Cleanup(tn.close)
	ensureAdmin(t, n)
	return tn
}

// adminActor is the admin user ensureAdmin creates; settings need an admin.
var adminActor = model.Actor{UserID: "admin"}

// ensureAdmin creates the first admin through the system-actor bootstrap path.
func ensureAdmin(t testing.TB, n *Node) {
	t.Helper()
	res, err := n.Propose(ctxT(t, 10*time.Second), createUser("admin", true, model.Actor{NodeID: n.ID()}))
	if err != nil {
		t.Fatal(err)
	}
	if res.Err != nil && res.Err.Code != model.CodeAlreadyExists && res.Err.Code != model.CodeForbidden {
		t.Fatalf("creating admin: %v", res.Err)
	}
}

func createUser(id string, admin bool, actor model.Actor) model.Command {
	cmd, err := model.NewCommand(model.CmdCreateUser, nextReqID(), actor, time.Now(),
		model.CreateUser{ID: id, Username: id, DisplayName: "User " + id, Admin: admin})
	if err != nil {
		panic(err)
	}
	return cmd
}

// joinNode joins a new node via leader.
func joinNode(t testing.TB, via *testNode, id string) *testNode {
	t.Helper()
	tok, err := via.CreateJoinToken(ctxT(t, 5*time.Second), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	tn := newConfig(t, id)
	n, err := Join(ctxT(t, 20*time.Second), via.Addr(), tok, tn.cfg)
	if err != nil {
		t.Fatalf("joining %s: %v", id, err)
	}
	tn.Node = n
	t.Cleanup(tn.close)
	return tn
}

// threeNodes forms a three-node cluster; the first node leads.
func threeNodes(t testing.TB) []*testNode {
	t.Helper()
	a := openNode(t, "a")
	b := joinNode(t, a, "b")
	c := joinNode(t, a, "c")
	return []*testNode{a, b, c}
}

var reqSeq struct {
	sync.Mutex
	n int
}

func nextReqID() string {
	reqSeq.Lock()
	reqSeq.n++
	n := reqSeq.n
	reqSeq.Unlock()
	return "req-" + time.Now().Format("150405.000000") + "-" + itoa(n)
}

func putSetting(key, value string, actor model.Actor) model.Command {
	cmd, err := model.NewCommand(model.CmdPutSetting, nextReqID(), actor, time.Now(),
		model.PutSetting{Key: key, Value: value})
	if err != nil {
		panic(err)
	}
	return cmd
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// mustPut proposes a setting through n and fails on any error.
func mustPut(t testing.TB, n *Node, key, value string) fsm.Result {
	t.Helper()
	res, err := n.Propose(ctxT(t, 10*time.Second), putSetting(key, value, adminActor))
	if err != nil {
		t.Fatalf("proposing %s=%s on %s: %v", key, value, n.ID(), err)
	}
	if res.Err != nil {
		t.Fatalf("proposing %s=%s on %s: FSM said %v", key, value, n.ID(), res.Err)
	}
	return res
}

// setting reads a setting from the local replica; "" if absent.
func setting(t testing.TB, st *state.Store, key string) string {
	t.Helper()
	s, err := st.GetSetting(key)
	if errors.Is(err, model.ErrNotFound) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return s.Value
}
