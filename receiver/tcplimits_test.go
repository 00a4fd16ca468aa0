package receiver_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
)

// tcpDialFrom connects to to from the loopback address from (any port):
// Linux routes all of 127.0.0.0/8 to lo, so each address is a source of
// its own for the receiver.
func tcpDialFrom(t testing.TB, from string, to netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(from), 0)),
		net.TCPAddrFromAddrPort(to))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// stillOpen reports whether the receiver keeps c open: a message written on
// it is handed over (counted in the exporter's counters).
func stillOpen(t *testing.T, r *receiver.Receiver, c net.Conn) {
	t.Helper()
	before := r.Stats().Exporters[localOf(c)].Datagrams
	_, err := c.Write(testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutA...)))
	require.NoError(t, err)
	rxWaitFor(t, "a message on "+localOf(c).String(), func() bool {
		return r.Stats().Exporters[localOf(c)].Datagrams == before+1
	})
}

// MaxConnectionsPerSource closes a source's connection over its bound at
// accept; at MaxConnections a newcomer from another source takes the place
// of the longest-idle connection of the busiest source, if that one has
// two more than the newcomer's; else the newcomer is refused.
func TestReceiverTCPSourceLimitAndEviction(t *testing.T) {
	rxNoLeak(t)
	r, addr, cancel := tcpReceiver(t, nil, receiver.Config{MaxConnections: 8, MaxConnectionsPerSource: 5})
	var a []*net.TCPConn // from 127.0.0.2
	for i := range 5 {
		a = append(a, tcpDialFrom(t, "127.0.0.2", addr))
		rxWaitFor(t, "accepted", func() bool { return r.Stats().TCP.Accepted == uint64(i+1) })
	}
	// a[0] has sent a message: a[1] is now the longest-idle of a's.
	stillOpen(t, r, a[0])
	over := tcpDialFrom(t, "127.0.0.2", addr)
	assert.NoError(t, waitClosed(t, over))
	assert.EqualValues(t, 1, r.Stats().TCP.SourceLimit)

	var b []*net.TCPConn // from 127.0.0.3: 8 open, the bound
	for range 3 {
		b = append(b, tcpDialFrom(t, "127.0.0.3", addr))
	}
	rxWaitFor(t, "eight open", func() bool { return r.Stats().TCP.Open == 8 })

	// A newcomer from 127.0.0.4 (0 open): 127.0.0.2 has 5 >= 0+2, and
	// loses a[1].
	c1 := tcpDialFrom(t, "127.0.0.4", addr)
	assert.NoError(t, waitClosed(t, a[1]))
	rxWaitFor(t, "eviction counted", func() bool { return r.Stats().TCP.Evicted == 1 })
	stillOpen(t, r, c1)
	for _, c := range []*net.TCPConn{a[0], a[3], a[4], b[0]} {
		stillOpen(t, r, c)
	}

	// From 127.0.0.3 (3 open): the busiest, 127.0.0.2, has 4 < 3+2.
	refused := tcpDialFrom(t, "127.0.0.3", addr)
	assert.NoError(t, waitClosed(t, refused))
	assert.EqualValues(t, 1, r.Stats().TCP.OverLimit)

	// From 127.0.0.4 again (1 open): 127.0.0.2 has 4 >= 1+2; its
	// longest-idle is now a[2], which never sent a message.
	c2 := tcpDialFrom(t, "127.0.0.4", addr)
	assert.NoError(t, waitClosed(t, a[2]))
	stillOpen(t, r, c2)
	rxWaitFor(t, "second eviction counted", func() bool { return r.Stats().TCP.Evicted == 2 })

	st := r.Stats()
	assert.Equal(t, receiver.TCPStats{Accepted: 10, Open: 8, OverLimit: 1, SourceLimit: 1, Evicted: 2}, st.TCP)
	assert.Len(t, st.Connections, 8)
	cancel()
}

// FirstMessageTimeout closes a connection that sent no complete message in
// time, one that sent half a header too, and not one that sent a message
// at once.
func TestReceiverTCPFirstMessageTimeout(t *testing.T) {
	rxNoLeak(t)
	r, addr, cancel := tcpReceiver(t, nil, receiver.Config{FirstMessageTimeout: 300 * time.Millisecond, IdleTimeout: time.Minute})
	talker := tcpDial(t, addr)
	stillOpen(t, r, talker)
	idle := tcpDial(t, addr)
	half := tcpDial(t, addr)
	_, err := half.Write([]byte{0, 10})
	require.NoError(t, err)
	start := time.Now()
	assert.NoError(t, waitClosed(t, idle))
	assert.NoError(t, waitClosed(t, half))
	assert.GreaterOrEqual(t, time.Since(start), 250*time.Millisecond)
	rxWaitFor(t, "closes counted", func() bool { return r.Stats().TCP.NoFirstMessage == 2 })
	// The talker was accepted before them: past its first-message deadline
	// too, and open.
	stillOpen(t, r, talker)
	cancel()
	st := r.Stats()
	assert.Equal(t, receiver.TCPStats{Accepted: 3, NoFirstMessage: 2}, st.TCP)
	assert.Zero(t, st.Total.Failed, "a connection closed by the deadline hands over no error")
}

// A message that trickles in (a byte every 20 ms: 50 bytes/s) is cut at
// MessageTimeout plus its length at MinProgressRate, and its connection
// counted as Slow; a message written in pieces faster than that arrives.
func TestReceiverTCPSlowMessage(t *testing.T) {
	rxNoLeak(t)
	var sink rxSink
	r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{MessageTimeout: 200 * time.Millisecond,
		MinProgressRate: 1000, IdleTimeout: time.Minute})
	msg := testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutA...))

	// 4 KB in pieces of 500 bytes every 50 ms (10 KB/s): 400 ms, under
	// 200 ms + 4 s.
	big := testkit.IPFIXMessage(1, 1, testkit.IPFIXDataSet(999, make([]byte, 4000)))
	fast := tcpDial(t, addr)
	for off := 0; off < len(big); off += 500 {
		_, err := fast.Write(big[off:min(off+500, len(big))])
		require.NoError(t, err)
		time.Sleep(50 * time.Millisecond) // the exporter's pace
	}
	rxWaitFor(t, "the big message", func() bool { return sink.count() == 1 })

	slow := tcpDial(t, addr)
	start := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	go trickle(slow, msg, 20*time.Millisecond, stop)
	assert.NoError(t, waitClosed(t, slow))
	took := time.Since(start)
	rxWaitFor(t, "slow close counted", func() bool { return r.Stats().TCP.Slow == 1 })
	assert.GreaterOrEqual(t, took, 200*time.Millisecond)
	assert.Less(t, took, time.Duration(len(msg))*20*time.Millisecond, "cut before the whole message was in")
	stillOpen(t, r, fast)
	cancel()
	st := r.Stats()
	assert.Equal(t, receiver.TCPStats{Accepted: 2, Slow: 1}, st.TCP)
	assert.EqualValues(t, 2, st.Total.Datagrams, "the big message and stillOpen's, not the cut one")
}

// trickle writes msg one byte every pause until a write fails or stop is
// closed, then again from the start.
func trickle(c net.Conn, msg []byte, pause time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(pause)
	defer t.Stop()
	for i := 0; ; i++ {
		if _, err := c.Write(msg[i%len(msg) : i%len(msg)+1]); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
