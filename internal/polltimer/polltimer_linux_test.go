package polltimer

import (
	"testing"
	"time"
)

// On Linux a Timer is a timerfd, not the time.Timer fallback.
func TestTimerfd(t *testing.T) {
	tm := New()
	defer tm.Close()
	if tm.tt != nil || tm.f == nil {
		t.Fatal("New made a time.Timer, not a timerfd")
	}
}

// A Sleep and a Wake allocate nothing: readers sleep on a Timer many
// times a second.
func TestSleepAllocatesNothing(t *testing.T) {
	tm := New()
	defer tm.Close()
	if n := testing.AllocsPerRun(50, func() {
		if err := tm.Sleep(time.Microsecond); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Sleep: %v allocations", n)
	}
	if n := testing.AllocsPerRun(50, func() {
		tm.Wake()
		if err := tm.Sleep(time.Hour); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("Wake and Sleep: %v allocations", n)
	}
}
