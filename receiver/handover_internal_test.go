package receiver

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// A datagram that finds its lane idle is handed over by the goroutine
// that read it: no other goroutine is woken for it. One at a time on
// loopback, every datagram is a hand-over of the reading goroutine, and
// none is queued.
func TestReceiverHandsOverInline(t *testing.T) {
	var handled atomic.Int64
	r := New(func(*Datagram) { handled.Add(1) }, Config{Workers: 2})
	c, cancel := listenLoopback(t, r)
	const n = 50
	for i := range n {
		if _, err := c.Write(v5Datagram(30)); err != nil {
			t.Fatal(err)
		}
		// The worker counts the datagram decoded before it lets the lane
		// go: wait for both, or (on a loaded machine) the next datagram
		// finds the lane busy and is queued. A hand-over that took over
		// inlineBudget (the machine is loaded) makes the readers queue
		// for queueSpell: wait for that to end as well.
		deadline := time.Now().Add(10 * time.Second)
		for r.total.decoded.Load() < uint64(i+1) || slices.ContainsFunc(r.lanes, func(l *lane) bool { return !laneIdle(l) }) || queueing(r) {
			if time.Now().After(deadline) {
				t.Fatalf("datagram %d not decoded", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	if got := r.handOvers.Load(); got != n {
		t.Errorf("%d hand-overs by the reading goroutine, want %d", got, n)
	}
	for i, l := range r.lanes {
		l.mu.Lock()
		if l.queued != 0 || len(l.queue) != 0 {
			t.Errorf("lane %d: batches were queued", i)
		}
		l.mu.Unlock()
	}
	cancel()
	if handled.Load() != n {
		t.Errorf("%d handled", handled.Load())
	}
}

// queueing reports whether a socket of r is in a queue spell after a slow
// hand-over (see inlineBudget).
func queueing(r *Receiver) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now().UnixNano()
	return slices.ContainsFunc(r.sockets, func(s *socket) bool { return now < s.queueUntil.Load() })
}
