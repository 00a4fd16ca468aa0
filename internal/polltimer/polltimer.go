// Package polltimer is a timer for goroutines that wait a short while many
// times a second and want each wait to cost the process one wake-up.
//
// A time.Timer (or time.Sleep) is kept by the Go runtime: while one is
// pending, the idle runtime waits for it in epoll_pwait with a timeout, so
// that every event of every descriptor in the runtime's poller wakes it
// meanwhile, and its monitor thread (sysmon) sleeps only until the next
// timer, so that each expiry wakes two threads. On Linux a Timer is a
// timerfd in the runtime's poller instead: the goroutine waits on it as
// on a socket, no runtime timer is pending, and the expiry wakes the one
// thread that runs the goroutine. Elsewhere it is a time.Timer.
package polltimer

import (
	"errors"
	"time"
)

// ErrClosed is returned by Sleep once Close has been called.
var ErrClosed = errors.New("netflow: poll timer closed")

// Sleep waits for d, or until t is closed (ErrClosed). One goroutine at a
// time may sleep on a Timer; Close may be called from any goroutine, any
// number of times.
func (t *Timer) Sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return t.sleep(d)
}

// Wake ends the Sleep in progress early, or the next one if none is in
// progress (at once); a Wake while the timer is closed does nothing. Any
// goroutine may call it, so that a sleeper can be both a clock and a
// worker woken for work.
func (t *Timer) Wake() {
	t.woken.Store(true)
	t.fire()
}
