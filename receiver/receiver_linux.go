package receiver

import (
	"encoding/binary"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	reusePortSupported = true
	batchSupported     = true
	msgTrunc           = unix.MSG_TRUNC
)

// oobSize holds one SO_RXQ_OVFL control message (a uint32).
var oobSize = unix.CmsgSpace(4)

// reusePortControl sets SO_REUSEPORT before bind.
func reusePortControl(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// reportedBufferFactor is what SO_RCVBUF reports over the size granted:
// Linux doubles it for its bookkeeping.
const reportedBufferFactor = 2

// setupSocket asks for the kernel's drop count with each datagram and sets
// the receive buffer (0: unchanged). It returns the buffer size the kernel
// reports (which Linux doubles for its bookkeeping).
func setupSocket(c *net.UDPConn, rcvbuf int) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var got int
	var serr error
	err = rc.Control(func(fd uintptr) {
		s := int(fd)
		serr = unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1)
		if rcvbuf > 0 {
			// SO_RCVBUFFORCE ignores net.core.rmem_max but needs
			// CAP_NET_ADMIN; fall back to SO_RCVBUF.
			if unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf) != nil {
				if e := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF, rcvbuf); e != nil && serr == nil {
					serr = e
				}
			}
		}
		got, _ = unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_RCVBUF)
	})
	if err != nil {
		return 0, err
	}
	return got, serr
}

// parseRxqOvfl finds the SO_RXQ_OVFL counter in control messages, without
// allocating. A cmsghdr is a size_t length, then int32 level and type.
func parseRxqOvfl(oob []byte) (uint32, bool) {
	const lenSize = unix.SizeofCmsghdr - 8
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		var l int
		if lenSize == 8 {
			l = int(binary.NativeEndian.Uint64(oob))
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4:]))
		if l < hdr || l > len(oob) {
			return 0, false
		}
		if level == unix.SOL_SOCKET && typ == unix.SO_RXQ_OVFL && l >= hdr+4 {
			return binary.NativeEndian.Uint32(oob[hdr:]), true
		}
		next := unix.CmsgSpace(l - hdr)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return 0, false
}
