package disclosure

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"github.com/sded/sded/storage/table"
	"math/bits"
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

func BenchmarkZZFast(b *testing.B) {
	data, err := os.ReadFile("/tmp/shat/big.csv")
	if err != nil {
		b.Skip()
	}
	data = data[26 : 26+(8<<20)]
	data = data[:bytes.LastIndexByte(data, '\n')+1]
	opt := Options{}.withDefaults()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p := &part{cells: newCellTable()}
		for off := 0; off < len(data); {
			end := min(off+blockSize, len(data))
			end = bytes.LastIndexByte(data[:end], '\n') + 1
			pos, _, err := p.runFast(block{data: data[off:end]}, opt, 3, 4, 2, []string{"a", "b", "c"})
			if err != nil || pos != end-off {
				b.Fatal(err, pos)
			}
			off = end
		}
	}
}

func BenchmarkZZCount(b *testing.B) {
	data, err := os.ReadFile("/tmp/shat/big.csv")
	if err != nil {
		b.Skip()
	}
	data = data[:8<<20]
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		bytes.Count(data, []byte{'\n'})
	}
}

func BenchmarkZZParseValue(b *testing.B) {
	vals := [][]byte{[]byte("12345.67"), []byte("99.01"), []byte("5000.50"), []byte("77777.77")}
	var s float64
	for i := 0; b.Loop(); i++ {
		s += parseValue(vals[i&3]).f
	}
	_ = s
}

func zzData(b *testing.B) []byte {
	data, err := os.ReadFile("/tmp/shat/big.csv")
	if err != nil {
		b.Skip()
	}
	data = data[26 : 26+(8<<20)]
	return data[:bytes.LastIndexByte(data, '\n')+1]
}

func BenchmarkZZSumBytes(b *testing.B) {
	data := zzData(b)
	b.SetBytes(int64(len(data)))
	var s uint64
	for b.Loop() {
		for _, c := range data {
			s += uint64(c)
		}
	}
	_ = s
}

func BenchmarkZZNewlines(b *testing.B) {
	data := zzData(b)
	b.SetBytes(int64(len(data)))
	var s int
	for b.Loop() {
		i, start := 0, 0
		for ; i+64 <= len(data); i += 64 {
			w := (*[64]byte)(data[i:])
			x0, x1 := binary.LittleEndian.Uint64(w[0:]), binary.LittleEndian.Uint64(w[8:])
			x2, x3 := binary.LittleEndian.Uint64(w[16:]), binary.LittleEndian.Uint64(w[24:])
			x4, x5 := binary.LittleEndian.Uint64(w[32:]), binary.LittleEndian.Uint64(w[40:])
			x6, x7 := binary.LittleEndian.Uint64(w[48:]), binary.LittleEndian.Uint64(w[56:])
			m := movemask(zeroBytes(x0^nls)) | movemask(zeroBytes(x1^nls))<<8 |
				movemask(zeroBytes(x2^nls))<<16 | movemask(zeroBytes(x3^nls))<<24 |
				movemask(zeroBytes(x4^nls))<<32 | movemask(zeroBytes(x5^nls))<<40 |
				movemask(zeroBytes(x6^nls))<<48 | movemask(zeroBytes(x7^nls))<<56
			for ; m != 0; m &= m - 1 {
				nl := i + bits.TrailingZeros64(m)
				s += nl - start
				start = nl + 1
			}
		}
	}
	_ = s
}

func BenchmarkZZParse8(b *testing.B) {
	data := zzData(b)
	var ends []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i)
		}
	}
	b.ResetTimer()
	var s float64
	for b.Loop() {
		for _, e := range ends {
			j := e - 1
			for data[j] != ',' {
				j--
			}
			s += parseValueAt(data, j+1, e).f
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/row")
	_ = s
}

func BenchmarkZZParse8Only(b *testing.B) {
	data := zzData(b)
	var ends, starts []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i)
			j := i - 1
			for data[j] != ',' {
				j--
			}
			starts = append(starts, j+1)
		}
	}
	b.ResetTimer()
	var s float64
	for b.Loop() {
		for k, e := range ends {
			s += parseValueAt(data, starts[k], e).f
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/row")
	_ = s
}

func BenchmarkZZParsePlainOnly(b *testing.B) {
	data := zzData(b)
	var ends, starts []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i)
			j := i - 1
			for data[j] != ',' {
				j--
			}
			starts = append(starts, j+1)
		}
	}
	b.ResetTimer()
	var s float64
	for b.Loop() {
		for k, e := range ends {
			s += parseValue(data[starts[k]:e]).f
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/row")
	_ = s
}
func zzParse8NoDiv(w uint64, n int) (value, bool) {
	first := byte(w >> (8 * (8 - n)))
	neg := first == '-'
	if neg || first == '+' {
		if n--; n == 0 {
			return value{}, false
		}
	}
	pad := uint64(1)<<(8*(8-n)) - 1 // the bytes below the value
	w = w&^pad | zeros8&pad
	frac := 0
	if dots := zeroBytes(w ^ dots8); dots != 0 {
		d := bits.TrailingZeros64(dots) >> 3
		if d == 8-n || d == 7 { // "." first or last: not plain
			return value{}, false
		}
		below := uint64(1)<<(8*d) - 1
		w = w&^(below|0xff<<(8*d)) | (w&below)<<8 | '0'
		frac = 7 - d
	}
	if w&0xf0f0f0f0f0f0f0f0|(w+0x0606060606060606)&0xf0f0f0f0f0f0f0f0>>4 != 0x3333333333333333 {
		return value{}, false // not all digits (or a second point)
	}
	w = (w & 0x0f0f0f0f0f0f0f0f) * 2561 >> 8
	w = (w & 0x00ff00ff00ff00ff) * 6553601 >> 16
	mant := (w & 0x0000ffff0000ffff) * 42949672960001 >> 32
	f := float64(mant)
	if frac > 0 {
		f *= 0.01
	}
	if neg {
		f = -f
	}
	return value{f: f, integer: frac == 0}, true
}

func BenchmarkZZParse8NoDiv(b *testing.B) {
	data := zzData(b)
	var ends, starts []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i)
			j := i - 1
			for data[j] != ',' {
				j--
			}
			starts = append(starts, j+1)
		}
	}
	b.ResetTimer()
	var s float64
	for b.Loop() {
		for k, e := range ends {
			v, _ := zzParse8NoDiv(binary.LittleEndian.Uint64(data[e-8:]), e-starts[k])
			s += v.f
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/row")
	_ = s
}

func BenchmarkZZBaseline(b *testing.B) {
	data := zzData(b)
	var ends, starts []int
	for i, c := range data {
		if c == '\n' {
			ends = append(ends, i)
			j := i - 1
			for data[j] != ',' {
				j--
			}
			starts = append(starts, j+1)
		}
	}
	b.ResetTimer()
	var s float64
	for b.Loop() {
		for k, e := range ends {
			s += float64(binary.LittleEndian.Uint64(data[e-8:]) >> (e - starts[k]))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ends)), "ns/row")
	_ = s
}
