//go:build !linux

package polltimer

import (
	"sync/atomic"
	"time"
)

// Timer is a time.Timer outside Linux.
type Timer struct {
	tt    *timeTimer
	woken atomic.Bool // unused: the channel of tt remembers a Wake
}

// New returns a Timer.
func New() *Timer { return &Timer{tt: newTimeTimer()} }

func (t *Timer) sleep(d time.Duration) error { return t.tt.sleep(d) }

// Close ends a Sleep in progress with ErrClosed.
func (t *Timer) Close() error {
	t.tt.close()
	return nil
}

func (t *Timer) fire() { t.tt.fire() }
