package polltimer

import "testing"

// On Linux a Timer is a timerfd, not the time.Timer fallback.
func TestTimerfd(t *testing.T) {
	tm := New()
	defer tm.Close()
	if tm.tt != nil || tm.f == nil {
		t.Fatal("New made a time.Timer, not a timerfd")
	}
}
