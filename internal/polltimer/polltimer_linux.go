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
}

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
	return &Timer{f: f, rc: rc}
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
	var buf [8]byte // the count of expiries
	err := t.rc.Read(func(fd uintptr) bool {
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
		return e != unix.EAGAIN && e != unix.EINTR
	})
	t.woken.Store(false)
	return t.closedErr(err)
}

// set arms the timerfd to expire in d (which restarts its count of
// expiries: an earlier expiry not read is forgotten).
func (t *Timer) set(d time.Duration) error {
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(int64(d))}
	var serr syscall.Errno
	err := t.rc.Control(func(fd uintptr) {
		_, _, serr = unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0)
	})
	if err != nil {
		return t.closedErr(err)
	}
	if serr != 0 {
		return serr
	}
	return nil
}

// fire makes the timer expire now.
func (t *Timer) fire() {
	if t.tt != nil {
		t.tt.fire()
		return
	}
	t.set(1)
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
