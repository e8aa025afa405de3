package storage

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
)

// DEKSize is the size in bytes of a project data key.
const DEKSize = 32

const wrapVersion = 1

// wrappedSize is version(1) | kek id(8) | nonce(12) | ciphertext(32) | tag(16).
const wrappedSize = 1 + 8 + 12 + DEKSize + 16

var (
	// ErrWrongKEK means a wrapped key was made under another key-encryption
	// key (check KEK IDs; rotate with Rewrap).
	ErrWrongKEK = errors.New("wrapped key was made under a different key-encryption key")
	// ErrUnwrap means a wrapped key failed authentication: it is corrupt or
	// belongs to another project.
	ErrUnwrap = errors.New("wrapped key does not authenticate (corrupt, or wrapped for another project)")
)

// DEK is a project's random 256-bit data key. It never leaves memory
// unwrapped; purpose-specific keys are derived from it (see Derive).
type DEK struct{ key [DEKSize]byte }

// NewDEK returns a fresh random data key.
func NewDEK() (*DEK, error) {
	d := &DEK{}
	if _, err := io.ReadFull(rand.Reader, d.key[:]); err != nil {
		return nil, fmt.Errorf("generating data key: %w", err)
	}
	return d, nil
}

// Derive returns a 32-byte key for one purpose, derived from the data key with
// HKDF-SHA256 (info = "sded v1\x00" + purpose). Different purposes give
// independent keys, so the LUKS secret handed to libvirt for one volume
// reveals nothing about other volumes, the staged files or pseudonyms, while
// destroying the wrapped DEK still destroys them all.
func (d *DEK) Derive(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, d.key[:], nil, "sded v1\x00"+purpose, 32)
	if err != nil {
		panic("hkdf: " + err.Error()) // only fails for lengths > 255*32
	}
	return k
}

// VolumeSecret is the LUKS passphrase of one volume: the hex encoding of a
// key derived for that volume's name. It is what storage.Volumes and the
// libvirt secret of the volume must both be given. Hex keeps it printable so
// it survives any tool (virsh, cryptsetup) unchanged.
func (d *DEK) VolumeSecret(volume string) []byte {
	k := d.Derive("volume\x00" + volume)
	out := make([]byte, hex.EncodedLen(len(k)))
	hex.Encode(out, k)
	return out
}

// SharedFolderKey is the 512-bit key of the project's shared folder
// (storage/sharedfs: fscrypt AES-256-XTS takes 64 bytes).
func (d *DEK) SharedFolderKey() []byte {
	k, err := hkdf.Key(sha256.New, d.key[:], nil, "sded v1\x00shared-folder", 64)
	if err != nil {
		panic("hkdf: " + err.Error())
	}
	return k
}

// StagingKey is the key that encrypts the project's staged airlock files.
func (d *DEK) StagingKey() []byte { return d.Derive("staging") }

// PseudonymKey is the project's HMAC key for pseudonymising identifiers.
func (d *DEK) PseudonymKey() []byte { return d.Derive("pseudonym") }

func wrapAAD(projectID string, header []byte) []byte {
	aad := append([]byte("sded dek v1\x00"), header...)
	return append(aad, projectID...)
}

// Wrap encrypts the data key under the KEK with AES-256-GCM, binding it to
// projectID (additional data), so the blob cannot be moved to another project.
// The blob carries a format version and the KEK's ID.
func (k *KEK) Wrap(projectID string, d *DEK) ([]byte, error) {
	if projectID == "" {
		return nil, errors.New("wrapping data key: empty project id")
	}
	gcm, err := newGCM(k.key[:])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, wrappedSize)
	out = append(out, wrapVersion)
	out = append(out, k.id[:]...)
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("wrapping data key: %w", err)
	}
	out = append(out, nonce...)
	return gcm.Seal(out, nonce, d.key[:], wrapAAD(projectID, out[:9])), nil
}

// Unwrap decrypts a blob made by Wrap for projectID.
func (k *KEK) Unwrap(projectID string, blob []byte) (*DEK, error) {
	id, err := WrappedKEKID(blob)
	if err != nil {
		return nil, err
	}
	if id != k.ID() {
		return nil, fmt.Errorf("unwrapping data key of project %q: made under KEK %s, have %s: %w", projectID, id, k.ID(), ErrWrongKEK)
	}
	gcm, err := newGCM(k.key[:])
	if err != nil {
		return nil, err
	}
	pt, err := gcm.Open(nil, blob[9:21], blob[21:], wrapAAD(projectID, blob[:9]))
	if err != nil {
		return nil, fmt.Errorf("unwrapping data key of project %q: %w", projectID, ErrUnwrap)
	}
	d := &DEK{}
	copy(d.key[:], pt)
	clear(pt)
	return d, nil
}

// WrappedKEKID returns the ID of the KEK that wrapped blob.
func WrappedKEKID(blob []byte) (string, error) {
	if len(blob) != wrappedSize {
		return "", fmt.Errorf("wrapped data key is %d bytes, want %d: %w", len(blob), wrappedSize, ErrUnwrap)
	}
	if blob[0] != wrapVersion {
		return "", fmt.Errorf("wrapped data key has format version %d, want %d: %w", blob[0], wrapVersion, ErrUnwrap)
	}
	return hex.EncodeToString(blob[1:9]), nil
}

// Rewrap moves a wrapped data key from the old KEK to the new one (KEK
// rotation). The data key itself, and so every volume, is unchanged.
func Rewrap(from, to *KEK, projectID string, blob []byte) ([]byte, error) {
	d, err := from.Unwrap(projectID, blob)
	if err != nil {
		return nil, fmt.Errorf("rewrapping: %w", err)
	}
	return to.Wrap(projectID, d)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("aes: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("gcm: %w", err)
	}
	return g, nil
}
