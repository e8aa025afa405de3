package cluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
)

// A backup file is
//
//	"SDEDBAK\x01"                       8 bytes magic and format version
//	uint32 big-endian n                 header length (at most 64 KiB)
//	header                              n bytes of JSON (backupHeader)
//	body                                header.Size bytes: the FSM snapshot
//	SHA-256(header || body)             32 bytes
//
// Restore verifies the length and checksum before it changes anything.

var backupMagic = []byte("SDEDBAK\x01")

const maxBackupHeader = 64 << 10

type backupHeader struct {
	Node      string    `json:"node"`
	Index     uint64    `json:"index"`
	Term      uint64    `json:"term"`
	Size      int64     `json:"size"`
	CreatedAt time.Time `json:"created_at"`
}

// ErrBadBackup is wrapped by every error about an unusable backup file.
var ErrBadBackup = errors.New("backup file is corrupt or truncated")

// Backup writes a consistent snapshot of the replicated state to w. It first
// waits (Barrier) until this node has applied every write committed before the
// call, so a backup taken on a follower is not stale.
func (n *Node) Backup(ctx context.Context, w io.Writer) error {
	if err := n.Barrier(ctx); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f := n.raft.Snapshot()
	if err := wait(ctx, f); err != nil && !errors.Is(f.Error(), raft.ErrNothingNewToSnapshot) {
		return fmt.Errorf("backup: taking snapshot: %w", err)
	}
	var (
		meta *raft.SnapshotMeta
		rc   io.ReadCloser
		err  error
	)
	if f.Error() == nil {
		meta, rc, err = f.Open()
	} else {
		meta, rc, err = n.openLatestSnapshot()
	}
	if err != nil {
		return fmt.Errorf("backup: opening snapshot: %w", err)
	}
	defer rc.Close()
	hdr, err := json.Marshal(backupHeader{Node: n.id, Index: meta.Index, Term: meta.Term, Size: meta.Size, CreatedAt: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	bw := bufio.NewWriterSize(w, 1<<20)
	var lenb [4]byte
	binary.BigEndian.PutUint32(lenb[:], uint32(len(hdr)))
	bw.Write(backupMagic)
	bw.Write(lenb[:])
	bw.Write(hdr)
	h.Write(hdr)
	copied, err := io.Copy(io.MultiWriter(bw, h), rc)
	if err != nil {
		return fmt.Errorf("backup: copying snapshot: %w", err)
	}
	if copied != meta.Size {
		return fmt.Errorf("backup: snapshot is %d bytes, metadata says %d", copied, meta.Size)
	}
	bw.Write(h.Sum(nil))
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: writing: %w", err)
	}
	n.logger.Info("wrote backup", "index", meta.Index, "term", meta.Term, "bytes", meta.Size)
	return nil
}

func (n *Node) openLatestSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	l, err := n.snaps.List()
	if err != nil {
		return nil, nil, err
	}
	if len(l) == 0 {
		return nil, nil, errors.New("no snapshot")
	}
	return n.snaps.Open(l[0].ID)
}

// verifiedBackup is a backup file whose checksum matched, its body copied to a
// temporary file.
type verifiedBackup struct {
	header backupHeader
	body   *os.File
}

