package state

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/sded/sded/cluster/model"
)

// GenesisHash is the PrevHash of the first audit event.
var GenesisHash = strings.Repeat("0", 64)

// LastAudit returns the newest audit event, or ok=false if there is none.
func (t *Tx) LastAudit() (model.AuditEvent, bool, error) {
	k, v := t.bucket(bAudit).Cursor().Last()
	if k == nil {
		return model.AuditEvent{}, false, nil
	}
	e, err := decode[model.AuditEvent](v)
	return e, err == nil, err
}

// auditTail returns the newest event's Seq and Hash (0 and GenesisHash for
// none). The head recorded with each append has them without decoding the
// event, when it names the newest key; otherwise the event is decoded.
func (t *Tx) auditTail() (uint64, string, error) {
	k, _ := t.bucket(bAudit).Cursor().Last()
	if k == nil {
		return 0, GenesisHash, nil
	}
	if head := t.bucket(bMeta).Get(kAuditHead); len(head) > 8 && len(k) == 8 && readU64(head[:8]) == readU64(k) {
		return readU64(k), string(head[8:]), nil
	}
	last, _, err := t.LastAudit()
	if err != nil {
		return 0, "", err
	}
	return last.Seq, last.Hash, nil
}

// AppendAudit chains e to the log: it sets Seq and PrevHash, computes Hash,
// stores it under the big-endian sequence number and returns the stored event.
// An event that fails validation is refused, and with it the transaction.
func (t *Tx) AppendAudit(e model.AuditEvent) (model.AuditEvent, error) {
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("audit event: %w", err)
	}
	seq, hash, err := t.auditTail()
	if err != nil {
		return e, fmt.Errorf("reading the audit head: %w", err)
	}
	e.Seq, e.PrevHash = seq+1, hash
	e.Time = e.Time.UTC()
	e.Hash = e.ComputeHash()
	if err := put(t, bAudit, u64(e.Seq), e); err != nil {
		return e, fmt.Errorf("writing audit event: %w", err)
	}
	if err := t.bucket(bMeta).Put(kAuditHead, append(u64(e.Seq), e.Hash...)); err != nil {
		return e, fmt.Errorf("writing audit head: %w", err)
	}
	return e, nil
}

// AuditEvents returns up to limit events with Seq ≥ from, oldest first.
func (t *Tx) AuditEvents(from uint64, limit int) ([]model.AuditEvent, error) {
	var out []model.AuditEvent
	c := t.bucket(bAudit).Cursor()
	for k, v := c.Seek(u64(from)); k != nil && len(out) < limit; k, v = c.Next() {
		e, err := decode[model.AuditEvent](v)
		if err != nil {
			return nil, fmt.Errorf("audit entry %d: %w", readU64(k), err)
		}
		out = append(out, e)
	}
	return out, nil
}

// AuditChainError names the first audit entry that fails verification.
type AuditChainError struct {
	Seq    uint64 // sequence number (key) of the bad entry
	Reason string
}

func (e *AuditChainError) Error() string {
	return fmt.Sprintf("audit log is broken at entry %d: %s", e.Seq, e.Reason)
}

// VerifyAudit recomputes the hash chain from the first entry and returns how
// many entries it checked, or an *AuditChainError naming the first entry
// that was altered, inserted, removed or reordered.
func (s *Store) VerifyAudit(ctx context.Context) (int, error) {
	n := 0
	err := s.View(func(tx *Tx) error {
		prev, want := GenesisHash, uint64(1)
		c := tx.bucket(bAudit).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			seq := readU64(k)
			if len(k) != 8 {
				return &AuditChainError{Seq: seq, Reason: fmt.Sprintf("malformed key %x", k)}
			}
			if seq != want {
				return &AuditChainError{Seq: want, Reason: fmt.Sprintf("entry missing (next entry is %d)", seq)}
			}
			var e model.AuditEvent
			if err := json.Unmarshal(v, &e); err != nil {
				return &AuditChainError{Seq: seq, Reason: "entry is not valid JSON: " + err.Error()}
			}
			switch {
			case e.Seq != seq:
				return &AuditChainError{Seq: seq, Reason: fmt.Sprintf("entry claims sequence %d", e.Seq)}
			case e.PrevHash != prev:
				return &AuditChainError{Seq: seq, Reason: "previous-hash link does not match the entry before"}
			case e.ComputeHash() != e.Hash:
				return &AuditChainError{Seq: seq, Reason: "content does not match its hash (entry altered)"}
			}
			prev, want = e.Hash, want+1
			n++
		}
		// The head recorded with the last append catches a cut-off tail.
		if head := tx.bucket(bMeta).Get(kAuditHead); len(head) > 8 {
			seq, hash := readU64(head[:8]), string(head[8:])
			switch {
			case seq >= want:
				return &AuditChainError{Seq: want, Reason: fmt.Sprintf("entries %d to %d are missing (log cut off)", want, seq)}
			case seq == want-1 && hash != prev:
				return &AuditChainError{Seq: seq, Reason: "last entry does not match the recorded head"}
			case seq < want-1:
				return &AuditChainError{Seq: seq + 1, Reason: fmt.Sprintf("entries after %d were appended outside sded", seq)}
			}
		}
		return nil
	})
	return n, err
}

// ExportAudit writes the events with Seq ≥ from as JSON lines, oldest first,
// and returns how many it wrote.
func (s *Store) ExportAudit(ctx context.Context, w io.Writer, from uint64) (int, error) {
	bw := bufio.NewWriter(w)
	n := 0
	err := s.View(func(tx *Tx) error {
		c := tx.bucket(bAudit).Cursor()
		for k, v := c.Seek(u64(from)); k != nil; k, v = c.Next() {
			if n%4096 == 0 && ctx.Err() != nil {
				return ctx.Err()
			}
			if _, err := bw.Write(v); err != nil {
				return fmt.Errorf("writing audit export: %w", err)
			}
			if err := bw.WriteByte('\n'); err != nil {
				return fmt.Errorf("writing audit export: %w", err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	return n, bw.Flush()
}
