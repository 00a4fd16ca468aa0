//go:build !linux

package receiver

import (
	"net"
	"syscall"
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

func setupSocket(c *net.UDPConn, rcvbuf int) (int, error) {
	if rcvbuf <= 0 {
		return 0, nil
	}
	return rcvbuf, c.SetReadBuffer(rcvbuf)
}

func parseRxqOvfl(oob []byte) (uint32, bool) { return 0, false }
