package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sded/sded/cluster/model"
)

// resultMark starts the lines a command typed into the guest writes to the
// serial console (/dev/ttyS0) for the test to read from the serial log.
const resultMark = "SDED-PROBE-RESULT "

// bootstrap is typed first at every desktop (slowly: it needs Shift, and a
// Shift release lost in the guest's small keyboard queue turns the rest of
// a line into capitals). It defines three shell functions so that whatever
// is typed afterwards needs no Shift at all:
//
//	k N         reports the exit status of the previous command as ack.N
//	w HEX N     stores a line of hex as /tmp/h.N, reports its md5 as w.N
//	x FILE N    joins /tmp/h.*, un-hexes and gunzips them into FILE,
//	            reports its md5 as x.N
//	c           removes /tmp/h.* (what a failed transfer left)
var bootstrap = []string{
	`k() { echo "SDED-PROBE-RESULT ack.$1=$?" >/dev/ttyS0; }`,
	`w() { echo $1 >/tmp/h.$2; echo "SDED-PROBE-RESULT w.$2=$(md5sum </tmp/h.$2 | cut -c1-32)" >/dev/ttyS0; }`,
	`x() { cat /tmp/h.* | xxd -r -p | gunzip >$1; rm -f /tmp/h.*; echo "SDED-PROBE-RESULT x.$2=$(md5sum <$1 | cut -c1-32)" >/dev/ttyS0; }`,
	`c() { rm -f /tmp/h.*; }`,
}

// desktop is a researcher at a workstation's console: the VNC desktop is
// opened (the RFB handshake proves the console a researcher uses is there),
// commands are typed into the serial console's shell (lossless, unlike VNC
// key events under TCG: see serialConsole), results come back on the serial
// log. The browser desktop itself is tested in test/browser.
type desktop struct {
	t      testing.TB
	name   string
	kb     keyboard
	serial string
	seq    int
	h      *host
	dom    string
}

// openDesktop waits until the workstation's guest has booted to its shell,
// connects to its VNC console and types the bootstrap functions.
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
	vnc, err := dialRFB(h.path(sock))
	if err != nil {
		t.Fatalf("desktop of %s: %v", w.Name, err)
	}
	t.Cleanup(func() { vnc.Close() })
	tty := strings.TrimSpace(h.mustVirsh("ttyconsole", dom))
	kb, err := dialSerial(h.path(tty))
	if err != nil {
		t.Fatalf("console of %s: %v", w.Name, err)
	}
	t.Cleanup(func() { kb.Close() })
	dt := &desktop{t: t, name: w.Name, kb: kb, serial: serial, h: h, dom: dom}
	time.Sleep(time.Second) // the shell starts a moment after the boot report
	for attempt := 1; attempt <= 5; attempt++ {
		if err = dt.typeBootstrap(); err == nil {
			return dt
		}
		t.Logf("%s: bootstrap attempt %d: %v", w.Name, attempt, err)
	}
	dt.screenshot()
	t.Fatalf("desktop of %s: could not type the bootstrap functions: %v", w.Name, err)
	return nil
}

func (dt *desktop) typeBootstrap() error {
	if rfb, ok := dt.kb.(*rfbKeyboard); ok {
		fast := rfb.Delay
		rfb.Delay = 4 * fast
		defer func() { rfb.Delay = fast }()
	}
	_ = dt.kb.Interrupt()
	for _, l := range bootstrap {
		if err := dt.kb.Type(l + "\n"); err != nil {
			return err
		}
	}
	if rc, err := dt.once("false", 8*time.Second); err != nil || rc != 1 {
		return fmt.Errorf("k does not answer (rc %d): %v", rc, err)
	}
	// A tiny file proves w and x.
	f := filepath.Join("/tmp", "boot"+randHex(2))
	if err := dt.sendOnce(f, "ok\n"); err != nil {
		return err
	}
	return nil
}

// screenshot saves the VGA console (what the researcher sees) beside the
// test's files and logs where, to show why a typed command did not answer.
func (dt *desktop) screenshot() {
	p := filepath.Join(dt.h.dir, fmt.Sprintf("%s-%d.png", dt.name, dt.seq))
	if _, err := dt.h.virsh("screenshot", dt.dom, "--file", p); err != nil {
		dt.t.Logf("screenshot of %s: %v", dt.name, err)
		return
	}
	dt.t.Logf("screenshot of %s's desktop: %s (kept with SDED_E2E_KEEP=1)", dt.name, p)
}

