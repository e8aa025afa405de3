package cluster

import (
	"os"
	"path/filepath"
)

// CheckBackup verifies a backup file (magic, header, length and SHA-256)
// without restoring it: `sded backup` uses it to refuse to keep a backup that
// did not arrive whole.
func CheckBackup(path string) error {
	b, err := readBackup(path, filepath.Dir(path))
	if err != nil {
		return err
	}
	b.body.Close()
	return os.Remove(b.body.Name())
}
