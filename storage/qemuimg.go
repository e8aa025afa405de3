package storage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// secretArg is the --object that makes qemu-img read a volume's secret from
// file descriptor 3, a pipe: the secret never appears on a command line (where
// ps could see it) nor in a file on disk.
const secretArg = "secret,id=sec0,format=raw,file=/dev/fd/3"

// runQemu runs a qemu tool. When secret is non-nil it is fed through a pipe on
// fd 3 (see secretArg). Errors carry the tool's stderr, which never contains
// the secret.
func runQemu(ctx context.Context, secret []byte, name string, args ...string) ([]byte, error) {
	var lastErr error
	// qemu's PBKDF calibration sometimes fails on a busy host with "Unable to
	// get accurate CPU usage"; it is transient, so retry a few times.
	for attempt := 0; attempt < 3; attempt++ {
		out, err := runQemuOnce(ctx, secret, name, args...)
		if err == nil || !strings.Contains(err.Error(), "accurate CPU usage") {
			return out, err
		}
		lastErr = err
	}
	return nil, lastErr
}

func runQemuOnce(ctx context.Context, secret []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LC_ALL=C"}
	if secret != nil {
		r, w, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("creating secret pipe: %w", err)
		}
		defer r.Close()
		// A secret is far smaller than a pipe buffer, so this write never blocks.
		_, werr := w.Write(secret)
		w.Close()
		if werr != nil {
			return nil, fmt.Errorf("writing secret pipe: %w", werr)
		}
		cmd.ExtraFiles = []*os.File{r}
	}
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fmt.Errorf("%s %s: %w: %s", name, firstArg(args), err, msg)
	}
	return stdout.Bytes(), nil
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// imgInfo is the part of `qemu-img info --output=json` sded relies on.
type imgInfo struct {
	Format          string `json:"format"`
	VirtualSize     int64  `json:"virtual-size"`
	ActualSize      int64  `json:"actual-size"`
	BackingFilename string `json:"backing-filename"`
	FullBacking     string `json:"full-backing-filename"`
	BackingFormat   string `json:"backing-filename-format"`
	Encrypted       bool   `json:"encrypted"`
	FormatSpecific  struct {
		Type string `json:"type"`
		Data struct {
			Corrupt *bool `json:"corrupt"`
			Encrypt *struct {
				Format string `json:"format"`
			} `json:"encrypt"`
		} `json:"data"`
	} `json:"format-specific"`
}

// qemuInfo probes path. format may be empty to let qemu-img probe it; callers
// that accept untrusted files check the probed format and backing file.
func qemuInfo(ctx context.Context, path, format string) (imgInfo, error) {
	args := []string{"info", "--output=json", "-U"}
	if format != "" {
		args = append(args, "-f", format)
	}
	out, err := runQemu(ctx, nil, "qemu-img", append(args, "--", path)...)
	if err != nil {
		return imgInfo{}, err
	}
	var info imgInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return imgInfo{}, fmt.Errorf("parsing qemu-img info of %q: %w", path, err)
	}
	return info, nil
}

// qemuCheck runs `qemu-img check` on a qcow2 file; corruption or leaked
// clusters of a damaged image make it fail.
func qemuCheck(ctx context.Context, path string) error {
	_, err := runQemu(ctx, nil, "qemu-img", "check", "-q", "-f", "qcow2", "--", path)
	return err
}

// luksOpts is the -o value for a LUKS-encrypted qcow2 whose secret is sec0.
func luksOpts(iterTimeMS int) string {
	return "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=" + strconv.Itoa(iterTimeMS)
}
