package e2e

import (
	"bufio"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// resultMark starts the lines a command typed into the guest writes to the
// serial console (/dev/ttyS0) for the test to read from the serial log.
const resultMark = "SDED-PROBE-RESULT "

// desktop is a researcher at a workstation's desktop: keys go in through
// the VNC console, results come back on the serial log.
type desktop struct {
	t      testing.TB
	name   string
	kb     *rfbKeyboard
	serial string
	seq    int
}

// openDesktop waits until the workstation's guest has booted to its shell
// and connects to its VNC console.
func openDesktop(t testing.TB, h *host, d *daemon, w model.Workstation) *desktop {
	t.Helper()
	dom := "sded-" + w.ID
	serial := d.serialLog(w)
	waitFor(t, 120*time.Second, "the guest of "+w.Name+" to boot", func() error {
		b, _ := os.ReadFile(serial)
		if !strings.Contains(string(b), "SDED-PROBE-END") {
			return fmt.Errorf("no boot report yet; serial log:\n%s", lastLines(string(b), 15))
		}
		return nil
	})
	disp := strings.TrimSpace(h.mustVirsh("domdisplay", dom))
	sock, ok := strings.CutPrefix(disp, "vnc+unix://")
	if !ok {
		t.Fatalf("domain %s display %q: want a VNC unix socket", dom, disp)
	}
	kb, err := dialRFB(h.path(sock))
	if err != nil {
		t.Fatalf("desktop of %s: %v", w.Name, err)
	}
	t.Cleanup(func() { kb.Close() })
	dt := &desktop{t: t, name: w.Name, kb: kb, serial: serial}
	// The shell appears a moment after the boot report; poke it until a
	// command comes back.
	var last error
	for range 10 {
		if _, last = dt.try("true", 6*time.Second); last == nil {
			return dt
		}
	}
	t.Fatalf("desktop of %s: no shell answers: %v", w.Name, last)
	return nil
}

// results parses every result line in the serial log; the last value of a
// key wins.
func (dt *desktop) results() map[string]string {
	b, _ := os.ReadFile(dt.serial)
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		i := strings.Index(line, resultMark)
		if i < 0 {
			continue
		}
		k, v, ok := strings.Cut(line[i+len(resultMark):], "=")
		if ok {
			out[k] = v
		}
	}
	return out
}

// try types cmd followed by a report of its exit status and waits for that
// report. It returns the exit status.
func (dt *desktop) try(cmd string, timeout time.Duration) (int, error) {
	dt.seq++
	key := fmt.Sprintf("ack.%d", dt.seq)
	line := fmt.Sprintf("%s; echo \"%s%s=$?\" >/dev/ttyS0\n", cmd, resultMark, key)
	if err := dt.kb.Type(line); err != nil {
		return -1, err
	}
	end := time.Now().Add(timeout)
	for time.Now().Before(end) {
		if v, ok := dt.results()[key]; ok {
			return strconv.Atoi(v)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return -1, fmt.Errorf("%s: typed %q, no answer within %s", dt.name, cmd, timeout)
}

// run types cmd, fails the test unless it answers with exit status 0.
func (dt *desktop) run(cmd string, timeout time.Duration) {
	dt.t.Helper()
	rc, err := dt.try(cmd, timeout)
	if err != nil {
		dt.t.Fatal(err)
	}
	if rc != 0 {
		dt.t.Fatalf("%s: %q exited %d", dt.name, cmd, rc)
	}
}

// writeFile types a file into the guest (as a here-document) and checks
// that it arrived intact (md5), typing it again if a key was lost.
func (dt *desktop) writeFile(path, content string) {
	dt.t.Helper()
	if !strings.HasSuffix(content, "\n") {
		content += "\n"
	}
	sum := md5.Sum([]byte(content))
	want := hex.EncodeToString(sum[:])
	for attempt := 1; attempt <= 3; attempt++ {
		if err := dt.kb.Type("cat >" + path + " <<'SDEDEOF'\n" + content + "SDEDEOF\n"); err != nil {
			dt.t.Fatal(err)
		}
		key := fmt.Sprintf("md5.%d", dt.seq)
		dt.run(fmt.Sprintf("echo \"%s%s=$(md5sum %s | cut -d' ' -f1)\" >/dev/ttyS0", resultMark, key, path), 20*time.Second)
		if got := dt.results()[key]; got == want {
			return
		} else {
			dt.t.Logf("%s: %s arrived garbled (md5 %s, want %s), attempt %d", dt.name, path, got, want, attempt)
		}
		// A broken here-document may still wait for its end marker.
		_ = dt.kb.Type("\nSDEDEOF\n")
		time.Sleep(time.Second)
	}
	dt.t.Fatalf("%s: could not type %s intact", dt.name, path)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
