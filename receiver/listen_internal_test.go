package receiver

import (
	"context"
	"net"
	"testing"
	"time"
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

// waitHandedOver waits (10 s at most) until handled, the count of
// datagrams a test's handler has seen, reaches n.
func waitHandedOver(t *testing.T, handled func() int64, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := handled()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d datagrams handed over", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}
