package network

import (
	"os"
	"syscall"
)

func flock(f *os.File) error { return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) }
func unflock(f *os.File)     { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }
