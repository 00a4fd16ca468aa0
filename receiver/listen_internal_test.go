package receiver

import (
	"context"
	"net"
	"testing"
)

// listenLoopback starts r on a free loopback port and returns a socket
// connected to it and r's stop (Listen's cancel func); both end with the
// test, if not before.
func listenLoopback(t *testing.T, r *Receiver) (*net.UDPConn, func()) {
	t.Helper()
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cancel)
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, cancel
}
