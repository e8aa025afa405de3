// Package sharedfs keeps each project's shared folder: a directory that every
// running workstation of the project mounts (libvirt hands it to the guests
// with virtiofs), encrypted at rest by the kernel's file-based encryption
// (fscrypt, v2 policy: AES-256-XTS for contents, AES-256-CTS for names) under
// a 512-bit key derived from the project's data key.
//
// Layout under the root directory (0700, root-only):
//
//	root/
//	  PROJECT/   0777, fscrypt-encrypted; what guests see as the shared folder
//	  .tmp/      0700, directories being created, renamed into place
//
// The key is added to the filesystem's keyring while the project has running
// workstations (Unlock) and removed when it has none (Lock): a locked folder
// shows only encrypted names and contents, even to root. Destroying the
// project's data key (crypto-shredding) leaves the ciphertext unreadable;
// Delete then removes it.
//
// The root must be on a filesystem with encryption enabled: ext4 with the
// "encrypt" feature (tune2fs -O encrypt DEVICE), or f2fs. sded does not fall
// back to an unencrypted folder: Unlock fails with ErrUnsupported instead.
package sharedfs
