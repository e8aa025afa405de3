package fsm

import (
	"bytes"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/sded/sded/cluster/model"
)

func fuzzSeeds(f *testing.F) {
	for i, t := range model.CommandTypes() {
		c, _ := model.NewCommand(t, "r"+string(rune('a'+i%26))+string(rune('a'+i/26)), user("root"), t0, map[string]any{"id": "x"})
		b, _ := Encode(c)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{1})
	f.Add([]byte("\x01{\"actor\":{\"user_id\":\"root\"},\"time\":\"2026-11-22T09:00:00Z\",\"payload\":{\"key\":\"a\",\"value\":\"b\"}}"))
	f.Add([]byte("\x0a{\"actor\":{\"node_id\":\"n\"},\"time\":\"2026-11-22T09:00:00Z\",\"payload\":{\"id\":\"u\",\"username\":\"uu\",\"display_name\":\"U\",\"admin\":true}}"))
	f.Add(bytes.Repeat([]byte{0x55}, 300))
}

// FuzzDecode: no input makes Decode panic, and what it accepts re-encodes.
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Decode(b)
		if err != nil {
			if model.AsError(err).Code == model.CodeInternal {
				t.Fatalf("Decode error without a code: %v", err)
			}
			return
		}
		if _, err := Encode(c); err != nil {
			t.Fatalf("decoded command does not re-encode: %v", err)
		}
	})
}

// FuzzApply: any entry is applied or refused with a coded error, consumes
// its index, and keeps the audit chain valid; nothing panics.
func FuzzApply(f *testing.F) {
	fuzzSeeds(f)
	h := newHarness(&testing.T{})
	h.world()
	f.Fuzz(func(t *testing.T, b []byte) {
		h.index++
		r := h.fsm.Apply(&raft.Log{Index: h.index, Type: raft.LogCommand, Data: b}).(Result)
		// A repeated request ID returns the first result, index included.
		if r.Index > h.index || r.Index == 0 {
			t.Fatalf("result index %d, entry %d", r.Index, h.index)
		}
		if r.Err != nil && r.Err.Code == "" {
			t.Fatal("refusal without a code")
		}
		if h.st.AppliedIndex() != h.index {
			t.Fatal("entry did not consume its index")
		}
	})
}
