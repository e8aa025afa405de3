package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt maps the file into memory and trusts the page numbers in its meta
// pages: a file cut short makes it read past the end of the file, which is a
// SIGBUS no recover can catch. checkBounds reads the two meta pages itself
// (layout of bbolt's file format version 2) and refuses a file shorter than
// the high-water mark the valid meta page records.

const (
	boltMagic   = 0xED0CDAED
	boltVersion = 2
	pageHeader  = 16
	metaSumLen  = 56 // bytes of meta covered by its FNV-64a checksum
)

type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64
	txid     uint64
}

func readMeta(b []byte) (boltMeta, bool) {
	if len(b) < pageHeader+metaSumLen+8 {
		return boltMeta{}, false
	}
	m := b[pageHeader:]
	le := binary.LittleEndian
	if le.Uint32(m[0:]) != boltMagic || le.Uint32(m[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(m[:metaSumLen])
	if h.Sum64() != le.Uint64(m[metaSumLen:]) {
		return boltMeta{}, false
	}
	return boltMeta{pageSize: le.Uint32(m[8:]), root: le.Uint64(m[16:]), freelist: le.Uint64(m[32:]),
		pgid: le.Uint64(m[40:]), txid: le.Uint64(m[48:])}, true
}

// checkBounds returns nil for an absent or empty file (bbolt creates it).
func checkBounds(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil
	}
	head := make([]byte, 4096)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return err
	}
	m0, ok0 := readMeta(head[:n])
	ps := int64(4096)
	if ok0 {
		ps = int64(m0.pageSize)
	}
	if ps < 512 || ps > 1<<20 {
		return fmt.Errorf("implausible page size %d", ps)
	}
	page1 := make([]byte, pageHeader+metaSumLen+8)
	n, err = f.ReadAt(page1, ps)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	m1, ok1 := readMeta(page1[:n])
	var m boltMeta
	switch {
	case ok0 && ok1:
		m = m0
		if m1.txid > m0.txid {
			m = m1
		}
	case ok0:
		m = m0
	case ok1:
		m = m1
	default:
		return fmt.Errorf("invalid database: no valid meta page")
	}
	if m.root >= m.pgid || (m.freelist >= m.pgid && m.freelist != ^uint64(0)) {
		return fmt.Errorf("meta page points beyond its own high-water mark")
	}
	if need := int64(m.pgid) * int64(m.pageSize); fi.Size() < need {
		return fmt.Errorf("file is truncated: %d bytes, the database needs %d", fi.Size(), need)
	}
	return nil
}
