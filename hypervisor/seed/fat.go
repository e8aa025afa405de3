package seed

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// FAT12 geometry. A NoCloud seed holds a few small text files, so the image is a
// tiny FAT12 filesystem with long (VFAT) names, written without any host tool.
const (
	sectorSize     = 512
	rootEntries    = 224 // 14 sectors of 32-byte entries
	rootDirSectors = rootEntries * 32 / sectorSize
	maxFAT12       = 4084 // Linux treats more clusters than this as FAT16
	minClusters    = 128
)

// file is one root-directory file of the image.
type file struct {
	name string
	data []byte
}

// fatImage builds a FAT12 image labelled label (at most 11 bytes) holding files
// in the root directory. volID makes the serial number deterministic.
func fatImage(label string, volID uint32, files []file) ([]byte, error) {
	// Directory entries: volume label plus, per file, its long-name entries and the 8.3 entry.
	entries := 1
	for _, f := range files {
		entries += lfnCount(f.name) + 1
	}
	if entries > rootEntries {
		return nil, fmt.Errorf("seed holds too many files (%d directory entries, at most %d)", entries, rootEntries)
	}
	for spc := 1; spc <= 64; spc *= 2 {
		cb := spc * sectorSize
		need := 0
		for _, f := range files {
			need += (len(f.data) + cb - 1) / cb
		}
		clusters := max(need+8, minClusters)
		if clusters > maxFAT12 {
			continue
		}
		return layout(label, volID, files, spc, clusters), nil
	}
	return nil, fmt.Errorf("seed content too large for a FAT12 image (at most %d MiB)", maxFAT12*64*sectorSize>>20)
}

func layout(label string, volID uint32, files []file, spc, clusters int) []byte {
	fatSectors := ((clusters+2)*3/2 + sectorSize) / sectorSize
	dataStart := 1 + 2*fatSectors + rootDirSectors
	total := dataStart + clusters*spc
	img := make([]byte, total*sectorSize)

	// Boot sector with the BIOS parameter block.
	b := img[:sectorSize]
	copy(b[0:3], []byte{0xEB, 0x3C, 0x90})
	copy(b[3:11], "SDED    ")
	binary.LittleEndian.PutUint16(b[11:], sectorSize)
	b[13] = byte(spc)
	binary.LittleEndian.PutUint16(b[14:], 1) // reserved sectors
	b[16] = 2                                // FATs
	binary.LittleEndian.PutUint16(b[17:], rootEntries)
	if total < 65536 {
		binary.LittleEndian.PutUint16(b[19:], uint16(total))
	} else {
		binary.LittleEndian.PutUint32(b[32:], uint32(total))
	}
	b[21] = 0xF8 // media: fixed disk
	binary.LittleEndian.PutUint16(b[22:], uint16(fatSectors))
	binary.LittleEndian.PutUint16(b[24:], 32) // sectors per track
	binary.LittleEndian.PutUint16(b[26:], 64) // heads
	b[36] = 0x80                              // drive number
	b[38] = 0x29                              // extended boot signature
	binary.LittleEndian.PutUint32(b[39:], volID)
	copy(b[43:54], pad11(label))
	copy(b[54:62], "FAT12   ")
	b[510], b[511] = 0x55, 0xAA

	fat := make([]byte, fatSectors*sectorSize)
	setFAT12(fat, 0, 0xFF8)
	setFAT12(fat, 1, 0xFFF)

	root := img[(1+2*fatSectors)*sectorSize : dataStart*sectorSize]
	dir := root[:0]
	vol := make([]byte, 32)
	copy(vol[0:11], pad11(label))
	vol[11] = 0x08 // volume label
	dir = append(dir, vol...)

	next := 2
	cb := spc * sectorSize
	for i, f := range files {
		n := (len(f.data) + cb - 1) / cb
		first := 0
		if n > 0 {
			first = next
			for c := range n {
				v := 0xFFF
				if c < n-1 {
					v = next + c + 1
				}
				setFAT12(fat, next+c, v)
			}
			copy(img[(dataStart+(next-2)*spc)*sectorSize:], f.data)
			next += n
		}
		short := shortName(i)
		dir = append(dir, lfnEntries(f.name, short)...)
		e := make([]byte, 32)
		copy(e[0:11], short)
		e[11] = 0x20 // archive
		// 2026-01-01 00:00: fixed, so the same content gives the same image.
		date := uint16((2026-1980)<<9 | 1<<5 | 1)
		binary.LittleEndian.PutUint16(e[16:], date) // created
		binary.LittleEndian.PutUint16(e[18:], date) // accessed
		binary.LittleEndian.PutUint16(e[24:], date) // modified
		binary.LittleEndian.PutUint16(e[26:], uint16(first))
		binary.LittleEndian.PutUint32(e[28:], uint32(len(f.data)))
		dir = append(dir, e...)
	}
	for i := range 2 {
		copy(img[(1+i*fatSectors)*sectorSize:], fat)
	}
	return img
}

// setFAT12 stores the 12-bit value v for cluster n.
func setFAT12(fat []byte, n, v int) {
	off := n * 3 / 2
	if n%2 == 0 {
		fat[off] = byte(v)
		fat[off+1] = fat[off+1]&0xF0 | byte(v>>8)&0x0F
	} else {
		fat[off] = fat[off]&0x0F | byte(v<<4)
		fat[off+1] = byte(v >> 4)
	}
}

// shortName is the 8.3 alias of the i-th file; the long name is what matters.
func shortName(i int) []byte {
	return []byte(fmt.Sprintf("SEED%04d   ", i))
}

func pad11(s string) []byte {
	b := []byte("           ")
	copy(b, s)
	return b
}

func lfnCount(name string) int {
	return (len(utf16.Encode([]rune(name))) + 12) / 13
}

// lfnEntries returns the VFAT long-name entries for name, last part first, as
// they precede the 8.3 entry on disk.
func lfnEntries(name string, short []byte) []byte {
	var sum byte
	for _, c := range short[:11] {
		sum = (sum&1)<<7 + sum>>1 + c
	}
	u := utf16.Encode([]rune(name))
	n := lfnCount(name)
	chars := make([]uint16, n*13)
	for i := range chars {
		switch {
		case i < len(u):
			chars[i] = u[i]
		case i == len(u):
			chars[i] = 0
		default:
			chars[i] = 0xFFFF
		}
	}
	out := make([]byte, 0, n*32)
	for seq := n; seq >= 1; seq-- {
		e := make([]byte, 32)
		e[0] = byte(seq)
		if seq == n {
			e[0] |= 0x40
		}
		e[11] = 0x0F
		e[13] = sum
		part := chars[(seq-1)*13 : seq*13]
		for j, off := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
			binary.LittleEndian.PutUint16(e[off:], part[j])
		}
		out = append(out, e...)
	}
	return out
}
