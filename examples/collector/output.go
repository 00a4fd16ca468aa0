package main

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/flowkit/netflow/internal/polltimer"
)

// The output's bounds and pace: what the handlers may leave pending for
// standard output, how much pending output makes the writer write at once,
// how often it writes what is pending otherwise, and how long a stopping
// collector waits for the rest to be written.
const (
	outputLimit   = 32 << 20
	flushSize     = 1 << 20
	flushInterval = 100 * time.Millisecond
	flushTimeout  = time.Second
)

// writerBackstop is how long the writer sleeps after a write unless a
// handler kicks it earlier: a handler that hands output over flushInterval
// or more after the last write wakes the writer (so that, while output
// comes, the writer runs right after a handler, in the wake-up that brought
// the handler's datagrams, and costs no wake-up of its own); the backstop
// writes what the last handler of a burst left. writerQuietTicks is how
// many backstops without output put the writer to sleep until the next
// output; maxFreeBuffers is how many
// written buffers it keeps for the handlers to reuse (a handler's output
// is a datagram's lines: up to a few tens of KiB).
const (
	writerBackstop   = flushInterval * 3 / 2
	writerQuietTicks = 4
	maxFreeBuffers   = 256
)

// boundedWriter writes the handlers' output to a slow or stalled writer
// from a goroutine of its own, in large writes: a handler hands its
// buffer of lines over (hand), and the writer writes what is pending every
// flushInterval, or at once when flushSize is pending, in one writev for a
// file. A handler thus costs no system call and wakes no goroutine, but
// when output starts after a quiet spell, is large, or is due
// (writerBackstop). While the collector
// runs, a handler that finds outputLimit bytes pending waits (the receiver
// then queues and counts the datagrams it cannot hand over); once
// stopBlocking is called, such output is dropped and counted, so that a
// stalled standard output cannot hold the shutdown.
type boundedWriter struct {
	w io.Writer
	// clock is the writer's flushInterval and its wake-up (Wake, the
	// kick): output after a quiet spell, flushSize pending, or close. A
	// poll timer, not a time.Ticker: a runtime timer firing ten times a
	// second also wakes the runtime's monitor thread each time.
	clock *polltimer.Timer
	done  chan struct{} // closed when the writer has ended

	mu        sync.Mutex
	room      sync.Cond // handlers waiting for pending output to be taken
	pending   [][]byte  // handed over, not yet taken by the writer
	bytes     int       // in pending
	writing   int       // buffers the writer is writing now
	asleep    bool      // the writer waits for a kick
	kicked    bool      // a handler kicked the writer since its last write
	lastWrite time.Time // when the writer last took pending output
	noBlock   bool      // stopBlocking was called
	closed    bool      // close was called
	dropped   int       // buffers dropped
	free      [][]byte  // written buffers, for hand's callers to reuse
	closeOnce sync.Once
}

func newBoundedWriter(w io.Writer) *boundedWriter {
	b := unstartedWriter(w)
	go b.run()
	return b
}

// unstartedWriter is a boundedWriter whose writer goroutine (run) is not
// started yet.
func unstartedWriter(w io.Writer) *boundedWriter {
	b := &boundedWriter{w: w, clock: polltimer.New(), done: make(chan struct{})}
	b.room.L = &b.mu
	return b
}

// hand hands p over to be written and returns an empty buffer for the
// caller's next output (a written one, when there is one).
func (b *boundedWriter) hand(p []byte) []byte {
	if len(p) == 0 {
		return p
	}
	b.mu.Lock()
	for b.bytes+len(p) > outputLimit && b.bytes > 0 && !b.noBlock {
		b.room.Wait()
	}
	if b.closed || (b.bytes+len(p) > outputLimit && b.bytes > 0) {
		b.dropped++
		b.mu.Unlock()
		return p[:0]
	}
	b.pending = append(b.pending, p)
	b.bytes += len(p)
	wake := b.asleep || b.bytes >= flushSize && b.bytes-len(p) < flushSize
	if !wake && !b.kicked && time.Since(b.lastWrite) >= flushInterval {
		wake = true // due: write now rather than at the backstop
	}
	b.kicked = b.kicked || wake
	b.asleep = false
	var next []byte
	if n := len(b.free); n > 0 {
		next, b.free = b.free[n-1], b.free[:n-1]
	}
	b.mu.Unlock()
	if wake {
		b.clock.Wake()
	}
	if next == nil {
		// As large as this one: the next output is likely as large.
		next = make([]byte, 0, cap(p))
	}
	return next
}

// write hands a copy of p over.
func (b *boundedWriter) write(p []byte) {
	b.hand(append([]byte(nil), p...))
}

// run is the writer.
func (b *boundedWriter) run() {
	defer close(b.done)
	defer b.clock.Close()
	var bufs [][]byte
	quiet := 0
	woken := false
	for {
		if !woken {
			b.clock.Sleep(writerBackstop) // or until a Wake
		}
		woken = false
		b.mu.Lock()
		if len(b.pending) == 0 {
			if b.closed {
				b.mu.Unlock()
				return
			}
			if quiet++; quiet >= writerQuietTicks {
				// Sleep until output comes (hand wakes an asleep writer).
				b.asleep = true
				b.mu.Unlock()
				for b.clock.Sleep(time.Hour) == nil && b.isAsleep() {
				}
				quiet, woken = 0, true
				continue
			}
			b.mu.Unlock()
			continue
		}
		quiet = 0
		b.kicked, b.lastWrite = false, time.Now()
		bufs, b.pending = b.pending, bufs[:0]
		b.bytes = 0
		b.writing = len(bufs)
		b.room.Broadcast()
		b.mu.Unlock()
		writeBuffers(b.w, bufs)
		b.mu.Lock()
		b.writing = 0
		for i, p := range bufs {
			if len(b.free) < maxFreeBuffers && cap(p) <= 4*flushSize {
				b.free = append(b.free, p[:0])
			}
			bufs[i] = nil
		}
		b.mu.Unlock()
		bufs = bufs[:0]
	}
}

// isAsleep reports whether the writer still waits for output.
func (b *boundedWriter) isAsleep() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.asleep
}

// stopBlocking makes output that finds outputLimit bytes pending dropped
// instead of waiting.
func (b *boundedWriter) stopBlocking() {
	b.mu.Lock()
	b.noBlock = true
	b.room.Broadcast()
	b.mu.Unlock()
}

// close ends the output once nothing hands any over, waits up to timeout
// for what is pending to be written, and returns the number of buffers
// (handler calls' output) dropped or not written. Calls after the first
// only wait.
func (b *boundedWriter) close(timeout time.Duration) int {
	b.closeOnce.Do(func() {
		b.mu.Lock()
		b.noBlock, b.closed, b.asleep = true, true, false
		b.room.Broadcast()
		b.mu.Unlock()
		b.clock.Wake()
	})
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-b.done:
	case <-t.C:
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped + len(b.pending) + b.writing
}

// writeBuffers writes bufs in order: with writev for a file (see
// writevFile), else one Write each. It stops at the first error.
func writeBuffers(w io.Writer, bufs [][]byte) error {
	if f, ok := w.(*os.File); ok {
		if done, err := writevFile(f, bufs); done {
			return err
		}
	}
	for _, p := range bufs {
		if _, err := w.Write(p); err != nil {
			return err
		}
	}
	return nil
}
