package cluster

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A backup taken on a follower restores into a fresh one-node cluster with
// every write; damaged files are refused and change nothing.
func TestBackupRestore(t *testing.T) {
	nodes := threeNodes(t)
	a, b := nodes[0], nodes[1]
	for i := range 20 {
		mustPut(t, a.Node, "k"+itoa(i), strings.Repeat("v", i))
	}
	mustPut(t, a.Node, "last", "written-on-leader")
	var buf bytes.Buffer
	if err := b.Backup(ctxT(t, 10*time.Second), &buf); err != nil {
		t.Fatal(err)
	}
	// A second backup with nothing new in between still works.
	var buf2 bytes.Buffer
	if err := b.Backup(ctxT(t, 10*time.Second), &buf2); err != nil {
		t.Fatalf("second backup: %v", err)
	}
	good := filepath.Join(t.TempDir(), "backup.sded")
	if err := os.WriteFile(good, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	damaged := map[string][]byte{
		"truncated body":     buf.Bytes()[:buf.Len()/2],
		"missing checksum":   buf.Bytes()[:buf.Len()-10],
		"flipped byte":       flip(buf.Bytes(), buf.Len()-100),
		"not a backup":       []byte("hello world, this is not a backup"),
		"empty":              nil,
		"trailing garbage":   append(append([]byte{}, buf.Bytes()...), 'x'),
		"header length huge": append(append([]byte{}, backupMagic...), 0xff, 0xff, 0xff, 0xff),
	}
	for name, content := range damaged {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.sded")
			os.WriteFile(path, content, 0o600)
			tn := newConfig(t, "r")
			t.Cleanup(tn.close)
			_, err := Restore(ctxT(t, 10*time.Second), path, tn.cfg)
			if !errors.Is(err, ErrBadBackup) {
				t.Fatalf("got %v, want ErrBadBackup", err)
			}
			if fresh, _ := isFresh(filepath.Join(tn.dir, "raft")); !fresh {
				t.Error("a refused restore left raft state behind")
			}
		})
	}

	r := newConfig(t, "restored")
	t.Cleanup(r.close)
	n, err := Restore(ctxT(t, 20*time.Second), good, r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.Node = n
	if err := n.Barrier(ctxT(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := setting(t, r.store, "last"); got != "written-on-leader" {
		t.Errorf("restored last = %q", got)
	}
	if got := setting(t, r.store, "k19"); got != strings.Repeat("v", 19) {
		t.Errorf("restored k19 = %q", got)
	}
	mustPut(t, n, "after-restore", "ok")
	// The restored node is a new cluster of one that others can join.
	joinNode(t, r, "r2")

	// Restoring over existing state is refused.
	if _, err := Restore(ctxT(t, 5*time.Second), good, a.cfg); err == nil {
		t.Error("restore over a live data directory was accepted")
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x55
	return c
}
