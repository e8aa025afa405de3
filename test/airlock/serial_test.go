package airlocktest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
	"github.com/sded/sded/test/guest"
)

// serialShell types at the test guest's serial console (ttyS0, where it
// runs a root shell beside the one on the VGA console) and reads the output
// from the domain's serial log. QEMU reads the pty only as fast as the
// guest's UART takes characters, so nothing typed is lost, unlike key
// events on the VNC console (QEMU's PS/2 queue holds 16 scancodes and drops
// keys under TCG load). The same approach as test/e2e's serial keyboard.
type serialShell struct {
	t      *testing.T
	domain string
	f      *os.File
	serial string // the serial log
	n      int
}

// openSerialShell waits for the guest's shell prompt on the serial console,
// opens the console's pty (`virsh ttyconsole`) in raw mode and checks that
// the shell answers.
func openSerialShell(t *testing.T, w model.Workstation) *serialShell {
	t.Helper()
	dom := "sded-" + w.ID
	x, err := exec.Command("virsh", "dumpxml", dom).Output()
	if err != nil {
		t.Fatalf("virsh dumpxml %s: %v", dom, err)
	}
	sm := serialLogRE.FindSubmatch(x)
	if sm == nil {
		t.Fatalf("domain %s has no serial log:\n%s", dom, x)
	}
	s := &serialShell{t: t, domain: dom, serial: string(sm[1])}
	s.wait("sded-guest:/# ", 3*time.Minute)
	out, err := exec.Command("virsh", "ttyconsole", dom).Output()
	if err != nil {
		t.Fatalf("virsh ttyconsole %s: %v", dom, err)
	}
	pty := strings.TrimSpace(string(out))
	s.f, err = guest.OpenSerial(pty)
	if err != nil {
		t.Fatalf("%s: %v", dom, err)
	}
	f := s.f
	t.Cleanup(func() { f.Close() })
	s.sync()
	return s
}

// typeLine types one line. The markers the tests wait for are typed with
// ” inside (E2E”-END-3), so the shell's echo of the typed line never
// matches them; only the command's output does.
func (s *serialShell) typeLine(line string) {
	s.t.Helper()
	for _, r := range line {
		if r < 0x20 || r >= 0x7f {
			s.t.Fatalf("cannot type %q at the serial console", r)
		}
	}
	if _, err := s.f.WriteString(line + "\r"); err != nil {
		s.t.Fatalf("typing at %s's serial console: %v", s.domain, err)
	}
}

// sync types a marker until the shell echoes it as output: the prompt can
// appear a moment before the shell reads its input.
func (s *serialShell) sync() {
	s.t.Helper()
	for i := 1; i <= 10; i++ {
		s.typeLine(fmt.Sprintf("echo E2E''-SYNC-%d", i))
		for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			if strings.Contains(s.log(), fmt.Sprintf("E2E-SYNC-%d\n", i)) {
				return
			}
		}
	}
	s.t.Fatalf("the serial shell of %s never answered; its log:\n%s", s.domain, tail(s.log(), 2000))
}

func (s *serialShell) log() string {
	b, _ := os.ReadFile(s.serial)
	return strings.ReplaceAll(string(b), "\r", "")
}

func (s *serialShell) wait(want string, d time.Duration) string {
	s.t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(300 * time.Millisecond) {
		if l := s.log(); strings.Contains(l, want) {
			return l
		}
	}
	s.t.Fatalf("%q did not appear on %s's serial console; it shows:\n%s", want, s.domain, tail(s.log(), 3000))
	return ""
}

// run types a shell command and returns its output (stdout and stderr).
func (s *serialShell) run(cmd string) string {
	s.t.Helper()
	s.n++
	begin, end := fmt.Sprintf("E2E-BEGIN-%d", s.n), fmt.Sprintf("E2E-END-%d", s.n)
	s.typeLine(fmt.Sprintf("{ echo E2E''-BEGIN-%d; %s; echo; echo E2E''-END-%d; } 2>&1", s.n, cmd, s.n))
	l := s.wait(end+"\n", 2*time.Minute)
	i := strings.LastIndex(l, begin+"\n")
	j := strings.LastIndex(l, end+"\n")
	if i < 0 || j < i {
		s.t.Fatalf("markers out of order in:\n%s", tail(l, 2000))
	}
	return l[i+len(begin)+1 : j]
}