// readBackup checks a backup and copies its body to a temporary file in dir.
func readBackup(path, dir string) (*verifiedBackup, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening backup: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadBackup, path, fmt.Sprintf(format, args...))
	}
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(r, magic); err != nil || !bytes.Equal(magic, backupMagic) {
		return nil, bad("not an sded backup (bad magic)")
	}
	var lenb [4]byte
	if _, err := io.ReadFull(r, lenb[:]); err != nil {
		return nil, bad("truncated header")
	}
	hl := binary.BigEndian.Uint32(lenb[:])
	if hl == 0 || hl > maxBackupHeader {
		return nil, bad("header length %d out of range", hl)
	}
	hdrb := make([]byte, hl)
	if _, err := io.ReadFull(r, hdrb); err != nil {
		return nil, bad("truncated header")
	}
	var hdr backupHeader
	if err := json.Unmarshal(hdrb, &hdr); err != nil {
		return nil, bad("header: %v", err)
	}
	if hdr.Size < 0 || hdr.Index == 0 {
		return nil, bad("header has size %d, index %d", hdr.Size, hdr.Index)
	}
	tmp, err := os.CreateTemp(dir, ".restore-*")
	if err != nil {
		return nil, fmt.Errorf("restoring: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	var h hash.Hash = sha256.New()
	h.Write(hdrb)
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, hdr.Size))
	if err != nil {
		return nil, fmt.Errorf("restoring: copying body: %w", err)
	}
	if n != hdr.Size {
		return nil, bad("truncated: body has %d of %d bytes", n, hdr.Size)
	}
	sum := make([]byte, sha256.Size)
	if _, err := io.ReadFull(r, sum); err != nil {
		return nil, bad("truncated: checksum missing")
	}
	if !bytes.Equal(sum, h.Sum(nil)) {
		return nil, bad("checksum mismatch")
	}
	if _, err := r.ReadByte(); err != io.EOF {
		return nil, bad("trailing data after checksum")
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("restoring: %w", err)
	}
	ok = true
	return &verifiedBackup{header: hdr, body: tmp}, nil
}

// Restore recovers a new one-node cluster from a backup file written by
// Backup: cfg.DataDir must have no raft state and cfg.Store must be empty. The
// backup's snapshot becomes this node's only snapshot, with this node as the
// sole voter, and the node is opened (the FSM restores the snapshot on start).
// Other nodes then join it with fresh data directories. If TLSDir has no CA, a
// new cluster CA is created. A corrupt or truncated file changes nothing.
func Restore(ctx context.Context, file string, cfg Config) (*Node, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	if fresh, err := isFresh(raftDir); err != nil {
		return nil, err
	} else if !fresh {
		return nil, fmt.Errorf("restoring: %s already has raft state; restore into an empty data directory", raftDir)
	}
	if cfg.Store != nil && cfg.Store.AppliedIndex() != 0 {
		return nil, errors.New("restoring: the state store is not empty; restore into an empty data directory")
	}
	b, err := readBackup(file, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	defer func() { b.body.Close(); os.Remove(b.body.Name()) }()

	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, fmt.Errorf("restoring: %w", err)
	}
	if _, err := loadIdentity(cfg.TLSDir); errors.Is(err, ErrNoCA) {
		if err := InitCA(cfg.TLSDir, cfg.NodeID); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("restoring: %w", err)
	}
	if err := installSnapshot(raftDir, b, cfg); err != nil {
		// Leave no half-restored raft directory behind.
		os.RemoveAll(raftDir)
		return nil, err
	}
	cfg.Logger.Info("restored backup", "file", file, "index", b.header.Index, "term", b.header.Term, "from_node", b.header.Node)
	n, err := open(ctx, cfg, false)
	if err != nil {
		return nil, err
	}
	if err := n.WaitLeader(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// installSnapshot writes the backup as the only snapshot and sets the term.
func installSnapshot(raftDir string, b *verifiedBackup, cfg Config) error {
	logs, err := openLogStore(filepath.Join(raftDir, "raft.db"))
	if err != nil {
		return err
	}
	defer logs.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 3, newHCLog(cfg.Logger, "raft-snapshot"))
	if err != nil {
		return fmt.Errorf("restoring: opening snapshot store: %w", err)
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(cfg.AdvertiseAddr),
	}}}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(cfg.AdvertiseAddr))
	sink, err := snaps.Create(1, b.header.Index, b.header.Term, conf, b.header.Index, trans)
	if err != nil {
		return fmt.Errorf("restoring: creating snapshot: %w", err)
	}
	if _, err := io.Copy(sink, b.body); err != nil {
		sink.Cancel()
		return fmt.Errorf("restoring: writing snapshot: %w", err)
	}
	if err := sink.Close(); err != nil {
		return fmt.Errorf("restoring: writing snapshot: %w", err)
	}
	if err := logs.SetUint64([]byte("CurrentTerm"), b.header.Term); err != nil {
		return fmt.Errorf("restoring: setting term: %w", err)
	}
	return nil
}
