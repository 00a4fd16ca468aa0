package receiver_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/receiver"
)

// SetAllowFunc decides for every datagram and every connection at accept,
// with the answer of the moment (a sync.Map changed while datagrams flow);
// SetAllow replaces it, and a nil func refuses everyone.
func TestReceiverSetAllowFunc(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	var sink rxSink
	r := receiver.New(sink.handle, receiver.Config{Workers: 2})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, conn) }()
	a := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 5), Port: 2055}
	send := func(want uint64) {
		t.Helper()
		conn.in <- rxFakeDatagram{data: rxV5(0, 0, 1), from: a}
		rxWaitFor(t, "datagram counted", func() bool { return r.Stats().Total.Datagrams == want })
	}
	var known sync.Map
	var asked []netip.Addr
	var mu sync.Mutex
	r.SetAllowFunc(func(x netip.Addr) bool {
		mu.Lock()
		asked = append(asked, x)
		mu.Unlock()
		_, ok := known.Load(x)
		return ok
	})
	send(1) // refused
	known.Store(netip.MustParseAddr("192.0.2.5"), true)
	send(2)
	known.Delete(netip.MustParseAddr("192.0.2.5"))
	send(3) // refused
	r.SetAllowFunc(nil)
	known.Store(netip.MustParseAddr("192.0.2.5"), true)
	send(4) // refused: nil refuses everyone
	r.SetAllow([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	send(5)
	rxWaitFor(t, "handled", func() bool { return sink.count() == 2 })
	assert.EqualValues(t, 3, r.Stats().Total.Denied)
	mu.Lock()
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.5"), netip.MustParseAddr("192.0.2.5"),
		netip.MustParseAddr("192.0.2.5")}, asked, "asked once a datagram, IPv4 as IPv4")
	mu.Unlock()
	stop()
	require.NoError(t, <-served)

	// TCP: decided at accept.
	r2, addr, cancel := tcpReceiver(t, nil, receiver.Config{})
	r2.SetAllowFunc(func(x netip.Addr) bool { return x == netip.MustParseAddr("127.0.0.2") })
	refused := tcpDialFrom(t, "127.0.0.3", addr)
	assert.NoError(t, waitClosed(t, refused))
	ok := tcpDialFrom(t, "127.0.0.2", addr)
	stillOpen(t, r2, ok)
	cancel()
	assert.Equal(t, receiver.TCPStats{Accepted: 1, Refused: 1}, r2.Stats().TCP)
}
