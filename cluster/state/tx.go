package state

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sded/sded/cluster/model"
	bolt "go.etcd.io/bbolt"
)

// Tx is a typed view of one bbolt transaction. Every value a getter returns
// is decoded from the transaction's bytes, so it is a copy that stays valid
// after the transaction ends. Setters exist for the FSM; they fail in a
// read-only transaction.
type Tx struct {
	tx *bolt.Tx
}

func decode[T any](b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("decoding %T: %w", v, err)
	}
	return v, nil
}

func (t *Tx) bucket(name []byte) *bolt.Bucket {
	b := t.tx.Bucket(name)
	if b == nil {
		// Open guarantees every bucket of the schema exists.
		panic(fmt.Sprintf("state: bucket %s missing", name))
	}
	return b
}

func get[T any](t *Tx, bucket, k []byte, kind, id string) (T, error) {
	v := t.bucket(bucket).Get(k)
	if v == nil {
		var zero T
		return zero, model.Errorf(model.CodeNotFound, "%s %q not found", kind, id)
	}
	return decode[T](v)
}

func put(t *Tx, bucket, k []byte, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding %T: %w", v, err)
	}
	return t.bucket(bucket).Put(k, b)
}

func list[T any](t *Tx, bucket []byte) ([]T, error) {
	var out []T
	err := t.bucket(bucket).ForEach(func(k, v []byte) error {
		x, err := decode[T](v)
		if err != nil {
			return fmt.Errorf("%s/%q: %w", bucket, k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}

// indexed returns the values of main whose IDs follow prefix NUL in idx.
func indexed[T any](t *Tx, idx, main []byte, prefix, kind string) ([]T, error) {
	var out []T
	p := key(prefix, "")
	c := t.bucket(idx).Cursor()
	for k, _ := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, _ = c.Next() {
		id := string(k[len(p):])
		v, err := get[T](t, main, []byte(id), kind, id)
		if err != nil {
			return nil, fmt.Errorf("index %s is inconsistent: %w", idx, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// AppliedIndex is the last raft index applied.
func (t *Tx) AppliedIndex() uint64 { return readU64(t.bucket(bMeta).Get(kAppliedIndex)) }

// SetAppliedIndex records the last raft index applied.
func (t *Tx) SetAppliedIndex(i uint64) error { return t.bucket(bMeta).Put(kAppliedIndex, u64(i)) }

// SchemaVersion is the file's schema version.
func (t *Tx) SchemaVersion() uint64 { return readU64(t.bucket(bMeta).Get(kSchemaVersion)) }

func (t *Tx) next(k []byte) (uint32, error) {
	n := readU64(t.bucket(bMeta).Get(k)) + 1
	if n > 1<<24-1 {
		return 0, model.Errorf(model.CodeConflict, "%s exhausted", k)
	}
	return uint32(n), t.bucket(bMeta).Put(k, u64(n))
}

// SubnetPool returns the project address pool the cluster allocates from,
// "" before the first project recorded one.
func (t *Tx) SubnetPool() string { return string(t.bucket(bMeta).Get(kSubnetPool)) }

// SetSubnetPool records the project address pool.
func (t *Tx) SetSubnetPool(pool string) error { return t.bucket(bMeta).Put(kSubnetPool, []byte(pool)) }

// NextProjectNumber allocates the next project number (1, 2, ...).
func (t *Tx) NextProjectNumber() (uint32, error) { return t.next(kProjectNumber) }

// NextWorkstationNumber allocates the next workstation number (1, 2, ...).
func (t *Tx) NextWorkstationNumber() (uint32, error) { return t.next(kWorkstationNumber) }

// Setting returns a setting.
func (t *Tx) Setting(k string) (model.Setting, error) {
	return get[model.Setting](t, bSettings, []byte(k), "setting", k)
}

// Settings returns every setting.
func (t *Tx) Settings() ([]model.Setting, error) { return list[model.Setting](t, bSettings) }

// PutSetting stores a setting.
func (t *Tx) PutSetting(s model.Setting) error { return put(t, bSettings, []byte(s.Key), s) }

// Image returns an image.
func (t *Tx) Image(id string) (model.Image, error) {
	return get[model.Image](t, bImages, []byte(id), "image", id)
}

// Images returns every image.
func (t *Tx) Images() ([]model.Image, error) { return list[model.Image](t, bImages) }

// PutImage stores an image.
func (t *Tx) PutImage(i model.Image) error { return put(t, bImages, []byte(i.ID), i) }

// DeleteImage removes an image.
func (t *Tx) DeleteImage(id string) error { return t.bucket(bImages).Delete([]byte(id)) }

// Node returns a node.
func (t *Tx) Node(id string) (model.Node, error) {
	return get[model.Node](t, bNodes, []byte(id), "node", id)
}

// Nodes returns every node.
func (t *Tx) Nodes() ([]model.Node, error) { return list[model.Node](t, bNodes) }

// PutNode stores a node.
func (t *Tx) PutNode(n model.Node) error { return put(t, bNodes, []byte(n.ID), n) }

// DeleteNode removes a node.
func (t *Tx) DeleteNode(id string) error { return t.bucket(bNodes).Delete([]byte(id)) }

// RequestResult returns the stored result of a request ID, if any.
func (t *Tx) RequestResult(id string) ([]byte, bool) {
	v := t.bucket(bRequests).Get([]byte(id))
	if v == nil {
		return nil, false
	}
	return bytes.Clone(v), true
}

// PutRequestResult remembers a request ID's result, keeping at most max
// entries (the oldest, by raft index, go first).
func (t *Tx) PutRequestResult(id string, index uint64, result []byte, max int) error {
	if err := t.bucket(bRequests).Put([]byte(id), result); err != nil {
		return err
	}
	order := t.bucket(bRequestsOrder)
	if err := order.Put(u64(index), []byte(id)); err != nil {
		return err
	}
	meta := t.bucket(bMeta)
	n := readU64(meta.Get(kRequestCount)) + 1
	for ; n > uint64(max); n-- {
		k, v := order.Cursor().First()
		if k == nil {
			break
		}
		if err := t.bucket(bRequests).Delete(bytes.Clone(v)); err != nil {
			return err
		}
		if err := order.Delete(bytes.Clone(k)); err != nil {
			return err
		}
	}
	return meta.Put(kRequestCount, u64(n))
}
