package polltimer

import (
	"encoding/binary"
	"testing"
	"time"

	"golang.org/x/sys/unix"
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

// A Sleep arms the timerfd and never reads it (the read would be a second
// system call): the expiry that ended the Sleep is still counted in the
// timerfd afterwards.
func TestSleepLeavesExpiryUnread(t *testing.T) {
	tm := New()
	defer tm.Close()
	if err := tm.Sleep(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var count [8]byte
	n, err := unix.Read(int(tm.f.Fd()), count[:])
	if err != nil || n != 8 || binary.NativeEndian.Uint64(count[:]) != 1 {
		t.Fatalf("read of the timerfd after a Sleep: %d bytes %v, %v; want its one expiry", n, count, err)
	}
}