// results parses every result line in the serial log; the last value of a
// key wins.
func (dt *desktop) results() map[string]string {
	b, _ := os.ReadFile(dt.serial)
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
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

// await waits for a result key.
func (dt *desktop) await(key string, timeout time.Duration) (string, bool) {
	end := time.Now().Add(timeout)
	for {
		if v, ok := dt.results()[key]; ok {
			return v, true
		}
		if time.Now().After(end) {
			return "", false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// once types cmd (which should need no Shift) followed by `; k N` and
// waits for the report of its exit status.
func (dt *desktop) once(cmd string, timeout time.Duration) (int, error) {
	dt.seq++
	key := fmt.Sprintf("ack.%d", dt.seq)
	if err := dt.kb.Type(fmt.Sprintf("%s; k %d\n", cmd, dt.seq)); err != nil {
		return -1, err
	}
	v, ok := dt.await(key, timeout)
	if !ok {
		return -1, fmt.Errorf("%s: typed %q, no answer within %s", dt.name, cmd, timeout)
	}
	var rc int
	if _, err := fmt.Sscan(v, &rc); err != nil {
		return -1, fmt.Errorf("%s: %q answered %q", dt.name, cmd, v)
	}
	return rc, nil
}

// run types cmd and fails the test unless it answers with exit status 0.
// A command that does not answer at all (a key was lost) is typed again once
// when retry is set: for commands that may run twice.
func (dt *desktop) run(cmd string, timeout time.Duration, retry bool) {
	dt.t.Helper()
	rc, err := dt.once(cmd, timeout)
	if err != nil && retry {
		dt.t.Logf("%v; typing it again", err)
		_ = dt.kb.Interrupt()
		rc, err = dt.once(cmd, timeout)
	}
	if err != nil {
		dt.screenshot()
		dt.t.Fatal(err)
	}
	if rc != 0 {
		dt.t.Fatalf("%s: %q exited %d", dt.name, cmd, rc)
	}
}

// sendFile types a file into the guest: gzipped, in hex lines (no Shift),
// each line checked on arrival and typed again if a key was lost, the whole
// file checked at the end.
func (dt *desktop) sendFile(path, content string) {
	dt.t.Helper()
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		if err = dt.sendOnce(path, content); err == nil {
			return
		}
		dt.t.Logf("%s: sending %s, attempt %d: %v", dt.name, path, attempt, err)
		_ = dt.kb.Interrupt()
	}
	dt.screenshot()
	dt.t.Fatalf("%s: could not send %s: %v", dt.name, path, err)
}

func (dt *desktop) sendOnce(path, content string) error {
	if rc, err := dt.once("c", 8*time.Second); err != nil || rc != 0 {
		return fmt.Errorf("clearing earlier transfers (rc %d): %v", rc, err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write([]byte(content))
	zw.Close()
	hx := hex.EncodeToString(gz.Bytes())
	const width = 96
	for off := 0; off < len(hx); off += width {
		chunk := hx[off:min(off+width, len(hx))]
		sum := md5.Sum([]byte(chunk + "\n"))
		want := hex.EncodeToString(sum[:])
		dt.seq++
		n := fmt.Sprintf("%06d", dt.seq)
		ok := false
		for try := 0; try < 4 && !ok; try++ {
			if try > 0 {
				_ = dt.kb.Interrupt()
			}
			if err := dt.kb.Type("w " + chunk + " " + n + "\n"); err != nil {
				return err
			}
			got, arrived := dt.await("w."+n, 10*time.Second)
			ok = arrived && got == want
		}
		if !ok {
			return fmt.Errorf("line %s of %s did not arrive intact", n, path)
		}
	}
	dt.seq++
	sum := md5.Sum([]byte(content))
	if err := dt.kb.Type(fmt.Sprintf("x %s %d\n", path, dt.seq)); err != nil {
		return err
	}
	got, ok := dt.await(fmt.Sprintf("x.%d", dt.seq), 15*time.Second)
	if want := hex.EncodeToString(sum[:]); !ok || got != want {
		return fmt.Errorf("%s arrived with md5 %q, want %s", path, got, want)
	}
	return nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
