// Package seed writes cloud-init NoCloud seed images: a small FAT filesystem
// labelled "cidata" holding meta-data, user-data, an optional network-config and
// any extra files, built in pure Go (no mkfs or genisoimage on the host). A
// workstation gets its seed as a read-only disk; real cloud images personalise
// themselves from it, and sded's test guest reads it to find its probe script.
package seed

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// Label is the filesystem label cloud-init's NoCloud datasource looks for.
const Label = "cidata"

// Config is what a seed holds.
type Config struct {
	// InstanceID is meta-data's instance-id; cloud-init re-runs per-instance
	// modules when it changes. Required.
	InstanceID string
	// Hostname is meta-data's local-hostname. Required.
	Hostname string
	// UserData is user-data verbatim (a #cloud-config document or a script).
	// Empty means an empty #cloud-config.
	UserData []byte
	// NetworkConfig is network-config verbatim (cloud-init network config
	// version 2); empty leaves it out.
	NetworkConfig []byte
	// Files are extra files in the seed's root directory, by name.
	Files map[string][]byte
}

var (
	hostnameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	idRE       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	fileRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

var reserved = map[string]bool{"meta-data": true, "user-data": true, "network-config": true, "vendor-data": true}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if !idRE.MatchString(c.InstanceID) {
		return fmt.Errorf("seed instance id %q: want 1-128 of letters, digits, '.', '_', '-'", c.InstanceID)
	}
	if !hostnameRE.MatchString(c.Hostname) {
		return fmt.Errorf("seed hostname %q: want a DNS label (lower-case letters, digits, '-', at most 63)", c.Hostname)
	}
	for name := range c.Files {
		if !fileRE.MatchString(name) {
			return fmt.Errorf("seed file name %q: want 1-64 of letters, digits, '.', '_', '-'", name)
		}
		if reserved[strings.ToLower(name)] {
			return fmt.Errorf("seed file name %q is reserved for cloud-init", name)
		}
	}
	return nil
}

// Image returns the seed image for c.
func Image(c Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	meta := fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", c.InstanceID, c.Hostname)
	user := c.UserData
	if len(user) == 0 {
		user = []byte("#cloud-config\n{}\n")
	}
	files := []file{{"meta-data", []byte(meta)}, {"user-data", user}}
	if len(c.NetworkConfig) > 0 {
		files = append(files, file{"network-config", c.NetworkConfig})
	}
	names := make([]string, 0, len(c.Files))
	for n := range c.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		files = append(files, file{n, c.Files[n]})
	}
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%s\x00%d\x00", f.name, len(f.data))
		h.Write(f.data)
	}
	return fatImage(Label, binary.BigEndian.Uint32(h.Sum(nil)), files)
}

// Write writes the seed image for c to path (mode 0600), replacing it
// atomically; on error nothing is left at path that was not there before.
func Write(path string, c Config) error {
	img, err := Image(c)
	if err != nil {
		return fmt.Errorf("building seed %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".seed-*")
	if err != nil {
		return fmt.Errorf("writing seed %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(img)
	err = errors.Join(err, tmp.Chmod(0o600), tmp.Sync(), tmp.Close())
	if err != nil {
		return fmt.Errorf("writing seed %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing seed %s: %w", path, err)
	}
	return nil
}
