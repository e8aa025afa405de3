package state

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sded/sded/cluster/model"
)

// writeApplied opens path, commits applied index 42 and a setting, and
// closes it cleanly.
func writeApplied(t *testing.T, path string) {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(markerPath(path)); err != nil {
		t.Errorf("open store has no marker: %v", err)
	}
	if err := s.Update(func(tx *Tx) error {
		if err := tx.SetAppliedIndex(42); err != nil {
			return err
		}
		return tx.PutSetting(model.Setting{Key: "login.banner", Value: "hello"})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(markerPath(path)); !os.IsNotExist(err) {
		t.Errorf("marker after a clean close: %v", err)
	}
}

// TestUnsyncedRecovery: what Open does with the marker a store leaves while
// open. A clean close leaves none; a process crash in this boot leaves one
// with this boot's ID and the file is kept; a marker from another boot (the
// machine went down) or an unreadable one gets the file moved aside and an
// empty store for raft to rebuild.
func TestUnsyncedRecovery(t *testing.T) {
	this := string(bootID())
	if this == "" {
		t.Fatal("no boot ID in /proc/sys/kernel/random/boot_id: every Linux sded runs on has one")
	}
	tests := []struct {
		name          string
		marker        *string // nil: no marker (clean close)
		wantDiscarded bool
	}{
		{"clean close", nil, false},
		{"process crash in this boot", &this, false},
		{"machine went down (another boot)", ptr("00000000-0000-0000-0000-000000000000"), true},
		{"empty marker", ptr(""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.db")
			writeApplied(t, path)
			if tt.marker != nil {
				if err := os.WriteFile(markerPath(path), []byte(*tt.marker+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			s, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, uncleanErr := os.Stat(UncleanPath(path))
			got := struct {
				Discarded, UncleanKept bool
				Applied                uint64
			}{s.Discarded(), uncleanErr == nil, s.AppliedIndex()}
			want := struct {
				Discarded, UncleanKept bool
				Applied                uint64
			}{tt.wantDiscarded, tt.wantDiscarded, 42}
			if tt.wantDiscarded {
				want.Applied = 0
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after reopen (-want +got):\n%s", diff)
			}
			if tt.wantDiscarded {
				old, err := OpenReadOnly(UncleanPath(path))
				if err != nil {
					t.Fatalf("the moved-aside file: %v", err)
				}
				if old.AppliedIndex() != 42 {
					t.Errorf("moved-aside file holds applied index %d, want 42", old.AppliedIndex())
				}
				old.Close()
			}
		})
	}
}

// TestUnsyncedNeedsBootID: without a boot ID every commit is synced and no
// marker is written; a marker left from before is treated as unclean.
func TestUnsyncedNeedsBootID(t *testing.T) {
	saved := bootIDPath
	bootIDPath = filepath.Join(t.TempDir(), "missing")
	t.Cleanup(func() { bootIDPath = saved })

	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.unsynced || s.db.NoSync {
		t.Errorf("store without a boot ID is unsynced")
	}
	if _, err := os.Stat(markerPath(path)); !os.IsNotExist(err) {
		t.Errorf("marker written without a boot ID: %v", err)
	}
	s.Close()
	if err := os.WriteFile(markerPath(path), []byte("whatever\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Discarded() {
		t.Errorf("a marker that cannot be matched to this boot was trusted")
	}
}

func ptr(s string) *string { return &s }
