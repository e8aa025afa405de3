// Package staged is the airlock's per-project store of staged files: files
// being imported into a project or exported from it wait here, encrypted
// with a key derived from the project's data key, until reviewers release
// them.
//
// Files are encrypted at rest with AES-256-GCM in 64 KiB chunks (streaming,
// so large files never sit in memory). Each file has a random 32-byte salt;
// its key is HKDF-SHA256(project staging key, salt, project and file id), so
// nonces (a chunk counter) never repeat under one key. The last chunk is
// marked in its nonce, so truncating a file, reordering, swapping chunks
// between files or moving a file to another project all fail authentication.
//
// On the way in, Put refuses unsafe names (CheckName), blocked extensions,
// files over the size limit and archive bombs (zip, tar, gzip: expanded size,
// ratio, entry count, unsafe entry names, nested archives; other archive and
// compression formats are refused because they cannot be inspected). A refused
// file leaves nothing behind.
package staged
