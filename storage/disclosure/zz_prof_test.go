package disclosure

import (
	"context"
	"fmt"
	"github.com/sded/sded/storage/table"
	"os"
	"testing"
	"time"
)

func TestZZProf(t *testing.T) {
	p := os.Getenv("PROF_CSV")
	if p == "" {
		t.Skip()
	}
	for i := 0; i < 10; i++ {
		f, _ := os.Open(p)
		c0 := processCPU()
		t0 := time.Now()
		rec, err := CheckFile(context.Background(), "big.csv", f, Options{Limits: tableLimits()})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := NewRecord("r", DefaultRules(), []FileRecord{rec}).JSON()
		t.Logf("wall %v cpu %v len %d sha %s", time.Since(t0), processCPU()-c0, len(b), rec.SHA256[:8])
		f.Close()
	}
}

// TestZZDump writes the JSON record (or error) of every file in $DUMP_DIR to $DUMP_OUT.
func TestZZDump(t *testing.T) {
	in, out := os.Getenv("DUMP_DIR"), os.Getenv("DUMP_OUT")
	if in == "" {
		t.Skip()
	}
	ents, _ := os.ReadDir(in)
	for _, e := range ents {
		for oi, opt := range []Options{{}, {MaxCells: 7, Limits: table.Limits{MaxRecordBytes: 100}}, {Kind: Magnitude, Column: "v"}} {
			f, _ := os.Open(in + "/" + e.Name())
			rec, err := CheckFile(context.Background(), e.Name(), f, opt)
			f.Close()
			b, _ := NewRecord("r", DefaultRules(), []FileRecord{rec}).JSON()
			if err != nil {
				b = append(b, "\nERR "+err.Error()...)
			}
			os.WriteFile(fmt.Sprintf("%s/%s.%d.json", out, e.Name(), oi), b, 0o600)
		}
	}
}
