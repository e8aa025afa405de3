package airlocktest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the sded binary sdedBin built, if it built one.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" && os.Getenv("SDED_BIN") == "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}
