package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flowkit/netflow"
)

// -state: the in-memory store's templates and options state saved to a
// file, so that a restarted collector decodes at once instead of waiting
// for the exporters' next template refresh (every 10-60 minutes). The file
// is loaded at start, saved every -state-interval and once more after the
// receiver stopped (on SIGINT or SIGTERM), each time atomically: written to
// a temporary file beside it, synced and renamed over it, so a crash while
// saving leaves the previous snapshot intact.

// openState loads the snapshot at path, if there is one, into a new
// MemoryStore of memCfg. A file that cannot be read or that is not a valid snapshot
// (netflow.ErrMalformed, netflow.ErrLimit) is status 1: the collector
// refuses to start rather than run without the state it was told to keep
// (move the file away to start empty).
func openState(path string, every time.Duration, memCfg netflow.MemoryStoreConfig, stderr io.Writer) (*backend, int) {
	mem := netflow.NewMemoryStore(memCfg)
	loaded, err := netflow.LoadFile(path, mem)
	if err != nil {
		fmt.Fprintf(stderr, "collector: -state %s: %v (move the file away to start without it)\n", path, err)
		return nil, 1
	}
	desc := fmt.Sprintf("state: %s not found, starting empty", path)
	if loaded {
		st := mem.Stats()
		desc = fmt.Sprintf("state: loaded %s: %d templates of %d exporters", path, st.Templates, st.Exporters)
	}
	snap := &snapshots{s: netflow.Snapshotter{Path: path, Store: mem, Interval: every}}
	return &backend{store: mem, mem: mem, snap: snap, desc: desc}, 0
}

// snapshots runs a netflow.Snapshotter until finish.
type snapshots struct {
	s      netflow.Snapshotter
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// start saves every interval from now on, reporting failed saves on w.
func (s *snapshots) start(w io.Writer) {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan error, 1)
	s.s.OnError = func(err error) { fmt.Fprintf(w, "collector: -state: %v\n", err) }
	go func() { s.done <- s.s.Run(ctx) }()
}

// finish stops the periodic saves and saves a last time; it returns that
// save's error. Calls after the first return the same.
func (s *snapshots) finish() error {
	s.once.Do(func() {
		if s.cancel == nil {
			s.err = netflow.SaveFile(s.s.Path, s.s.Store)
			return
		}
		s.cancel()
		s.err = <-s.done
	})
	return s.err
}
