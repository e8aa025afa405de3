package hypervisor

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// reapVirtiofsd stops the virtiofsd processes libvirt started for domain
// name and lost track of, and returns how many it stopped. libvirt 9 starts
// one virtiofsd per share before QEMU; when libvirtd dies between the two,
// the virtiofsd waits for QEMU forever and keeps its log file, so every
// later start of the domain fails with "Cannot open log file ... Device or
// resource busy". Call it only while the domain is not running: then no
// virtiofsd of it is live. A virtiofsd is the domain's when one of its
// sockets is bound in libvirt's directory of the domain,
// .../domain-ID-SHORTNAME/ (SHORTNAME: the name's first 20 bytes). Only
// works for a local libvirtd (it reads /proc).
func reapVirtiofsd(log *slog.Logger, name string) int {
	short := name
	if len(short) > 20 {
		short = short[:20]
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if comm, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm")); strings.TrimSpace(string(comm)) != "virtiofsd" {
			continue
		}
		if !ownedBy(pid, short) {
			continue
		}
		log.Warn("stopping a virtiofsd libvirt lost track of", "domain", name, "pid", pid)
		if err := stopProcess(pid); err != nil {
			log.Warn("stopping stray virtiofsd", "domain", name, "pid", pid, "err", err)
			continue
		}
		n++
	}
	return n
}

// ownedBy reports whether process pid has a unix socket bound in libvirt's
// directory of the domain with short name short.
func ownedBy(pid int, short string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	fds, err := os.ReadDir(filepath.Join(dir, "fd"))
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	if len(inodes) == 0 {
		return false
	}
	f, err := os.Open(filepath.Join(dir, "net", "unix"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || !inodes[fields[6]] {
			continue
		}
		base := filepath.Base(filepath.Dir(fields[7])) // domain-ID-SHORTNAME
		rest, ok := strings.CutPrefix(base, "domain-")
		if !ok {
			continue
		}
		id, sn, ok := strings.Cut(rest, "-")
		if _, err := strconv.Atoi(id); ok && err == nil && sn == short {
			return true
		}
	}
	return false
}

// stopProcess sends SIGTERM, then SIGKILL after 2 s.
func stopProcess(pid int) error {
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return fmt.Errorf("signalling %d: %w", pid, err)
	}
	for range 20 {
		time.Sleep(100 * time.Millisecond)
		if !alive(pid) {
			return nil
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("killing %d: %w", pid, err)
	}
	return nil
}

// alive reports whether pid runs (a zombie counts as gone).
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// pid (comm) STATE ...
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// local reports whether libvirtd runs on this host (a URI without a host
// name), so its processes are in /proc.
func (d *Driver) local() bool {
	u, err := url.Parse(d.uri)
	return err == nil && u.Host == ""
}
