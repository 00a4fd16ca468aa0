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

// Timer is a timerfd, non-blocking, read through the runtime's poller. Its
// system calls are raw: a system call made the usual way wakes the
// runtime's monitor thread when the process was idle. (When no timerfd
// can be made, out of descriptors say, it is a time.Timer.)
type Timer struct {
	f      *os.File
	rc     syscall.RawConn
	once   sync.Once
	closed atomic.Bool
	woken  atomic.Bool // Wake was called since the last Sleep ended
	tt     *timeTimer  // the fallback

	// The sleeper's system calls, made once in New so that a Sleep
	// allocates nothing (a closure made in Sleep, and what it refers to,
	// would escape to the heap through RawConn): armFn sets the timerfd
	// to spec, its error in armErr; readFn reads the count of expiries
	// into count. Only the one sleeper uses them. Wake's fire uses
	// fireFn, which shares nothing, so that wakers may call it at any
	// time.
	spec   unix.ItimerSpec
	armErr syscall.Errno
	count  [8]byte
	armFn  func(fd uintptr)
	readFn func(fd uintptr) bool
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
	t.readFn = func(fd uintptr) bool {
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&t.count[0])), uintptr(len(t.count)))
		return e != unix.EAGAIN && e != unix.EINTR
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
	if err := t.set(d); err != nil {
		return err
	}
	// A Wake before the timer was set above: do not wait. (One after it
	// makes the timer expire now.)
	if t.woken.Swap(false) {
		return nil
	}
	err := t.rc.Read(t.readFn)
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
