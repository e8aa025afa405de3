// Package storage is sded's storage driver: the cluster key-encryption key,
// per-project data keys, base images, LUKS-encrypted qcow2 volumes and the
// project data volume the airlock fills. It shells out to qemu-img and
// mkfs.ext4 and imports only the standard library; it knows nothing of the
// cluster. Subpackages hold the airlock's staged file store (staged), CSV
// pseudonymisation (pseudonym), disclosure checks (disclosure) and the
// bounded CSV reader they share (table).
//
// # Keys
//
// The cluster key-encryption key (KEK) is 32 random bytes in a root-only
// file (0600 in a 0700 directory) made by CreateKEK at `sded init`; the
// config key [storage] kek_file points to it (default data_dir/keys/kek, i.e.
// /var/lib/sded/keys/kek — on the data disk, see below). LoadKEK refuses a
// file with loose permissions, another owner, or the wrong size.
//
// Every project has a random 256-bit data key (DEK). Only its wrapped form
// (KEK.Wrap: AES-256-GCM, the project ID as additional data, a format
// version and the KEK's ID in the blob) is stored, in replicated state; a
// wrapped key copied to another project does not unwrap. Rewrap moves a
// wrapped key to a new KEK (rotation: load old and new KEK, rewrap every
// project's key through raft, then retire the old file).
//
// From the DEK, HKDF-SHA256 derives one key per purpose: one LUKS secret per
// volume (DEK.VolumeSecret, given both to Volumes and to the volume's libvirt
// secret), the staged-file key and the pseudonymisation key. Per-volume
// secrets mean a secret leaked from one libvirt secret or QEMU process
// unlocks one disk, not the project's other disks, staged files or
// pseudonym mapping; all of them still die with the DEK.
//
// Crypto-shredding: deleting a project's wrapped DEK (archiving) makes every
// copy of its volumes and staged files (backups, snapshots, unused blocks)
// undecryptable; Volumes.RemoveProject and staged.Store.DeleteProject then
// free the space.
//
// # Backing up and placing the KEK
//
// Losing the KEK loses every project's data; leaking it together with the
// replicated state leaks all data keys. Therefore:
//
//   - Back it up once, right after `sded init`, offline: e.g.
//     `base64 /var/lib/sded/keys/kek` printed and stored in a safe, or copied to
//     two encrypted USB sticks kept apart. Check the backup by comparing the
//     KEK ID (`sded` logs it at start; KEK.ID) with the restored file's.
//   - Keep it off the data disk: the KEK must not sit on the disk that holds
//     the volumes and the state, so that a stolen or discarded data disk (or
//     its backup) is useless. Point kek_file at the root file system on
//     another device, a USB stick mounted only at start, or a tmpfs file
//     written at boot from a TPM-sealed blob (systemd-creds encrypt
//     --with-key=tpm2, unsealed by LoadCredentialEncrypted= in the unit).
//   - Every node of the cluster needs the same KEK; copy it over a secure
//     channel when joining a node, never through the cluster itself.
//
// # Volumes
//
// See Volumes for the directory layout. Base images (qcow2 or raw) are
// validated with `qemu-img info` (format, size, no backing file, not
// encrypted, not marked corrupt) and `qemu-img check`, hashed with SHA-256
// while copied, and compared with the expected checksum. Workstation disks
// are LUKS qcow2 overlays of a base image; each project has a read-only
// data volume (and a writable shared folder, kept by storage/sharedfs,
// because a qcow2 image can have only one writer). Secrets reach
// qemu-img through a pipe on fd 3, never a command line or a file.
//
// LUKS key derivation (encrypt.iter-time) is tuned to DefaultIterTimeMS
// instead of qemu's 2000 ms: the secrets are random 256-bit keys, so PBKDF2
// stretching adds no security, while it costs every unlock. Measured on a
// busy 2-core build host (BenchmarkLUKSIterTime): unlock 21-25 ms instead of
// 2.5-2.8 s; create 1.9-3.5 s instead of 5.5-6.3 s. What remains of create is
// qemu's PBKDF2 calibration (twice at least 500 ms of CPU), which qemu-img
// offers no way to skip; it is paid once per volume, not per start.
//
// # Data volume
//
// Approved import files reach guests in the data volume, rebuilt in full on
// every approval without mounting anything (BuildDataVolume): the plaintext
// files go to a tmpfs scratch directory, `mkfs.ext4 -d` makes an ext4 image
// (label sded-data, no journal) of them there, and `qemu-img convert` writes
// it as LUKS qcow2, renamed over the old volume. Guests mount it read-only by
// label; a running guest sees the new version after the disk is re-attached
// or the workstation restarts.
package storage
