package seed

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// readFAT12 is an independent reader of the images fatImage writes: it
// follows the BPB, the long-name entries and the cluster chains, and returns
// the label and files by long name.
func readFAT12(t *testing.T, img []byte) (string, map[string]string) {
	t.Helper()
	bps := int(binary.LittleEndian.Uint16(img[11:]))
	spc := int(img[13])
	reserved := int(binary.LittleEndian.Uint16(img[14:]))
	nfats := int(img[16])
	rootN := int(binary.LittleEndian.Uint16(img[17:]))
	fatSz := int(binary.LittleEndian.Uint16(img[22:]))
	if bps != 512 || img[510] != 0x55 || img[511] != 0xAA || string(img[54:62]) != "FAT12   " {
		t.Fatalf("bad boot sector: bps=%d sig=%x type=%q", bps, img[510:512], img[54:62])
	}
	fat := img[reserved*bps:]
	rootOff := (reserved + nfats*fatSz) * bps
	dataOff := rootOff + rootN*32
	next := func(c int) int {
		v := int(binary.LittleEndian.Uint16(fat[c*3/2:]))
		if c%2 == 1 {
			return v >> 4
		}
		return v & 0xFFF
	}
	label := ""
	files := map[string]string{}
	var lfn []uint16
	for i := 0; i < rootN; i++ {
		e := img[rootOff+i*32 : rootOff+i*32+32]
		switch {
		case e[0] == 0:
			return label, files
		case e[11] == 0x08:
			label = strings.TrimRight(string(e[0:11]), " ")
		case e[11] == 0x0F:
			var part []uint16
			for _, off := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				part = append(part, binary.LittleEndian.Uint16(e[off:]))
			}
			lfn = append(part, lfn...) // entries come last part first
		default:
			n := 0
			for n < len(lfn) && lfn[n] != 0 {
				n++
			}
			name := string(utf16.Decode(lfn[:n]))
			lfn = nil
			size := int(binary.LittleEndian.Uint32(e[28:]))
			var data []byte
			for c := int(binary.LittleEndian.Uint16(e[26:])); c >= 2 && c < 0xFF8; c = next(c) {
				off := dataOff + (c-2)*spc*bps
				data = append(data, img[off:off+spc*bps]...)
			}
			files[name] = string(data[:size])
		}
	}
	return label, files
}

func TestImageRoundTrip(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 4096) // 64 KiB: a cluster chain
	c := Config{
		InstanceID: "ws-1.a", Hostname: "ws-1",
		UserData:      []byte("#cloud-config\nhostname: ws-1\n"),
		NetworkConfig: []byte("version: 2\n"),
		Files:         map[string][]byte{"sded-probe.sh": []byte("result a 1\n"), "empty": nil, "a-very-long-file-name-indeed.txt": []byte(big)},
	}
	img, err := Image(c)
	if err != nil {
		t.Fatal(err)
	}
	label, files := readFAT12(t, img)
	if label != Label {
		t.Errorf("label = %q, want %q", label, Label)
	}
	want := map[string]string{
		"meta-data":                        "instance-id: ws-1.a\nlocal-hostname: ws-1\n",
		"user-data":                        "#cloud-config\nhostname: ws-1\n",
		"network-config":                   "version: 2\n",
		"sded-probe.sh":                    "result a 1\n",
		"empty":                            "",
		"a-very-long-file-name-indeed.txt": big,
	}
	if diff := cmp.Diff(want, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	again, _ := Image(c)
	if !bytes.Equal(img, again) {
		t.Error("the same config gave two different images")
	}
}

func TestImageDefaults(t *testing.T) {
	img, err := Image(Config{InstanceID: "i", Hostname: "h"})
	if err != nil {
		t.Fatal(err)
	}
	_, files := readFAT12(t, img)
	if files["user-data"] != "#cloud-config\n{}\n" {
		t.Errorf("default user-data = %q", files["user-data"])
	}
	if _, ok := files["network-config"]; ok {
		t.Error("network-config written though empty")
	}
}

// TestBadInput: each kind of bad config gives an error naming the problem,
// and Write leaves nothing behind.
func TestBadInput(t *testing.T) {
	ok := Config{InstanceID: "i-1", Hostname: "h1"}
	tests := []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"empty instance id", func(c *Config) { c.InstanceID = "" }, "instance id"},
		{"instance id with slash", func(c *Config) { c.InstanceID = "a/b" }, "instance id"},
		{"hostname upper case", func(c *Config) { c.Hostname = "Host" }, "hostname"},
		{"hostname too long", func(c *Config) { c.Hostname = strings.Repeat("a", 64) }, "hostname"},
		{"file with slash", func(c *Config) { c.Files = map[string][]byte{"a/b": nil} }, "file name"},
		{"file shadows meta-data", func(c *Config) { c.Files = map[string][]byte{"META-DATA": nil} }, "reserved"},
		{"too many files", func(c *Config) {
			c.Files = map[string][]byte{}
			for i := range 120 {
				c.Files[strings.Repeat("f", 20)+string(rune('a'+i%26))+strings.Repeat("x", i/26)] = nil
			}
		}, "too many files"},
		{"too large", func(c *Config) { c.UserData = make([]byte, 140<<20) }, "too large"},
	}
	dir := t.TempDir()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			tt.mod(&c)
			p := filepath.Join(dir, "seed.img")
			err := Write(p, c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Write err = %v, want one mentioning %q", err, tt.wantErr)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("Write left %d files behind", len(ents))
			}
		})
	}
}

func TestWriteMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seed.img")
	if err := Write(p, Config{InstanceID: "i", Hostname: "h"}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
}
