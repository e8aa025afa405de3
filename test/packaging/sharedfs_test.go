package packaging

import (
	"testing"

	"github.com/sded/sded/test/testenv"
)

// withEncryptedShared gives the booted container what docs/install.md asks
// of a host: a filesystem with encryption enabled at sded's shared folders
// (/var/lib/sded/shared), here an ext4 image loop-mounted on the host and
// bound into the container. The bind exists only while the container runs,
// so removing and purging the package still see an ordinary directory tree.
func withEncryptedShared(t *testing.T, r *debianRoot) {
	t.Helper()
	mnt, _ := testenv.EncryptedFS(t, 256)
	r.binds = append(r.binds, mnt+":/var/lib/sded/shared")
}
