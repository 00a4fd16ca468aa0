package testkit

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// WithWatchdog runs fn in a goroutine and fails tb if it does not return
// within d: the Go fuzzer and testing.AllocsPerRun do not flag hangs by
// themselves. A panic in fn is re-raised in the caller's goroutine with its
// message and the stack where it happened.
func WithWatchdog(tb testing.TB, d time.Duration, fn func()) {
	tb.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Sprintf("%v\n%s", p, debug.Stack())
				return
			}
			done <- nil
		}()
		fn()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case p := <-done:
		if p != nil {
			panic(p)
		}
	case <-timer.C:
		require.Failf(tb, "hang", "watchdog: still running after %v", d)
	}
}
