package polltimer

import (
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	tm := New()
	defer tm.Close()
	for _, d := range []time.Duration{time.Millisecond, 5 * time.Millisecond, 0} {
		began := time.Now()
		if err := tm.Sleep(d); err != nil {
			t.Fatalf("Sleep(%v): %v", d, err)
		}
		if took := time.Since(began); took < d {
			t.Errorf("Sleep(%v) returned after %v", d, took)
		}
	}
}

// Close ends a Sleep in progress, and later ones at once.
func TestCloseEndsSleep(t *testing.T) {
	for name, tm := range map[string]*Timer{"poll": New(), "fallback": fallback()} {
		t.Run(name, func(t *testing.T) { testCloseEndsSleep(t, tm) })
	}
}

func testCloseEndsSleep(t *testing.T, tm *Timer) {
	done := make(chan error, 1)
	go func() { done <- tm.Sleep(time.Hour) }()
	time.Sleep(10 * time.Millisecond) // most likely asleep by now; either way it must end
	tm.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Sleep after Close: %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Sleep still running 10 s after Close")
	}
	if err := tm.Sleep(time.Hour); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sleep on a closed timer: %v, want ErrClosed", err)
	}
	tm.Close()
}

// Wake ends a Sleep in progress, or the next one, early.
func TestWake(t *testing.T) {
	for name, tm := range map[string]*Timer{"poll": New(), "fallback": fallback()} {
		t.Run(name, func(t *testing.T) {
			defer tm.Close()
			tm.Wake() // before the Sleep
			if err := sleepWithin(tm, time.Hour, 10*time.Second); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- sleepWithin(tm, time.Hour, 10*time.Second) }()
			tm.Wake() // before or during the Sleep: either way it ends
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// sleepWithin sleeps d on tm and fails unless the Sleep returns within limit.
func sleepWithin(tm *Timer, d, limit time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- tm.Sleep(d) }()
	select {
	case err := <-done:
		return err
	case <-time.After(limit):
		return errors.New("Sleep not woken")
	}
}
