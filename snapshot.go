package netflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Snapshots: a store's state saved to a file so that a restarted collector
// starts with its templates and options state.

// Saver is a store that can write its state (MemoryStore does).
type Saver interface {
	Save(w io.Writer) error
}

// Loader is a store that can read what its Save wrote (MemoryStore does).
type Loader interface {
	Load(r io.Reader) error
}

// SaveFile writes s's state to path atomically: to a temporary file in the
// same directory (named ".BASE.tmp" and digits), synced, then renamed over
// path, so that a crash while writing leaves the previous snapshot intact.
// A save killed before the rename leaves its temporary file behind: the
// next SaveFile or LoadFile of path removes such stale files
// (RemoveStaleTemps), never the temporary file of a save still running.
func SaveFile(path string, s Saver) (err error) {
	RemoveStaleTemps(path)
	tmp, err := createLockedTemp(path)
	if err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp.Name())
			tmp.Close() // after the removal: releases the lock
		}
	}()
	if err := s.Save(tmp); err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	renamed = true
	if err := tmp.Close(); err != nil { // after the rename: releases the lock
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync() // the rename itself; not every file system can
		d.Close()
	}
	return nil
}

// tempPrefix is the start of the names of path's temporary files.
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp" }

// createLockedTemp creates a temporary file for path and holds a lock on it
// (lockFile) until it is closed, so that RemoveStaleTemps run by another
// process, or another goroutine, leaves it alone. A temporary file removed
// between its creation and the lock is made again.
func createLockedTemp(path string) (*os.File, error) {
	for {
		tmp, err := os.CreateTemp(filepath.Dir(path), tempPrefix(path)+"*")
		if err != nil {
			return nil, err
		}
		lockFile(tmp)
		held, err := tmp.Stat()
		if err != nil {
			tmp.Close()
			return nil, err
		}
		if named, err := os.Stat(tmp.Name()); err == nil && os.SameFile(held, named) {
			return tmp, nil
		}
		tmp.Close() // removed as stale before it was locked: again
	}
}

// RemoveStaleTemps removes the temporary files that saves of path killed
// before their rename left behind (SIGKILL, a crash, power loss), and
// returns how many it removed. A temporary file whose save still runs, in
// this process or another, is locked by it and left alone; on systems
// without file locks (other than Windows, where an open file cannot be
// removed) such a save fails at its rename instead. SaveFile and LoadFile
// call it; it is best effort and reports no error.
func RemoveStaleTemps(path string) int {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	prefix := tempPrefix(path)
	removed := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !isDigits(name[len(prefix):]) || !e.Type().IsRegular() {
			continue
		}
		if removeIfUnlocked(filepath.Join(dir, name)) {
			removed++
		}
	}
	return removed
}

// isDigits reports whether s is what os.CreateTemp puts for its "*": one
// or more decimal digits.
func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// removeIfUnlocked removes the file at name unless a running save holds its
// lock, and reports whether it did.
func removeIfUnlocked(name string) bool {
	f, err := os.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if !tryLockFile(f) {
		return false
	}
	// Removed while locked: a save that created this file but had not
	// locked it yet sees it gone (createLockedTemp) and makes another.
	return os.Remove(name) == nil
}

// LoadFile loads the snapshot at path into l. A missing file is not an
// error (a first start): LoadFile returns false. Anything wrong inside the
// file is an error matching ErrMalformed or ErrLimit, as Load says. Stale
// temporary files of killed saves are removed first (RemoveStaleTemps).
func LoadFile(path string, l Loader) (loaded bool, err error) {
	RemoveStaleTemps(path)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("netflow: snapshot: %w", err)
	}
	defer f.Close()
	if err := l.Load(f); err != nil {
		return false, err
	}
	return true, nil
}

// Snapshotter saves a store to a file every Interval and once more when it
// stops.
type Snapshotter struct {
	Path     string
	Store    Saver
	Interval time.Duration // 0 means 30 seconds
	// OnError, if set, learns of each failed save; Run goes on.
	OnError func(error)
}

// Run saves every Interval until ctx is done, then saves a last time and
// returns that save's error.
func (s *Snapshotter) Run(ctx context.Context) error {
	every := s.Interval
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return SaveFile(s.Path, s.Store)
		case <-t.C:
			if err := SaveFile(s.Path, s.Store); err != nil && s.OnError != nil {
				s.OnError(err)
			}
		}
	}
}
