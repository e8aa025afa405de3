// Package auditlog forwards the replicated audit log live to a syslog
// collector as RFC 5424 messages over TCP or TLS, with octet-counting framing
// (RFC 6587). It reads from the local replica and keeps its position in a
// local cursor file, so a restart resumes where it stopped; delivery is at
// least once (an event whose write was cut off is sent again).
package auditlog

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sded/sded/cluster/model"
)

// Source reads audit events with a sequence number above after, oldest
// first, at most limit of them.
type Source func(ctx context.Context, after uint64, limit int) ([]model.AuditEvent, error)

// Forwarder sends audit events to one collector.
type Forwarder struct {
	target   *url.URL
	tls      *tls.Config
	hostname string
	cursor   string // file holding the last forwarded sequence number
	source   Source
	log      *slog.Logger
	kick     chan struct{}
	poll     time.Duration
}

// Config configures a Forwarder.
type Config struct {
	URL        string      // tcp://HOST:PORT or tls://HOST:PORT
	TLS        *tls.Config // for tls://; nil means system roots
	Hostname   string      // the HOSTNAME field; the node ID
	CursorFile string
	Source     Source
	Logger     *slog.Logger
	Poll       time.Duration // how often to look for new events without a kick; default 1s
}

// New checks cfg and returns a Forwarder.
func New(cfg Config) (*Forwarder, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "tcp" && u.Scheme != "tls") || u.Port() == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("syslog target %q: want tcp://HOST:PORT or tls://HOST:PORT", cfg.URL)
	}
	if cfg.Source == nil || cfg.CursorFile == "" {
		return nil, errors.New("syslog forwarder needs a source and a cursor file")
	}
	t := cfg.TLS
	if u.Scheme == "tls" && t == nil {
		t = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if t != nil && t.ServerName == "" {
		t = t.Clone()
		t.ServerName = u.Hostname()
	}
	poll := cfg.Poll
	if poll == 0 {
		poll = time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Forwarder{target: u, tls: t, hostname: cfg.Hostname, cursor: cfg.CursorFile, source: cfg.Source,
		log: log, kick: make(chan struct{}, 1), poll: poll}, nil
}

// Kick tells the forwarder that new events may be there.
func (f *Forwarder) Kick() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// Run forwards until ctx ends, reconnecting with backoff when the collector
// is unreachable.
func (f *Forwarder) Run(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		err := f.session(ctx)
		if ctx.Err() != nil {
			break
		}
		f.log.Warn("syslog forwarding interrupted", slog.String("target", f.target.Host), slog.Any("err", err), slog.Duration("retry_in", backoff))
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	return nil
}

// session holds one connection and forwards until an error.
func (f *Forwarder) session(ctx context.Context) error {
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	if f.target.Scheme == "tls" {
		conn, err = (&tls.Dialer{NetDialer: &d, Config: f.tls}).DialContext(ctx, "tcp", f.target.Host)
	} else {
		conn, err = d.DialContext(ctx, "tcp", f.target.Host)
	}
	if err != nil {
		return fmt.Errorf("connecting to syslog collector %s: %w", f.target.Host, err)
	}
	defer conn.Close()
	f.log.Info("syslog forwarding connected", slog.String("target", f.target.Host))
	w := bufio.NewWriter(conn)
	for {
		after, err := f.readCursor()
		if err != nil {
			return err
		}
		events, err := f.source(ctx, after, 256)
		if err != nil {
			return fmt.Errorf("reading audit events after %d: %w", after, err)
		}
		for _, e := range events {
			msg := Format(e, f.hostname)
			fmt.Fprintf(w, "%d %s", len(msg), msg)
		}
		if len(events) > 0 {
			_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := w.Flush(); err != nil {
				return fmt.Errorf("writing to syslog collector: %w", err)
			}
			if err := f.writeCursor(events[len(events)-1].Seq); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-f.kick:
		case <-time.After(f.poll):
		}
	}
}

func (f *Forwarder) readCursor() (uint64, error) {
	b, err := os.ReadFile(f.cursor)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading syslog cursor: %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("syslog cursor %s is corrupt (%q): remove it to resend the whole log", f.cursor, b)
	}
	return n, nil
}

func (f *Forwarder) writeCursor(seq uint64) error {
	if err := os.MkdirAll(filepath.Dir(f.cursor), 0o700); err != nil {
		return fmt.Errorf("writing syslog cursor: %w", err)
	}
	tmp := f.cursor + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing syslog cursor: %w", err)
	}
	if err := os.Rename(tmp, f.cursor); err != nil {
		return fmt.Errorf("writing syslog cursor: %w", err)
	}
	return nil
}

// Severity per outcome: denied attempts are warnings, failures errors.
func severity(o model.Outcome) int {
	switch o {
	case model.OutcomeDenied:
		return 4
	case model.OutcomeFailure:
		return 3
	default:
		return 6
	}
}

// facility 13 is "log audit".
const facility = 13

// enterprise number used for sded's structured-data ID (the "example" number
// of RFC 5612 until sded has its own private enterprise number).
const sdID = "sded@32473"

// Format renders e as an RFC 5424 message: a structured-data element with the
// key fields, and the event's JSON as the message.
func Format(e model.AuditEvent, hostname string) []byte {
	if hostname == "" {
		hostname = "-"
	}
	body, _ := json.Marshal(e)
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s sded - %s [%s seq=\"%d\" actor=\"%s\" action=\"%s\" outcome=\"%s\"",
		facility*8+severity(e.Outcome), e.Time.UTC().Format(time.RFC3339Nano), header(hostname, 255),
		header(e.Action, 32), sdID, e.Seq, sdParam(e.Actor.String()), sdParam(e.Action), sdParam(string(e.Outcome)))
	if e.Object != "" {
		fmt.Fprintf(&b, " object=\"%s\"", sdParam(e.Object))
	}
	if e.ProjectID != "" {
		fmt.Fprintf(&b, " project=\"%s\"", sdParam(e.ProjectID))
	}
	fmt.Fprintf(&b, " hash=\"%s\"] ", sdParam(e.Hash))
	b.Write(body)
	return []byte(b.String())
}

// header makes s a valid header field: printable US-ASCII, no spaces, at most n.
func header(s string, n int) string {
	out := []byte{}
	for i := 0; i < len(s) && len(out) < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// sdParam escapes a structured-data parameter value (RFC 5424 §6.3.3).
func sdParam(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`)
	return r.Replace(s)
}
