package polltimer

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Timer is a timerfd, non-blocking, waited on through the runtime's
// poller. Its system calls are raw: a system call made the usual way wakes
// the runtime's monitor thread when the process was idle. A Sleep makes
// one system call, the one that arms the timer: the timerfd is never read.
// Whether the wait is over is told by the clock and the woken flag, not
// by the count of expiries (which each arming resets), so that an event
// of the poller left from an earlier arming or Wake only makes the
// sleeper look at the clock and wait on. (When no timerfd can be made,
// out of descriptors say, it is a time.Timer.)
type Timer struct {
	f      *os.File
	rc     syscall.RawConn
	once   sync.Once
	closed atomic.Bool
	woken  atomic.Bool // Wake was called since the last Sleep ended
	tt     *timeTimer  // the fallback

	// The sleeper's functions, made once in New so that a Sleep
	// allocates nothing (a closure made in Sleep, and what it refers to,
	// would escape to the heap through RawConn): armFn sets the timerfd
	// to spec, its error in armErr; doneFn tells whether the Sleep armed
	// at armed for span is over (or woken). Only the one sleeper uses
	// them. Wake's fire uses fireFn, which shares nothing, so that wakers
	// may call it at any time.
	spec   unix.ItimerSpec
	armErr syscall.Errno
	armed  time.Time
	span   time.Duration
	armFn  func(fd uintptr)
	doneFn func(fd uintptr) bool
	fireFn func(fd uintptr)
}

// fireSpec arms a timerfd to expire at once (1 ns from now).
var fireSpec = unix.ItimerSpec{Value: unix.Timespec{Nsec: 1}}

// New returns a Timer.
func New() *Timer {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return &Timer{tt: newTimeTimer()}
	}
	f := os.NewFile(uintptr(fd), "timerfd")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return &Timer{tt: newTimeTimer()}
	}
	t := &Timer{f: f, rc: rc}
	t.armFn = func(fd uintptr) {
		_, _, t.armErr = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&t.spec)), 0, 0, 0)
	}
	t.doneFn = func(uintptr) bool {
		return t.woken.Load() || time.Since(t.armed) >= t.span
	}
	t.fireFn = func(fd uintptr) {
		unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&fireSpec)), 0, 0, 0)
	}
	return t
}

func (t *Timer) sleep(d time.Duration) error {
	if t.tt != nil {
		return t.tt.sleep(d)
	}
	// The time is taken before the timer is armed, so that the expiry
	// comes no sooner than span after armed: when the poller reports the
	// timerfd ready and the clock says span has passed, the wait is over;
	// before that, the report is a Wake's (woken is set first) or one left
	// over, and the sleeper waits on for the expiry it armed.
	t.armed, t.span = time.Now(), d
	if err := t.set(d); err != nil {
		return err
	}
	// A Wake before the timer was set above: do not wait. (One after it
	// makes the timer expire now.)
	if t.woken.Swap(false) {
		return nil
	}
	err := t.rc.Read(t.doneFn)
	t.woken.Store(false)
	return t.closedErr(err)
}

// set arms the timerfd to expire in d (which restarts its count of
// expiries: an earlier expiry not read is forgotten).
func (t *Timer) set(d time.Duration) error {
	t.spec = unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	if err := t.rc.Control(t.armFn); err != nil {
		return t.closedErr(err)
	}
	if t.armErr != 0 {
		return t.armErr
	}
	return nil
}

// fire makes the timer expire now.
func (t *Timer) fire() {
	if t.tt != nil {
		t.tt.fire()
		return
	}
	t.rc.Control(t.fireFn) // fails only once closed: then nothing sleeps
}

// closedErr returns ErrClosed for the error of a closed file.
func (t *Timer) closedErr(err error) error {
	if err != nil && t.closed.Load() {
		return ErrClosed
	}
	return err
}

// Close releases the timer and ends a Sleep in progress with ErrClosed.
func (t *Timer) Close() error {
	if t.tt != nil {
		t.tt.close()
		return nil
	}
	t.once.Do(func() {
		t.closed.Store(true)
		t.f.Close()
	})
	return nil
}
