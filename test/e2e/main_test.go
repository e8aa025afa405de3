package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// sdedBin is the daemon binary the tests run, built once by TestMain.
var sdedBin string

// buildErr is why the binary could not be built; tests fail with it.
var buildErr error

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sded-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// QEMU never needs this directory, but sded's own helpers may be run
	// from it by other users' tools: keep it traversable.
	_ = os.Chmod(dir, 0o711)
	if b := os.Getenv("SDED_E2E_BIN"); b != "" {
		// A binary built elsewhere (e.g. bin/sded from `make build`).
		sdedBin, err = filepath.Abs(b)
		if err != nil {
			buildErr = err
		}
		return m.Run()
	}
	sdedBin = filepath.Join(dir, "sded")
	root, err := filepath.Abs("../..")
	if err == nil {
		cmd := exec.Command("go", "build", "-o", sdedBin, "./cmd/sded")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/sded: %v\n%s", err, out)
		}
	} else {
		buildErr = err
	}
	return m.Run()
}

// requireBinary fails the test when the daemon could not be built.
func requireBinary(t testing.TB) {
	t.Helper()
	if buildErr != nil {
		t.Fatal(buildErr)
	}
}
