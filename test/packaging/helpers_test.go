package packaging

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sded/sded/test/testenv"
)

// The versions the tests build: the upgrade test installs old, then new.
const (
	oldVersion = "0.1.0~test1"
	newVersion = "0.1.0~test2"
)

// workDir holds the packages built during one run of the test binary.
var workDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sded-packaging-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the repository's top directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	toolsOnce sync.Once
	toolsErr  error
)

// requireTools makes sure the tools the package tests use are installed
// (installing them through apt when root), or skips (fails in CI).
func requireTools(t testing.TB, cmds ...string) {
	t.Helper()
	testenv.RequireRoot(t)
	toolsOnce.Do(func() {
		out, err := exec.Command("bash", filepath.Join(repoRoot(t), "test/packaging/deps.sh")).CombinedOutput()
		if err != nil {
			toolsErr = fmt.Errorf("test/packaging/deps.sh: %w\n%s", err, out)
		}
	})
	if toolsErr != nil {
		if testenv.InCI() {
			t.Fatal(toolsErr)
		}
		t.Skipf("skipping: cannot install the packaging tools: %v", toolsErr)
	}
	for _, c := range cmds {
		testenv.RequireCommand(t, c)
	}
}

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// buildPackage builds a .deb or .rpm of the working tree at version with
// packaging/build.sh, once per test binary run, and returns its path.
func buildPackage(t testing.TB, kind, version string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := kind + " " + version
	if p, ok := built[key]; ok {
		return p
	}
	dist := filepath.Join(workDir, strings.NewReplacer("~", "_", " ", "-").Replace(key))
	start := time.Now()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", "packaging/build.sh", kind)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "SDED_VERSION="+version, "SDED_DIST_DIR="+dist)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("packaging/build.sh %s (version %s): %v\n%s", kind, version, err, stderr.String())
	}
	p := strings.TrimSpace(stdout.String())
	if !filepath.IsAbs(p) {
		p = filepath.Join(repoRoot(t), p)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("packaging/build.sh %s printed %q, which does not exist: %v", kind, p, err)
	}
	t.Logf("built %s in %v", filepath.Base(p), time.Since(start).Round(time.Second))
	built[key] = p
	return p
}

// run runs a command and returns its combined output, failing the test on error.
func run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	out, err := runErr(env, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return out
}

func runErr(env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
