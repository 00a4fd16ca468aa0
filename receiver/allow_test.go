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

// SetAllow takes effect for the next datagram, while datagrams flow and
// other goroutines swap the list (run with -race).
func TestReceiverSetAllowLive(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	var sink rxSink
	r := receiver.New(sink.handle, receiver.Config{Workers: 2})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, conn) }()
	a := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 5), Port: 2055}
	b := &net.UDPAddr{IP: net.IPv4(198, 51, 100, 9), Port: 2055}
	send := func(from *net.UDPAddr, want uint64) {
		t.Helper()
		conn.in <- rxFakeDatagram{data: rxV5(0, 0, 1), from: from}
		rxWaitFor(t, "datagram counted", func() bool { return r.Stats().Total.Datagrams == want })
	}

	// Config.Allow nil: every source.
	send(a, 1)
	send(b, 2)
	// Only 192.0.2.0/24.
	r.SetAllow([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	send(a, 3)
	send(b, 4)
	// An empty list refuses everyone.
	r.SetAllow(nil)
	send(a, 5)
	// A register of many senders, b among them.
	many := make([]netip.Prefix, 0, 5001)
	for i := range 5000 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24))
	}
	many = append(many, netip.MustParsePrefix("198.51.100.9/32"))
	r.SetAllow(many)
	send(a, 6)
	send(b, 7)
	r.AllowAll()
	send(a, 8)
	rxWaitFor(t, "handled", func() bool { return sink.count() == 5 })
	st := r.Stats()
	assert.EqualValues(t, 3, st.Total.Denied)
	assert.EqualValues(t, 3, st.Exporters[netip.MustParseAddrPort("192.0.2.5:2055")].Decoded)
	assert.EqualValues(t, 2, st.Exporters[netip.MustParseAddrPort("198.51.100.9:2055")].Decoded)

	// Swaps racing with traffic.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				if (i+g)%2 == 0 {
					r.SetAllow(many)
				} else {
					r.AllowAll()
				}
			}
		}()
	}
	for i := range 500 {
		conn.in <- rxFakeDatagram{data: rxV5(uint32(i), 0, 1), from: b}
	}
	wg.Wait()
	stop()
	require.NoError(t, <-served)
	st = r.Stats()
	assert.EqualValues(t, 508, st.Total.Datagrams)
	assert.EqualValues(t, 3, st.Total.Denied, "b is in both lists")
	assert.EqualValues(t, 505, st.Total.Decoded)
}
