package state

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestOpenFresh(t *testing.T) {
	s := openTemp(t)
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", fi.Mode().Perm())
	}
	err = s.View(func(tx *Tx) error {
		if v := tx.SchemaVersion(); v != SchemaVersion {
			t.Errorf("schema version %d, want %d", v, SchemaVersion)
		}
		if tx.AppliedIndex() != 0 {
			t.Error("fresh applied index not 0")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSetting("login.banner"); model.CodeOf(err) != model.CodeNotFound {
		t.Errorf("missing setting: %v, want not_found", err)
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx *Tx) error {
		if err := tx.SetAppliedIndex(42); err != nil {
			return err
		}
		return tx.PutSetting(model.Setting{Key: "login.banner", Value: "hello"})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.GetSetting("login.banner"); err != nil || got.Value != "hello" || s.AppliedIndex() != 42 {
		t.Errorf("after reopen: %+v %v applied=%d", got, err, s.AppliedIndex())
	}
}

// TestOpenRefusesUntrusted: each kind of bad file is refused with
// ErrUntrusted and a message saying why; none is modified.
func TestOpenRefusesUntrusted(t *testing.T) {
	good := func(t *testing.T) string {
		path := filepath.Join(t.TempDir(), "state.db")
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Update(func(tx *Tx) error {
			for i := 0; i < 2000; i++ {
				if err := tx.PutSetting(model.Setting{Key: "k" + strings.Repeat("x", i%50) + string(rune('a'+i%26)), Value: strings.Repeat("v", 500)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		s.Close()
		return path
	}
	tests := []struct {
		name string
		make func(t *testing.T) string
		want string
	}{
		{"garbage", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "state.db")
			os.WriteFile(p, bytes.Repeat([]byte("not a database "), 2000), 0o600)
			return p
		}, "invalid"},
		{"truncated tiny", func(t *testing.T) string {
			p := good(t)
			os.Truncate(p, 100)
			return p
		}, "truncated"},
		{"truncated half", func(t *testing.T) string {
			p := good(t)
			head, _ := os.ReadFile(p)
			m, _ := readMeta(head)
			// The file is preallocated beyond its high-water mark; cut into the data.
			os.Truncate(p, int64(m.pgid)*int64(m.pageSize)/2)
			return p
		}, "truncated"},
		{"corrupt pages", func(t *testing.T) string {
			p := good(t)
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			fi, _ := f.Stat()
			for off := int64(4 * 4096); off < fi.Size(); off += 4096 {
				f.WriteAt(bytes.Repeat([]byte{0xA5}, 64), off)
			}
			f.Close()
			return p
		}, "cannot be trusted"},
		{"foreign bbolt file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "state.db")
			db, _ := bolt.Open(p, 0o600, nil)
			db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("raft_log")); return err })
			db.Close()
			return p
		}, "not an sded state file"},
		{"newer schema", func(t *testing.T) string {
			p := good(t)
			db, _ := bolt.Open(p, 0o600, nil)
			db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bMeta).Put(kSchemaVersion, u64(SchemaVersion+1)) })
			db.Close()
			return p
		}, "newer than this sded supports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := tt.make(t)
			before, _ := os.ReadFile(p)
			s, err := Open(p)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a bad file")
			}
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error = %v, want ErrUntrusted mentioning %q", err, tt.want)
			}
			after, _ := os.ReadFile(p)
			if !bytes.Equal(before, after) {
				t.Error("refused file was modified")
			}
		})
	}
}

