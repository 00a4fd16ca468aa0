package polltimer

import (
	"sync"
	"time"
)

// timeTimer is a Timer made of a time.Timer: outside Linux, and on Linux
// when no timerfd can be made.
type timeTimer struct {
	t      *time.Timer
	wake   chan struct{}
	closed chan struct{}
	once   sync.Once
}

func newTimeTimer() *timeTimer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &timeTimer{t: t, wake: make(chan struct{}, 1), closed: make(chan struct{})}
}

func (t *timeTimer) fire() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *timeTimer) sleep(d time.Duration) error {
	select {
	case <-t.closed:
		return ErrClosed
	default:
	}
	t.t.Reset(d)
	select {
	case <-t.t.C:
		return nil
	case <-t.wake:
		t.t.Stop()
		return nil
	case <-t.closed:
		t.t.Stop()
		return ErrClosed
	}
}

func (t *timeTimer) close() {
	t.once.Do(func() { close(t.closed) })
}
