package hypervisor

import (
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary play a virtiofsd (see fakeVirtiofsd).
func TestMain(m *testing.M) {
	if sock := os.Getenv("SDED_FAKE_VIRTIOFSD"); sock != "" {
		l, err := net.Listen("unix", sock)
		if err != nil {
			os.Exit(3)
		}
		defer l.Close()
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// fakeVirtiofsd runs a process named virtiofsd listening on sock, as the
// virtiofsd libvirt starts for a share does.
func fakeVirtiofsd(t *testing.T, sock string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "virtiofsd")
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(out, in)
	in.Close()
	out.Close()
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "SDED_FAKE_VIRTIOFSD="+sock)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 100 {
		if _, err := os.Stat(sock); err == nil {
			return cmd
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fake virtiofsd did not listen on %s", sock)
	return nil
}

// A virtiofsd left over by a libvirtd that died mid-start is stopped before
// the domain starts again; another domain's is left alone.
func TestReapVirtiofsd(t *testing.T) {
	dir := t.TempDir()
	name := "sded-0123456789abcdef0123456789abcdef" // short name: its first 20 bytes
	mine := fakeVirtiofsd(t, filepath.Join(dir, "domain-7-"+name[:20], "fs0-fs.sock"))
	other := fakeVirtiofsd(t, filepath.Join(dir, "domain-8-sded-fedcba9876543210fe", "fs0-fs.sock"))
	done := make(chan error, 1)
	go func() { done <- mine.Wait() }()
	log := slog.New(slog.DiscardHandler)
	if n := reapVirtiofsd(log, name); n != 1 {
		t.Fatalf("reaped %d, want 1", n)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the domain's virtiofsd still runs")
	}
	if !alive(other.Process.Pid) {
		t.Fatal("another domain's virtiofsd was stopped")
	}
	if n := reapVirtiofsd(log, "sded-nothing"); n != 0 {
		t.Fatalf("reaped %d for a domain without one", n)
	}
}