func TestMigrateFromV1(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	db, err := bolt.Open(p, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := createV1(tx); err != nil {
			return err
		}
		for _, m := range []model.Member{{ProjectID: "p1", UserID: "u1", Role: model.RoleOwner}, {ProjectID: "p2", UserID: "u1", Role: model.RoleResearcher}, {ProjectID: "p1", UserID: "u2", Role: model.RoleOutputChecker}} {
			b, _ := json.Marshal(m)
			if err := tx.Bucket(bMembers).Put(key(m.ProjectID, m.UserID), b); err != nil {
				return err
			}
		}
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.View(func(tx *Tx) error {
		if v := tx.SchemaVersion(); v != SchemaVersion {
			t.Errorf("schema after migration %d, want %d", v, SchemaVersion)
		}
		got, _ := tx.Memberships("u1")
		want := map[string]model.MemberRole{"p1": model.RoleOwner, "p2": model.RoleResearcher}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("members_by_user after migration (-want +got):\n%s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestMigrationFailureLeavesFileAlone(t *testing.T) {
	p := filepath.Join(t.TempDir(), "state.db")
	db, _ := bolt.Open(p, 0o600, nil)
	db.Update(func(tx *bolt.Tx) error {
		createV1(tx)
		return tx.Bucket(bMembers).Put(key("p1", "u1"), []byte("{not json"))
	})
	db.Close()
	if _, err := Open(p); err == nil || !strings.Contains(err.Error(), "migrating to schema 2") {
		t.Fatalf("Open = %v, want a migration error", err)
	}
	db, _ = bolt.Open(p, 0o600, nil)
	defer db.Close()
	db.View(func(tx *bolt.Tx) error {
		if v := readU64(tx.Bucket(bMeta).Get(kSchemaVersion)); v != 1 {
			t.Errorf("failed migration left version %d, want 1", v)
		}
		return nil
	})
}

func TestUniqueIndexes(t *testing.T) {
	s := openTemp(t)
	err := s.Update(func(tx *Tx) error {
		if err := tx.PutUser(model.User{ID: "u1", Username: "ann"}); err != nil {
			return err
		}
		if err := tx.PutUser(model.User{ID: "u2", Username: "ann"}); model.CodeOf(err) != model.CodeAlreadyExists {
			t.Errorf("duplicate username: %v", err)
		}
		if err := tx.PutProject(model.Project{ID: "p1", Slug: "study"}); err != nil {
			return err
		}
		if err := tx.PutProject(model.Project{ID: "p2", Slug: "study"}); model.CodeOf(err) != model.CodeAlreadyExists {
			t.Errorf("duplicate slug: %v", err)
		}
		h := strings.Repeat("a", 64)
		if err := tx.PutSession(model.Session{Hash: h, UserID: "u1"}); err != nil {
			return err
		}
		if err := tx.PutSession(model.Session{Hash: strings.Repeat("b", 64), UserID: "u1"}); err != nil {
			return err
		}
		if n, err := tx.DeleteUserSessions("u1"); n != 2 || err != nil {
			t.Errorf("DeleteUserSessions = %d, %v", n, err)
		}
		if _, err := tx.Session(h); model.CodeOf(err) != model.CodeNotFound {
			t.Errorf("session survived: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if u, err := s.UserByUsername("ann"); err != nil || u.ID != "u1" {
		t.Errorf("UserByUsername = %+v, %v", u, err)
	}
}

func TestRequestResultsBounded(t *testing.T) {
	s := openTemp(t)
	err := s.Update(func(tx *Tx) error {
		for i := 1; i <= 10; i++ {
			if err := tx.PutRequestResult("r"+string(rune('0'+i%10))+string(rune('a'+i)), uint64(i), []byte("x"), 4); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.View(func(tx *Tx) error {
		if _, ok := tx.RequestResult("r1b"); ok {
			t.Error("oldest request result not evicted")
		}
		if _, ok := tx.RequestResult("r0k"); !ok {
			t.Error("newest request result evicted")
		}
		if n := tx.bucket(bRequests).Stats().KeyN; n != 4 {
			t.Errorf("%d request results kept, want 4", n)
		}
		return nil
	})
}

func appendEvents(t *testing.T, s *Store, n int) {
	t.Helper()
	err := s.Update(func(tx *Tx) error {
		for i := 0; i < n; i++ {
			if _, err := tx.AppendAudit(model.AuditEvent{Index: uint64(i + 1), Time: t0.Add(time.Duration(i) * time.Second), Actor: model.Actor{UserID: "u1"},
				Action: "project.create", Object: "project/p1", Outcome: model.OutcomeSuccess, Details: map[string]string{"n": string(rune('a' + i))}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditChain(t *testing.T) {
	tamper := func(fn func(b *bolt.Bucket)) func(s *Store) {
		return func(s *Store) {
			s.db.Update(func(tx *bolt.Tx) error { fn(tx.Bucket(bAudit)); return nil })
		}
	}
	edit := func(seq uint64, fn func(e *model.AuditEvent)) func(b *bolt.Bucket) {
		return func(b *bolt.Bucket) {
			var e model.AuditEvent
			json.Unmarshal(b.Get(u64(seq)), &e)
			fn(&e)
			v, _ := json.Marshal(e)
			b.Put(u64(seq), v)
		}
	}
	tests := []struct {
		name   string
		tamper func(s *Store)
		badSeq uint64 // 0 = chain intact
	}{
		{"intact", func(*Store) {}, 0},
		{"details changed", tamper(edit(3, func(e *model.AuditEvent) { e.Details["n"] = "zzz" })), 3},
		{"outcome changed", tamper(edit(5, func(e *model.AuditEvent) { e.Outcome = model.OutcomeSuccess; e.Actor.UserID = "mallory" })), 5},
		{"entry rehashed: next link breaks", tamper(edit(3, func(e *model.AuditEvent) { e.Action = "x"; e.Hash = e.ComputeHash() })), 4},
		{"entry removed", tamper(func(b *bolt.Bucket) { b.Delete(u64(2)) }), 2},
		{"entries swapped", tamper(func(b *bolt.Bucket) {
			a, c := bytes.Clone(b.Get(u64(2))), bytes.Clone(b.Get(u64(3)))
			b.Put(u64(2), c)
			b.Put(u64(3), a)
		}), 2},
		{"garbage value", tamper(func(b *bolt.Bucket) { b.Put(u64(4), []byte("{")) }), 4},
		{"entry appended outside sded", tamper(func(b *bolt.Bucket) {
			var last model.AuditEvent
			json.Unmarshal(b.Get(u64(6)), &last)
			e := model.AuditEvent{Seq: 7, Action: "forged", Outcome: model.OutcomeSuccess, PrevHash: last.Hash}
			e.Hash = e.ComputeHash()
			v, _ := json.Marshal(e)
			b.Put(u64(7), v)
		}), 7},
		{"tail cut off", tamper(func(b *bolt.Bucket) { b.Delete(u64(6)); b.Delete(u64(5)) }), 5},
		{"last entry rehashed", tamper(edit(6, func(e *model.AuditEvent) { e.Action = "x"; e.Hash = e.ComputeHash() })), 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t)
			appendEvents(t, s, 6)
			tt.tamper(s)
			n, err := s.VerifyAudit(context.Background())
			if tt.badSeq == 0 {
				if err != nil || n != 6 {
					t.Fatalf("VerifyAudit = %d, %v", n, err)
				}
				return
			}
			var ce *AuditChainError
			if !errors.As(err, &ce) || ce.Seq != tt.badSeq {
				t.Fatalf("VerifyAudit = %v, want a break at %d", err, tt.badSeq)
			}
		})
	}
}

func TestAuditAppendRefusesSecrets(t *testing.T) {
	s := openTemp(t)
	err := s.Update(func(tx *Tx) error {
		_, err := tx.AppendAudit(model.AuditEvent{Action: "x", Outcome: model.OutcomeSuccess, Details: map[string]string{"password": "hunter2"}})
		return err
	})
	if err == nil {
		t.Fatal("audit event with a secret-looking detail was stored")
	}
	if evs, _ := s.AuditEvents(0, 10); len(evs) != 0 {
		t.Error("refused event left something behind")
	}
}

func TestExportAudit(t *testing.T) {
	s := openTemp(t)
	appendEvents(t, s, 5)
	var buf bytes.Buffer
	n, err := s.ExportAudit(context.Background(), &buf, 2)
	if err != nil || n != 4 {
		t.Fatalf("ExportAudit = %d, %v", n, err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines", len(lines))
	}
	var e model.AuditEvent
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil || e.Seq != 2 || e.ComputeHash() != e.Hash {
		t.Errorf("first line %+v %v", e, err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	src := openTemp(t)
	appendEvents(t, src, 3)
	src.Update(func(tx *Tx) error {
		tx.SetAppliedIndex(7)
		return tx.PutSetting(model.Setting{Key: "login.banner", Value: "from snapshot"})
	})
	sn, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if sn.AppliedIndex() != 7 {
		t.Errorf("snapshot applied index %d", sn.AppliedIndex())
	}
	sn.Release()

	dst := openTemp(t)
	dst.Update(func(tx *Tx) error { return tx.PutSetting(model.Setting{Key: "old", Value: "gone after restore"}) })

	// Bad snapshots are refused and the current state stays.
	for name, bad := range map[string][]byte{
		"garbage":   bytes.Repeat([]byte{1, 2, 3}, 10000),
		"truncated": buf.Bytes()[:buf.Len()/2],
		"empty":     nil,
	} {
		if err := dst.Restore(bytes.NewReader(bad)); err == nil {
			t.Errorf("%s snapshot restored", name)
		}
		if got, err := dst.GetSetting("old"); err != nil || got.Value != "gone after restore" {
			t.Errorf("after refusing %s snapshot the state changed: %v", name, err)
		}
	}
	if err := dst.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.GetSetting("old"); model.CodeOf(err) != model.CodeNotFound {
		t.Errorf("restore kept old data: %v", err)
	}
	if got, _ := dst.GetSetting("login.banner"); got.Value != "from snapshot" || dst.AppliedIndex() != 7 {
		t.Errorf("restored %+v applied=%d", got, dst.AppliedIndex())
	}
	if n, err := dst.VerifyAudit(context.Background()); err != nil || n != 3 {
		t.Errorf("restored audit: %d %v", n, err)
	}
	if _, err := os.Stat(dst.Path() + ".restore"); !os.IsNotExist(err) {
		t.Error("restore left its temporary file")
	}
}

func TestOpenReadOnly(t *testing.T) {
	s := openTemp(t)
	appendEvents(t, s, 3)
	path := s.Path()
	// A running node holds the file: refused with a clear message.
	if _, err := OpenReadOnly(path); err == nil || !strings.Contains(err.Error(), "running sded holds it") {
		t.Fatalf("OpenReadOnly on a held file = %v", err)
	}
	s.Close()
	before, _ := os.ReadFile(path)
	ro, err := OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ro.VerifyAudit(context.Background()); err != nil || n != 3 {
		t.Errorf("VerifyAudit = %d, %v", n, err)
	}
	if err := ro.Update(func(tx *Tx) error { return tx.SetAppliedIndex(9) }); err == nil {
		t.Error("a read-only store accepted a write")
	}
	ro.Close()
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("OpenReadOnly changed the file")
	}
	if _, err := OpenReadOnly(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("missing file opened")
	}
	garbage := filepath.Join(t.TempDir(), "g.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("x"), 10000), 0o600)
	if _, err := OpenReadOnly(garbage); !errors.Is(err, ErrUntrusted) {
		t.Errorf("garbage: %v", err)
	}
}

// TestRestoreWhileReading: readers running during a restore see the old
// state or the new one, never an error or a torn view.
func TestRestoreWhileReading(t *testing.T) {
	src := openTemp(t)
	src.Update(func(tx *Tx) error { return tx.PutSetting(model.Setting{Key: "v", Value: "new"}) })
	sn, _ := src.Snapshot()
	var img bytes.Buffer
	sn.WriteTo(&img)
	sn.Release()

	dst := openTemp(t)
	dst.Update(func(tx *Tx) error { return tx.PutSetting(model.Setting{Key: "v", Value: "old"}) })
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				s, err := dst.GetSetting("v")
				if err != nil || (s.Value != "old" && s.Value != "new") {
					errs <- fmt.Errorf("read during restore: %+v %v", s, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 5; i++ {
		if err := dst.Restore(bytes.NewReader(img.Bytes())); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if s, _ := dst.GetSetting("v"); s.Value != "new" {
		t.Errorf("after restore: %q", s.Value)
	}
}
