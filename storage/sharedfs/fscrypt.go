package sharedfs

import (
	"crypto/hkdf"
	"crypto/sha512"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// KeySize is the size of a folder key in bytes (AES-256-XTS takes 512 bits).
const KeySize = 64

// identifierSize is the size of an fscrypt v2 master key identifier.
const identifierSize = unix.FSCRYPT_KEY_IDENTIFIER_SIZE

// Identifier is the fscrypt v2 master key identifier of key, computed as the
// kernel does: HKDF-SHA512, unsalted, info "fscrypt\0" + context 1.
func Identifier(key []byte) ([identifierSize]byte, error) {
	var id [identifierSize]byte
	if len(key) != KeySize {
		return id, fmt.Errorf("folder key is %d bytes, want %d", len(key), KeySize)
	}
	b, err := hkdf.Key(sha512.New, key, nil, "fscrypt\x00\x01", identifierSize)
	if err != nil {
		return id, err
	}
	copy(id[:], b)
	return id, nil
}

// addKeyArg is struct fscrypt_add_key_arg followed by its raw key bytes.
type addKeyArg struct {
	arg unix.FscryptAddKeyArg
	raw [KeySize]byte
}

// addKey adds key to the keyring of the filesystem holding dir and returns
// the identifier the kernel computed.
func addKey(dir string, key []byte) ([identifierSize]byte, error) {
	var id [identifierSize]byte
	if len(key) != KeySize {
		return id, fmt.Errorf("folder key is %d bytes, want %d", len(key), KeySize)
	}
	f, err := os.Open(dir)
	if err != nil {
		return id, err
	}
	defer f.Close()
	a := new(addKeyArg)
	defer clear(a.raw[:])
	a.arg.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	a.arg.Raw_size = KeySize
	copy(a.raw[:], key)
	if err := ioctl(f, unix.FS_IOC_ADD_ENCRYPTION_KEY, unsafe.Pointer(a)); err != nil {
		return id, fmt.Errorf("adding the folder key to the filesystem of %s: %w", dir, unsupported(err))
	}
	copy(id[:], a.arg.Key_spec.U[:identifierSize])
	return id, nil
}

// removeKey removes the key with identifier id from the keyring of the
// filesystem holding dir. Files still open keep their contents readable
// until closed; busy reports whether there were any.
func removeKey(dir string, id [identifierSize]byte) (busy bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var a unix.FscryptRemoveKeyArg
	a.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	copy(a.Key_spec.U[:], id[:])
	if err := ioctl(f, unix.FS_IOC_REMOVE_ENCRYPTION_KEY, unsafe.Pointer(&a)); err != nil {
		if errors.Is(err, unix.ENOKEY) {
			return false, nil // not added (or already removed)
		}
		return false, fmt.Errorf("removing the folder key from the filesystem of %s: %w", dir, unsupported(err))
	}
	return a.Removal_status_flags&unix.FSCRYPT_KEY_REMOVAL_STATUS_FLAG_FILES_BUSY != 0, nil
}

// keyPresent reports whether the key with identifier id is in the keyring of
// the filesystem holding dir.
func keyPresent(dir string, id [identifierSize]byte) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	var a unix.FscryptGetKeyStatusArg
	a.Key_spec.Type = unix.FSCRYPT_KEY_SPEC_TYPE_IDENTIFIER
	copy(a.Key_spec.U[:], id[:])
	if err := ioctl(f, unix.FS_IOC_GET_ENCRYPTION_KEY_STATUS, unsafe.Pointer(&a)); err != nil {
		return false, fmt.Errorf("reading the folder key status on %s: %w", dir, unsupported(err))
	}
	return a.Status == unix.FSCRYPT_KEY_STATUS_PRESENT, nil
}

// setPolicy encrypts the empty directory dir under the key with identifier id.
func setPolicy(dir string, id [identifierSize]byte) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	p := unix.FscryptPolicyV2{
		Version:                   unix.FSCRYPT_POLICY_V2,
		Contents_encryption_mode:  unix.FSCRYPT_MODE_AES_256_XTS,
		Filenames_encryption_mode: unix.FSCRYPT_MODE_AES_256_CTS,
		Flags:                     unix.FSCRYPT_POLICY_FLAGS_PAD_32,
		Master_key_identifier:     id,
	}
	if err := ioctl(f, unix.FS_IOC_SET_ENCRYPTION_POLICY, unsafe.Pointer(&p)); err != nil {
		return fmt.Errorf("encrypting %s: %w", dir, unsupported(err))
	}
	return nil
}

// policy returns the master key identifier of the encrypted directory dir,
// ErrNotEncrypted if it is not encrypted, or an error for a policy sded does
// not make.
func policy(dir string) ([identifierSize]byte, error) {
	var id [identifierSize]byte
	f, err := os.Open(dir)
	if err != nil {
		return id, err
	}
	defer f.Close()
	var a unix.FscryptGetPolicyExArg
	a.Size = uint64(len(a.Policy))
	if err := ioctl(f, unix.FS_IOC_GET_ENCRYPTION_POLICY_EX, unsafe.Pointer(&a)); err != nil {
		if errors.Is(err, unix.ENODATA) {
			return id, ErrNotEncrypted
		}
		return id, fmt.Errorf("reading the encryption policy of %s: %w", dir, unsupported(err))
	}
	p := (*unix.FscryptPolicyV2)(unsafe.Pointer(&a.Policy))
	if p.Version != unix.FSCRYPT_POLICY_V2 || p.Contents_encryption_mode != unix.FSCRYPT_MODE_AES_256_XTS ||
		p.Filenames_encryption_mode != unix.FSCRYPT_MODE_AES_256_CTS {
		return id, fmt.Errorf("%s is encrypted with a policy sded does not make (version %d, modes %d/%d)",
			dir, p.Version, p.Contents_encryption_mode, p.Filenames_encryption_mode)
	}
	return p.Master_key_identifier, nil
}

func ioctl(f *os.File, req uint, arg unsafe.Pointer) error {
	conn, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno unix.Errno
	if err := conn.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(arg))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

// unsupported turns the kernel's "no encryption here" errors into ErrUnsupported.
func unsupported(err error) error {
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTTY) {
		return fmt.Errorf("%w (%v)", ErrUnsupported, err)
	}
	return err
}
