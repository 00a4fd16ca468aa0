package main

import (
	"io"
	"sync"
	"time"
)

// outputChunks bounds the writes waiting for standard output (each the
// lines of one datagram, so at most about 64 KiB each); flushTimeout is
// how long a stopping collector waits for them to be written.
const (
	outputChunks = 1024
	flushTimeout = time.Second
)

// boundedWriter writes to a slow or stalled writer from a goroutine of its
// own through a queue of at most n writes. While the collector runs, a
// full queue makes write wait (the receiver then counts the datagrams it
// cannot queue); once stopBlocking is called, a write that finds the queue
// full is dropped and counted, so that a stalled standard output cannot
// hold the shutdown.
type boundedWriter struct {
	ch      chan []byte
	noBlock chan struct{}
	once    sync.Once
	closed  sync.Once
	done    chan struct{}
	pool    sync.Pool // of *[]byte

	mu      sync.Mutex
	dropped int
}

func newBoundedWriter(w io.Writer, n int) *boundedWriter {
	b := &boundedWriter{ch: make(chan []byte, n), noBlock: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(b.done)
		for p := range b.ch {
			w.Write(p)
			p = p[:0]
			b.pool.Put(&p)
		}
	}()
	return b
}

// write queues a copy of p.
func (b *boundedWriter) write(p []byte) {
	var c []byte
	if bp, ok := b.pool.Get().(*[]byte); ok {
		c = *bp
	}
	c = append(c[:0], p...)
	select {
	case b.ch <- c:
		return
	case <-b.noBlock:
	}
	select {
	case b.ch <- c:
	default:
		b.mu.Lock()
		b.dropped++
		b.mu.Unlock()
	}
}

// stopBlocking makes writes to a full queue drop instead of wait.
func (b *boundedWriter) stopBlocking() {
	b.once.Do(func() { close(b.noBlock) })
}

// close ends the queue once nothing writes any more, waits up to timeout
// for it to be written, and returns the number of writes dropped or not
// done. Calls after the first only wait.
func (b *boundedWriter) close(timeout time.Duration) int {
	b.stopBlocking()
	b.closed.Do(func() { close(b.ch) })
	t := time.NewTimer(timeout)
	defer t.Stop()
	stuck := 0
	select {
	case <-b.done:
	case <-t.C:
		stuck = 1 // the write in progress
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped + len(b.ch) + stuck
}
