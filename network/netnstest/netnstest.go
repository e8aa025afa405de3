// Package netnstest gives tests throwaway network namespaces: create one,
// run code or commands inside it, and have it deleted (with everything in it)
// when the test ends, so tests never touch the host's own network.
package netnstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// NS is a named network namespace owned by a test.
type NS struct {
	Name   string
	Handle netns.NsHandle
}

// New creates a namespace named "sded-<tag>-<random>", with loopback up, and
// deletes it in t.Cleanup.
func New(t testing.TB, tag string) *NS {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "sded-" + tag + "-" + hex.EncodeToString(b)
	ch := make(chan error, 1)
	var h netns.NsHandle
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			ch <- err
			return
		}
		defer orig.Close()
		h, err = netns.NewNamed(name)
		if err != nil {
			ch <- fmt.Errorf("creating namespace %s: %w", name, err)
			return
		}
		if err := netns.Set(orig); err != nil {
			ch <- err // leave the thread locked: it dies with this goroutine
			return
		}
		runtime.UnlockOSThread()
		ch <- nil
	}()
	if err := <-ch; err != nil {
		t.Fatal(err)
	}
	ns := &NS{Name: name, Handle: h}
	t.Cleanup(func() {
		h.Close()
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("deleting namespace %s: %v", name, err)
		}
	})
	ns.MustRun(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Do runs fn on an OS thread switched into the namespace and returns its
// error. Everything fn does on that thread (sockets, netlink handles, child
// processes) happens in the namespace.
//
// fn must not call t.Fatal (it runs on another goroutine); if it exits that
// way anyway, Do returns an error instead of hanging, and the thread, still
// locked and in the namespace, is discarded.
func (ns *NS) Do(fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		result := errors.New("function passed to Do exited without returning (t.Fatal or runtime.Goexit)")
		defer func() { ch <- result }()
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			result = err
			return
		}
		defer orig.Close()
		if err := netns.Set(ns.Handle); err != nil {
			result = fmt.Errorf("entering %s: %w", ns.Name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			result = fmt.Errorf("leaving %s: %w", ns.Name, err) // thread stays locked and dies
			return
		}
		runtime.UnlockOSThread()
		result = ferr
	}()
	return <-ch
}

// Run runs a command inside the namespace and returns its combined output.
func (ns *NS) Run(args ...string) (string, error) {
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns.Name}, args...)...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s in %s: %w: %s", strings.Join(args, " "), ns.Name, err, out)
	}
	return string(out), nil
}

// MustRun is Run that fails the test on error.
func (ns *NS) MustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Run(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}
