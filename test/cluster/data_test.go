package clustertest

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitExit waits for a process that should refuse to start.
func (p *proc) waitExit(t *testing.T, timeout time.Duration) string {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		t.Fatalf("%s kept running", p.id)
	}
	p.mu.Lock()
	p.cmd = nil
	p.mu.Unlock()
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// A backup streamed from a follower's process restores into a new node
// process; a node process whose raft log was damaged refuses to start and
// says which file is at fault.
func TestBackupRestoreAndCorruptLogProcesses(t *testing.T) {
	c := newLoopbackCluster(t, 3)
	for i := range 20 {
		if err := putRetrying(c, "k"+string(rune('a'+i)), "v", "bk-"+string(rune('a'+i)), time.Now().Add(10*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	l := c.waitLeader(10 * time.Second)
	var follower *proc
	for _, p := range c.nodes {
		if p != l {
			follower = p
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+follower.http+"/backup", nil)
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("backup: %s %s", resp.Status, body)
	}
	backup := filepath.Join(t.TempDir(), "cluster.sded")
	os.WriteFile(backup, body, 0o600)

	// Restore into a fresh node.
	ip := loopbackIP(9)
	r := newProc(t, "restored", ip, freePort(t, ip), freePort(t, ip))
	r.start("-restore", backup)
	r.waitReady(t, 30*time.Second)
	for i := range 20 {
		v, found, err := r.get(ctx, "k"+string(rune('a'+i)), true)
		if err != nil || !found || v != "v" {
			t.Fatalf("restored node: k%c = %q found=%v err=%v", 'a'+i, v, found, err)
		}
	}
	if _, err := r.put(ctx, "after", "restore", "after-restore"); err != nil {
		t.Fatalf("write on the restored cluster: %v", err)
	}

	// A truncated backup is refused by a fresh node, which exits.
	trunc := filepath.Join(t.TempDir(), "trunc.sded")
	os.WriteFile(trunc, body[:len(body)/2], 0o600)
	bad := newProc(t, "badrestore", loopbackIP(8), freePort(t, loopbackIP(8)), freePort(t, loopbackIP(8)))
	bad.start("-restore", trunc)
	if log := bad.waitExit(t, 30*time.Second); !strings.Contains(log, "corrupt or truncated") {
		t.Errorf("truncated backup: log does not say why:\n%s", log)
	}

	// Damage the follower's raft log: it must refuse to start.
	follower.kill()
	path := filepath.Join(follower.dir, "raft", "raft.db")
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	fi, _ := f.Stat()
	junk := []byte(strings.Repeat("\xba\xad\xf0\x0d", 1024))
	for off := int64(8192); off < fi.Size(); off += int64(len(junk)) {
		f.WriteAt(junk, off)
	}
	f.Close()
	follower.start()
	log := follower.waitExit(t, 30*time.Second)
	if !strings.Contains(log, "corrupt data") || !strings.Contains(log, "raft.db") {
		t.Errorf("corrupt log: the node did not say why it refused to start:\n%s", log[max(0, len(log)-2000):])
	}
	// The other two carry on.
	if err := putRetrying(c, "still", "ok", "still-ok", time.Now().Add(10*time.Second)); err != nil {
		t.Errorf("majority after one node refused to start: %v", err)
	}
}
