package receiver

import (
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/flowkit/netflow/internal/polltimer"
	"golang.org/x/sys/unix"
)

// detachedSocket is a UDP socket taken out of the Go runtime's poller, for
// read coalescing (Config.ReadCoalesce). A socket in the poller wakes the
// runtime at every datagram while anything at all is pending in it (a
// goroutine waiting on another descriptor, a timer), so a reader that
// waits a while before reading still costs the process a wake-up per
// datagram. A detached socket is its own descriptor (a duplicate, the
// conn closed): its reading goroutines read it with raw non-blocking
// recvmmsg, wait between reads on a timerfd of their own
// (internal/polltimer), and only when it is found empty wait for data on
// a further duplicate registered in the poller for the time of that wait.
type detachedSocket struct {
	fd    int
	users atomic.Int32 // reading goroutines not ended; the last closes fd

	mu      sync.Mutex
	closed  bool
	waiting []*os.File         // registered duplicates being waited on
	timers  []*polltimer.Timer // the reading goroutines' timers
}

// detach takes c's socket out of the poller: it duplicates its descriptor
// and closes c. users is the number of reading goroutines.
func detach(c *net.UDPConn, users int) (*detachedSocket, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if derr != nil {
		return nil, derr
	}
	c.Close()
	d := &detachedSocket{fd: fd}
	d.users.Store(int32(users))
	return d, nil
}

// Close ends the waits of the socket's reading goroutines, now and later;
// the descriptor is closed when the last of them has ended (release).
func (d *detachedSocket) Close() error {
	d.mu.Lock()
	d.closed = true
	waiting, timers := d.waiting, d.timers
	d.waiting, d.timers = nil, nil
	d.mu.Unlock()
	for _, f := range waiting {
		f.Close()
	}
	for _, t := range timers {
		t.Close()
	}
	return nil
}

// release is called by each reading goroutine as it ends.
func (d *detachedSocket) release() {
	if d.users.Add(-1) == 0 {
		d.Close()
		unix.Close(d.fd)
	}
}

// newTimer returns a timer for a reading goroutine, closed with the socket.
func (d *detachedSocket) newTimer() (*polltimer.Timer, error) {
	t := polltimer.New()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		t.Close()
		return nil, errDetachedClosed
	}
	d.timers = append(d.timers, t)
	return t, nil
}

// waitRead waits for data with a duplicate of the descriptor registered in
// the poller, and reads it with rr as soon as it comes.
func (d *detachedSocket) waitRead(rr *rawReader) (int, error) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return 0, errDetachedClosed
	}
	dup, err := unix.FcntlInt(uintptr(d.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		d.mu.Unlock()
		return 0, err
	}
	// The descriptor is non-blocking: os registers it in the poller.
	f := os.NewFile(uintptr(dup), "udp")
	d.waiting = append(d.waiting, f)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		for i, w := range d.waiting {
			if w == f {
				d.waiting = append(d.waiting[:i], d.waiting[i+1:]...)
				break
			}
		}
		d.mu.Unlock()
		f.Close()
	}()
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var errno syscall.Errno
	err = rc.Read(func(fd uintptr) bool {
		got, errno = rr.recv(fd)
		return errno != unix.EAGAIN
	})
	if err != nil {
		d.mu.Lock()
		closed := d.closed
		d.mu.Unlock()
		if closed {
			return 0, errDetachedClosed
		}
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: errno}
	}
	return got, nil
}
