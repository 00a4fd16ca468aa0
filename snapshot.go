package netflow

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
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
// same directory, synced, then renamed over path, so that a crash while
// writing leaves the previous snapshot intact.
func SaveFile(path string, s Saver) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := s.Save(tmp); err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("netflow: snapshot: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself; not every file system can
		d.Close()
	}
	return nil
}

// LoadFile loads the snapshot at path into l. A missing file is not an
// error (a first start): LoadFile returns false. Anything wrong inside the
// file is an error matching ErrMalformed or ErrLimit, as Load says.
func LoadFile(path string, l Loader) (loaded bool, err error) {
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
