package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// nodeBin is the node binary TestMain builds.
var nodeBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sded-clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nodeBin = filepath.Join(dir, "node")
	build := exec.Command("go", "build", "-o", nodeBin, "github.com/sded/sded/test/cluster/node")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the node binary:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one node process.
type proc struct {
	t       testing.TB
	id      string
	dir     string
	bind    string // raft+RPC address
	http    string // control API address
	netns   string // run inside this network namespace if set
	logPath string
	flags   []string // extra flags for every start
	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// freePort picks a free TCP port on ip.
func freePort(t testing.TB, ip string) string {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("finding a free port on %s: %v", ip, err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func newProc(t testing.TB, id, ip, raftPort, httpPort string) *proc {
	dir := filepath.Join(t.TempDir(), id)
	p := &proc{
		t: t, id: id, dir: dir,
		bind:    net.JoinHostPort(ip, raftPort),
		http:    net.JoinHostPort(ip, httpPort),
		logPath: dir + ".log",
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("--- tail of %s log ---\n%s", p.id, b)
		}
	})
	return p
}

// start runs the process with its base flags plus args (e.g. -join).
func (p *proc) start(args ...string) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatalf("%s already running", p.id)
	}
	argv := append([]string{nodeBin, "-data", p.dir, "-id", p.id, "-bind", p.bind, "-http", p.http}, p.flags...)
	argv = append(argv, args...)
	if p.netns != "" {
		argv = append([]string{"ip", "netns", "exec", p.netns}, argv...)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== start %s %v\n", time.Now().Format(time.StampMilli), argv)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("starting %s: %v", p.id, err)
	}
	p.cmd = cmd
	exited := make(chan struct{})
	p.exited = exited
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		p.mu.Unlock()
		close(exited)
	}()
}

// kill sends SIGKILL and waits for the process to exit.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

var httpClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true}}

// apiError is a node's error answer.
type apiError struct {
	Status  int
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message) }

// call makes one control API request; out receives the JSON answer.
func (p *proc) call(ctx context.Context, method, path string, q url.Values, out any) error {
	u := "http://" + p.http + path
	if q != nil {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(body, e) != nil {
			e.Message = strings.TrimSpace(string(body))
		}
		return e
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

func (p *proc) put(ctx context.Context, key, value, rid string) (uint64, error) {
	var out struct{ Index uint64 }
	err := p.call(ctx, http.MethodPost, "/put", url.Values{"key": {key}, "value": {value}, "rid": {rid}}, &out)
	return out.Index, err
}

func (p *proc) get(ctx context.Context, key string, linearizable bool) (string, bool, error) {
	q := url.Values{"key": {key}}
	if linearizable {
		q.Set("lin", "1")
	}
	var out struct {
		Value string
		Found bool
	}
	err := p.call(ctx, http.MethodGet, "/get", q, &out)
	return out.Value, out.Found, err
}

type nodeStatus struct {
	ID           string `json:"id"`
	State        string `json:"state"`
	Term         uint64 `json:"term"`
	CommitIndex  uint64 `json:"commit_index"`
	AppliedIndex uint64 `json:"applied_index"`
}

type clusterStatus struct {
	Self     nodeStatus `json:"self"`
	LeaderID string     `json:"leader_id"`
	Peers    []struct {
		ID        string `json:"id"`
		Voter     bool   `json:"voter"`
		Reachable bool   `json:"reachable"`
	} `json:"peers"`
}

func (p *proc) status(ctx context.Context) (clusterStatus, error) {
	var st clusterStatus
	err := p.call(ctx, http.MethodGet, "/status", nil, &st)
	return st, err
}

func (p *proc) token(ctx context.Context, ttl time.Duration) (string, error) {
	var out struct{ Token string }
	err := p.call(ctx, http.MethodPost, "/token", url.Values{"ttl": {ttl.String()}}, &out)
	return out.Token, err
}

// waitReady waits until the process answers and sees a leader.
func (p *proc) waitReady(t testing.TB, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if !p.running() {
			t.Fatalf("%s exited: %v", p.id, p.exitErr)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		st, err := p.status(ctx)
		cancel()
		if err == nil && st.LeaderID != "" {
			return
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s: %v", p.id, timeout, last)
}

// testCluster is a set of node processes.
type testCluster struct {
	t     testing.TB
	nodes []*proc
}

// loopbackIP gives node i its own 127.0.0.x address.
func loopbackIP(i int) string { return fmt.Sprintf("127.0.0.%d", 20+i) }

// newLoopbackCluster starts n nodes on 127.0.0.x: the first bootstraps, the
// others join it with tokens. flags go to every node at every start.
func newLoopbackCluster(t testing.TB, n int, flags ...string) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	for i := range n {
		ip := loopbackIP(i)
		p := newProc(t, fmt.Sprintf("n%d", i+1), ip, freePort(t, ip), freePort(t, ip))
		p.flags = flags
		c.nodes = append(c.nodes, p)
	}
	c.form()
	return c
}

// form starts the first node and joins the rest.
func (c *testCluster) form() {
	t := c.t
	t.Helper()
	first := c.nodes[0]
	first.start()
	first.waitReady(t, 30*time.Second)
	for _, p := range c.nodes[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		tok, err := first.token(ctx, time.Minute)
		cancel()
		if err != nil {
			t.Fatalf("creating join token: %v", err)
		}
		p.start("-join", first.bind, "-token", tok)
		p.waitReady(t, 30*time.Second)
	}
	c.waitVoters(len(c.nodes), 30*time.Second)
}

// waitVoters waits until the leader reports want reachable voters.
func (c *testCluster) waitVoters(want int, timeout time.Duration) {
	t := c.t
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l := c.leader(); l != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			st, err := l.status(ctx)
			cancel()
			n := 0
			for _, p := range st.Peers {
				if p.Voter && p.Reachable {
					n++
				}
			}
			if err == nil && n == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("cluster did not reach %d reachable voters in %s", want, timeout)
}

// leader returns the running node that says it leads, or nil.
func (c *testCluster) leader() *proc {
	for _, p := range c.nodes {
		if !p.running() {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		st, err := p.status(ctx)
		cancel()
		if err == nil && st.Self.State == "Leader" {
			return p
		}
	}
	return nil
}

// waitLeader waits for a leader among the running nodes.
func (c *testCluster) waitLeader(timeout time.Duration) *proc {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if l := c.leader(); l != nil {
			return l
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("no leader after %s", timeout)
	return nil
}

func (c *testCluster) running() []*proc {
	var out []*proc
	for _, p := range c.nodes {
		if p.running() {
			out = append(out, p)
		}
	}
	return out
}

// isUnavailable reports an error meaning "outcome unknown / no leader".
func isUnavailable(err error) bool {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.Code == "unavailable"
	}
	return err != nil // transport error: the node died or timed out
}
