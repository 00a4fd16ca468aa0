package receiver

import (
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawReader reads a UDP socket with recvmmsg(2), called as a raw system
// call (MSG_DONTWAIT: it never blocks; the wait for data is the runtime's
// network poller, through syscall.RawConn). A system call made the usual
// way wakes the runtime's monitor thread (sysmon) when the process was
// idle, and the monitor then polls every 20 µs until the process is idle
// again: for a receiver woken by each datagram, that was most of the cost
// of a datagram at a few hundred a second (two futex calls and two or
// three nanosleeps each). A raw read of a non-blocking socket has nothing
// for the monitor to do.
type rawReader struct {
	rc    syscall.RawConn
	det   *detachedSocket // instead of rc: a socket out of the poller
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6 // large enough for an IPv4 or IPv6 source
	bufs  [][]byte
	oobs  [][]byte
	zones map[uint32]string // IPv6 scope ID -> interface name
	// idle is how long the last read of a detached socket waited for
	// data, having found the socket empty (0: data was there).
	idle time.Duration
}

// mmsghdr is struct mmsghdr: a msghdr and the length received.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

// newRawReader returns a reader of n datagrams of up to size bytes per
// call, or nil if c has no raw connection.
func newRawReader(c *net.UDPConn, n, size int) *rawReader {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	rr := newRawBuffers(n, size)
	rr.rc = rc
	return rr
}

// newDetachedReader returns a reader of n datagrams of up to size bytes
// per call from a detached socket.
func newDetachedReader(d *detachedSocket, n, size int) *rawReader {
	rr := newRawBuffers(n, size)
	rr.det = d
	return rr
}

func newRawBuffers(n, size int) *rawReader {
	rr := &rawReader{hdrs: make([]mmsghdr, n), iovs: make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrInet6, n), bufs: make([][]byte, n), oobs: make([][]byte, n)}
	for i := range rr.hdrs {
		rr.bufs[i] = make([]byte, size)
		rr.iovs[i].Base = &rr.bufs[i][0]
		rr.iovs[i].SetLen(size)
		h := &rr.hdrs[i].hdr
		h.Name = (*byte)(unsafe.Pointer(&rr.names[i]))
		h.Iov = &rr.iovs[i]
		h.SetIovlen(1)
		if oobSize > 0 {
			rr.oobs[i] = make([]byte, oobSize)
			h.Control = &rr.oobs[i][0]
		}
	}
	return rr
}

// read reads at least one datagram and returns how many.
func (rr *rawReader) read() (int, error) {
	if rr.det != nil {
		got, errno := rr.recv(uintptr(rr.det.fd))
		rr.idle = 0
		switch errno {
		case 0:
			return got, nil
		case unix.EAGAIN:
			began := time.Now()
			got, err := rr.det.waitRead(rr) // empty: wait for data
			rr.idle = time.Since(began)
			return got, err
		}
		return 0, &net.OpError{Op: "read", Net: "udp", Err: errno}
	}
	var got int
	var errno syscall.Errno
	err := rr.rc.Read(func(fd uintptr) bool {
		got, errno = rr.recv(fd)
		return errno != unix.EAGAIN // EAGAIN: wait for data
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, &net.OpError{Op: "read", Net: "udp", Err: errno}
	}
	return got, nil
}

// recv makes one non-blocking recvmmsg call on fd.
func (rr *rawReader) recv(fd uintptr) (int, syscall.Errno) {
	for {
		for i := range rr.hdrs {
			h := &rr.hdrs[i].hdr
			h.Namelen = uint32(unsafe.Sizeof(rr.names[i]))
			h.SetControllen(len(rr.oobs[i]))
			h.Flags = 0
		}
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&rr.hdrs[0])),
			uintptr(len(rr.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(r), 0
	}
}

// message returns datagram i of the last read: its bytes, source, whether
// it was truncated, and its control messages.
func (rr *rawReader) message(i int) (data []byte, from netip.AddrPort, trunc bool, oob []byte) {
	m := &rr.hdrs[i]
	data = rr.bufs[i][:m.len]
	trunc = m.hdr.Flags&unix.MSG_TRUNC != 0
	if m.hdr.Controllen > 0 {
		oob = rr.oobs[i][:m.hdr.Controllen]
	}
	sa := &rr.names[i]
	port := (*[2]byte)(unsafe.Pointer(&sa.Port))
	p := uint16(port[0])<<8 | uint16(port[1])
	switch sa.Family {
	case unix.AF_INET:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		from = netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), p)
	case unix.AF_INET6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 {
			a = a.WithZone(rr.zone(sa.Scope_id))
		}
		from = netip.AddrPortFrom(a, p)
	}
	return data, from, trunc, oob
}

// zone returns the name of the interface of an IPv6 scope ID, as the net
// package names it (its number when it has no name).
func (rr *rawReader) zone(id uint32) string {
	if z, ok := rr.zones[id]; ok {
		return z
	}
	if rr.zones == nil {
		rr.zones = make(map[uint32]string)
	}
	z := strconv.FormatUint(uint64(id), 10)
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	rr.zones[id] = z
	return z
}
