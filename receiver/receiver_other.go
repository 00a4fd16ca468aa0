//go:build !linux

package receiver

import (
	"net"
	"net/netip"
	"syscall"
	"time"
)

// Outside Linux: one socket per address, no batch reads, no kernel drop
// count; the receive buffer is set with SetReadBuffer.
const (
	reusePortSupported = false
	batchSupported     = false
	msgTrunc           = 0
	oobSize            = 0
)

func reusePortControl(network, address string, c syscall.RawConn) error { return nil }

// reportedBufferFactor is what setupSocket's size is over the size
// granted (see the Linux one).
const reportedBufferFactor = 1

func setupSocket(c *net.UDPConn, rcvbuf int) (int, error) {
	if rcvbuf <= 0 {
		return 0, nil
	}
	return rcvbuf, c.SetReadBuffer(rcvbuf)
}

func parseRxqOvfl(oob []byte) (uint32, bool) { return 0, false }

// rawReader is recvmmsg(2) on Linux; elsewhere sockets are read with
// ReadMsgUDPAddrPort.
type rawReader struct {
	hdrs []struct{}
	idle time.Duration
}

func newRawReader(*net.UDPConn, int, int) *rawReader { return nil }

func (*rawReader) read() (int, error) { return 0, nil }

func (*rawReader) message(int) ([]byte, netip.AddrPort, bool, []byte) {
	return nil, netip.AddrPort{}, false, nil
}
