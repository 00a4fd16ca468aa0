//go:build unix

package netflow

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f (flock), held until f is closed or
// its process ends, however it ends: what tells a running save's temporary
// file from one a killed save left. Where the file system has no locks the
// save goes on without one.
func lockFile(f *os.File) {
	for errors.Is(syscall.Flock(int(f.Fd()), syscall.LOCK_EX), syscall.EINTR) {
	}
}

// tryLockFile takes an exclusive lock on f if nobody holds one, and reports
// whether it did. A file system without locks counts as unlocked.
func tryLockFile(f *os.File) bool {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return false
		}
		return true
	}
}
