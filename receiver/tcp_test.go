package receiver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
)

// tcpReceiver starts a receiver with a TCP listener on loopback.
func tcpReceiver(t *testing.T, h receiver.Handler, cfg receiver.Config) (*receiver.Receiver, netip.AddrPort, func()) {
	t.Helper()
	r := receiver.New(h, cfg)
	addr, cancel, err := r.ListenTCP(context.Background(), "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(cancel)
	return r, addr, cancel
}

func tcpDial(t *testing.T, to netip.AddrPort) *net.TCPConn {
	t.Helper()
	c, err := net.DialTCP("tcp", nil, net.TCPAddrFromAddrPort(to))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func localOf(c net.Conn) netip.AddrPort {
	ap := c.LocalAddr().(*net.TCPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// waitClosed reads until the receiver closes c, for at most 5 s.
func waitClosed(t *testing.T, c net.Conn) error {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the receiver did not close the connection")
	}
	return err
}

var (
	addrA1 = [4]byte{192, 0, 2, 1}
	addrA2 = [4]byte{198, 51, 100, 1}
	addrB1 = [4]byte{203, 0, 113, 7}
	addrB2 = [4]byte{192, 0, 2, 99}
)

// Two exporters' sessions define template 256 with different layouts,
// interleaved; each session's data decodes with its own, and UDP works
// beside TCP on the same receiver.
func TestReceiverTCPSessionsOwnTemplates(t *testing.T) {
	rxNoLeak(t)
	var sink rxSink
	r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{})
	udpAddr, _, err := r.Listen(context.Background(), "127.0.0.1:0")
	require.NoError(t, err)

	a, b := tcpDial(t, addr), tcpDial(t, addr)
	write := func(c net.Conn, m []byte) {
		t.Helper()
		_, err := c.Write(m)
		require.NoError(t, err)
	}
	write(a, testkit.IPFIXMessage(7, 0, testkit.IPFIXTemplateSet(256, layoutA...)))
	write(b, testkit.IPFIXMessage(7, 0, testkit.IPFIXTemplateSet(256, layoutB...)))
	rxWaitFor(t, "templates", func() bool { return sink.count() == 2 })
	write(a, testkit.IPFIXMessage(7, 1, testkit.IPFIXDataSet(256, recordA(addrA1, addrA2, 40000, 443, 6, 12, 3400))))
	write(b, testkit.IPFIXMessage(7, 1, testkit.IPFIXDataSet(256, recordB(addrB1, addrB2, 17, 5, 700), recordB(addrB2, addrB1, 17, 2, 150))))
	rxSend(t, rxDial(t, udpAddr), rxV5(0, 0, 1))
	rxWaitFor(t, "data", func() bool { return sink.count() == 5 })

	st := r.Stats()
	require.Len(t, st.Connections, 2)
	assert.Equal(t, localOf(a), st.Connections[0].Exporter)
	assert.Equal(t, localOf(b), st.Connections[1].Exporter)
	assert.Equal(t, receiver.TCP, st.Connections[0].Transport)
	assert.Equal(t, addr, st.Connections[0].Local)
	assert.Equal(t, receiver.Counters{Datagrams: 2, Bytes: 16 + 8 + 4*7 + 16 + 4 + 29, Decoded: 2, Flows: 1},
		st.Connections[0].Counters)
	assert.EqualValues(t, 2, st.Exporters[localOf(b)].Flows)
	assert.EqualValues(t, 2, st.TCP.Open)

	// a's session ends and is forgotten; b's template 256 lives on.
	a.CloseWrite()
	assert.NoError(t, waitClosed(t, a))
	rxWaitFor(t, "a closed", func() bool { return r.Stats().TCP.Closed == 1 })
	write(b, testkit.IPFIXMessage(7, 2, testkit.IPFIXDataSet(256, recordB(addrB1, addrB2, 6, 1, 40))))
	rxWaitFor(t, "b's last data", func() bool { return sink.count() == 6 })
	b.CloseWrite()
	assert.NoError(t, waitClosed(t, b))
	rxWaitFor(t, "connections closed", func() bool { return r.Stats().TCP.Closed == 2 })
	cancel()

	type flow struct {
		exporter        netip.AddrPort
		src, dst        netip.Addr
		sport, dport    uint16
		proto           uint8
		packets, octets uint64
		version         uint16
	}
	var got []flow
	for _, f := range sink.flows {
		got = append(got, flow{f.Exporter, f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto, f.Packets, f.Bytes, f.Version})
	}
	want := []flow{
		{localOf(a), netip.AddrFrom4(addrA1), netip.AddrFrom4(addrA2), 40000, 443, 6, 12, 3400, 10},
		{localOf(b), netip.AddrFrom4(addrB1), netip.AddrFrom4(addrB2), 0, 0, 17, 5, 700, 10},
		{localOf(b), netip.AddrFrom4(addrB2), netip.AddrFrom4(addrB1), 0, 0, 17, 2, 150, 10},
		{localOf(b), netip.AddrFrom4(addrB1), netip.AddrFrom4(addrB2), 0, 0, 6, 1, 40, 10},
	}
	var tcpFlows []flow
	for _, f := range got {
		if f.version == 10 {
			tcpFlows = append(tcpFlows, f)
		}
	}
	assert.ElementsMatch(t, want, tcpFlows)
	assert.Len(t, got, 5, "four over TCP, one over UDP")
	st = r.Stats()
	assert.Equal(t, receiver.TCPStats{Accepted: 2, Closed: 2}, st.TCP)
	assert.Empty(t, st.Connections)
	assert.Zero(t, st.Total.Failed)
}

// A connection cut inside a message: every complete message before it is
// handed over, then the cut one with an error matching ErrTruncated, and
// the connection is counted as a stream error.
func TestReceiverTCPCutMidMessage(t *testing.T) {
	rxNoLeak(t)
	var sink rxSink
	var transports []receiver.Transport
	h := func(d *receiver.Datagram) {
		sink.mu.Lock()
		transports = append(transports, d.Transport)
		sink.mu.Unlock()
		sink.handle(d)
	}
	r, addr, cancel := tcpReceiver(t, h, receiver.Config{})
	c := tcpDial(t, addr)
	var stream []byte
	stream = append(stream, testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(300, layoutA...))...)
	for i := range 3 {
		stream = append(stream, testkit.IPFIXMessage(1, uint32(1+i), testkit.IPFIXDataSet(300,
			recordA(addrA1, addrA2, uint16(1000+i), 80, 6, uint64(i+1), 100)))...)
	}
	last := testkit.IPFIXMessage(1, 4, testkit.IPFIXDataSet(300, recordA(addrA1, addrA2, 2000, 80, 6, 9, 900)))
	stream = append(stream, last[:len(last)-7]...)
	_, err := c.Write(stream)
	require.NoError(t, err)
	c.CloseWrite()
	assert.NoError(t, waitClosed(t, c))
	rxWaitFor(t, "five handed over", func() bool { return sink.count() == 5 })
	cancel()

	require.Len(t, sink.flows, 3)
	for i, f := range sink.flows {
		assert.EqualValues(t, 1000+i, f.SrcPort)
		assert.EqualValues(t, i+1, f.Packets)
	}
	require.Len(t, sink.errs, 1)
	assert.ErrorIs(t, sink.errs[0], netflow.ErrTruncated)
	assert.Nil(t, sink.data[0])
	assert.Equal(t, []receiver.Transport{receiver.TCP, receiver.TCP, receiver.TCP, receiver.TCP, receiver.TCP}, transports)
	st := r.Stats()
	assert.EqualValues(t, 1, st.TCP.StreamErrors)
	assert.Equal(t, receiver.Counters{Datagrams: 5, Bytes: uint64(len(stream) - len(last) + 7), Decoded: 4, Flows: 3,
		Failed: 1, Errors: receiver.ErrorCounts{Truncated: 1}}, st.Exporters[localOf(c)])
}

// Hostile streams end their connection with an error errors.Is matches,
// never a hang: length fields of 0 and 15 (below the 16-byte header), 65535
// with 10 bytes behind it, a message over MaxDatagramSize, a v9 packet, and
// a message started and never finished on a connection kept open.
func TestReceiverTCPHostileStreams(t *testing.T) {
	rxNoLeak(t)
	header := func(version, length uint16) []byte {
		b := make([]byte, 16)
		binary.BigEndian.PutUint16(b, version)
		binary.BigEndian.PutUint16(b[2:], length)
		return b
	}
	cases := []struct {
		name    string
		stream  []byte
		hold    bool // keep the connection open: the idle timeout ends it
		want    error
		maxSize int
	}{
		{"length 0", header(10, 0), false, netflow.ErrMalformed, 0},
		{"length 15", header(10, 15), false, netflow.ErrMalformed, 0},
		{"length 65535, 10 bytes", append(header(10, 65535)[:4], make([]byte, 10)...), false, netflow.ErrTruncated, 0},
		{"length 65535, 10 bytes, held open", append(header(10, 65535)[:4], make([]byte, 10)...), true, netflow.ErrTruncated, 0},
		{"two header bytes", []byte{0, 10}, false, netflow.ErrTruncated, 0},
		{"over MaxDatagramSize", append(header(10, 4000), make([]byte, 4000-16)...), false, netflow.ErrLimit, 2000},
		{"v9", rxV5(0, 0, 1), false, netflow.ErrMalformed, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sink rxSink
			r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{MaxDatagramSize: tc.maxSize, IdleTimeout: 200 * time.Millisecond})
			c := tcpDial(t, addr)
			good := testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutB...))
			_, err := c.Write(append(slices.Clone(good), tc.stream...))
			require.NoError(t, err)
			if !tc.hold {
				c.CloseWrite()
			}
			waitClosed(t, c)
			rxWaitFor(t, "the stream's end counted", func() bool { return r.Stats().TCP.StreamErrors == 1 })
			cancel()
			st := r.Stats()
			assert.EqualValues(t, 1, st.Total.Decoded, "the message before it")
			if errors.Is(tc.want, netflow.ErrLimit) {
				assert.EqualValues(t, 1, st.Total.Oversize)
				assert.Empty(t, sink.errs, "an oversize message is not handed over")
				return
			}
			errs := sink.errs
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], tc.want)
			assert.Contains(t, errs[0].Error(), "netflow: ")
		})
	}
}

// Bounds at accept: a source outside the allow-list and a connection over
// MaxConnections are closed at once; an idle connection after IdleTimeout.
func TestReceiverTCPAcceptBounds(t *testing.T) {
	rxNoLeak(t)
	r, addr, cancel := tcpReceiver(t, nil, receiver.Config{MaxConnections: 2, IdleTimeout: 300 * time.Millisecond})
	c1, c2 := tcpDial(t, addr), tcpDial(t, addr)
	rxWaitFor(t, "two open", func() bool { return r.Stats().TCP.Open == 2 })
	c3 := tcpDial(t, addr)
	assert.NoError(t, waitClosed(t, c3))
	assert.EqualValues(t, 1, r.Stats().TCP.OverLimit)

	r.SetAllow([]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")})
	c4 := tcpDial(t, addr)
	waitClosed(t, c4)
	assert.EqualValues(t, 1, r.Stats().TCP.Refused)
	assert.Len(t, r.Stats().Exporters, 2, "a refused connection takes no slot")

	// c1 and c2 sent nothing: the idle timeout closes them.
	waitClosed(t, c1)
	waitClosed(t, c2)
	rxWaitFor(t, "idle closes counted", func() bool { return r.Stats().TCP.IdleClosed == 2 })
	cancel()
	assert.Equal(t, receiver.TCPStats{Accepted: 2, Refused: 1, OverLimit: 1, IdleClosed: 2}, r.Stats().TCP)
}

// A slow handler pushes back through TCP flow control: with the handler
// stalled, the exporter's writes block (its write deadline passes) instead
// of the receiver buffering the stream; released, every message written
// is handed over.
func TestReceiverTCPBackpressure(t *testing.T) {
	rxNoLeak(t)
	gate := make(chan struct{})
	var handled atomic.Uint64
	r, addr, cancel := tcpReceiver(t, func(*receiver.Datagram) {
		<-gate
		handled.Add(1)
	}, receiver.Config{})
	c := tcpDial(t, addr)
	msg := testkit.IPFIXMessage(1, 0, testkit.IPFIXDataSet(256, bytes.Repeat([]byte{1}, 1400))) // held: no template
	stream := bytes.Repeat(msg, (32<<20)/len(msg))
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(time.Second)))
	n, err := c.Write(stream)
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "32 MiB written to a stalled receiver: %v", err)
	assert.Less(t, n, len(stream))
	assert.Zero(t, handled.Load())
	close(gate)
	// Finish the message cut by the deadline, then end the stream.
	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	_, err = c.Write(stream[n : n+len(msg)-n%len(msg)])
	require.NoError(t, err)
	c.CloseWrite()
	waitClosed(t, c)
	whole := uint64((n + len(msg) - 1) / len(msg))
	rxWaitFor(t, "every message handed over", func() bool { return handled.Load() == whole })
	cancel()
	assert.EqualValues(t, whole, r.Stats().Total.Datagrams)
	assert.Zero(t, r.Stats().TCP.StreamErrors)
}

// Cancel closes open connections, waits for their goroutines and returns
// promptly; the listener no longer accepts.
func TestReceiverTCPCancelClosesConnections(t *testing.T) {
	rxNoLeak(t)
	var sink rxSink
	r, addr, cancel := tcpReceiver(t, sink.handle, receiver.Config{})
	c := tcpDial(t, addr)
	_, err := c.Write(testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutA...)))
	require.NoError(t, err)
	rxWaitFor(t, "message", func() bool { return sink.count() == 1 })
	done := make(chan struct{})
	go func() { cancel(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("cancel did not return")
	}
	assert.NoError(t, waitClosed(t, c))
	_, err = net.DialTimeout("tcp", addr.String(), time.Second)
	assert.Error(t, err, "the listener still accepts")
	assert.NoError(t, r.Wait())
	_, _, err = r.ListenTCP(context.Background(), "127.0.0.1:0")
	assert.Error(t, err, "ListenTCP after the stop")
	assert.Zero(t, r.Stats().TCP.Open)
}

// A session's templates die with it: once the connection ends, the
// decoder forgets that exporter (where the Decoder has Forget).
func TestReceiverTCPSessionEndForgetsTemplates(t *testing.T) {
	rxNoLeak(t)
	dec := netflow.NewDecoder(netflow.Config{})
	store := dec.Store().(*netflow.MemoryStore)
	r, addr, cancel := tcpReceiver(t, nil, receiver.Config{Decoder: dec})
	c := tcpDial(t, addr)
	_, err := c.Write(testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutA...), testkit.IPFIXTemplateSet(257, layoutB...)))
	require.NoError(t, err)
	rxWaitFor(t, "templates learned", func() bool { return store.Stats().Templates == 2 })
	c.CloseWrite()
	waitClosed(t, c)
	rxWaitFor(t, "templates forgotten", func() bool { return store.Stats().Templates == 0 })
	cancel()
	assert.EqualValues(t, 1, r.Stats().TCP.Closed)
}

func TestReceiverListenTCPErrors(t *testing.T) {
	rxNoLeak(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	r := receiver.New(nil, receiver.Config{})
	_, cancel, err := r.ListenTCP(context.Background(), busy.Addr().String())
	assert.ErrorIs(t, err, receiver.ErrListen)
	assert.Nil(t, cancel)
	assert.Contains(t, err.Error(), "netflow: ")
	r.AllowAll()
}

// ServeListener serves a listener the caller made, until its context ends;
// a listener closed under it stops the receiver with the failure.
func TestReceiverServeListener(t *testing.T) {
	rxNoLeak(t)
	var sink rxSink
	r := receiver.New(sink.handle, receiver.Config{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.ServeListener(ctx, ln) }()
	c := tcpDial(t, netip.MustParseAddrPort(ln.Addr().String()))
	_, err = c.Write(testkit.IPFIXMessage(1, 0, testkit.IPFIXTemplateSet(256, layoutA...),
		testkit.IPFIXDataSet(256, recordA(addrA1, addrA2, 1, 2, 17, 1, 64))))
	require.NoError(t, err)
	rxWaitFor(t, "message", func() bool { return sink.count() == 1 })
	stop()
	require.NoError(t, <-served)
	assert.NoError(t, waitClosed(t, c))
	require.Len(t, sink.flows, 1)
	assert.EqualValues(t, 64, sink.flows[0].Bytes)

	r2 := receiver.New(nil, receiver.Config{})
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln2.Close() // before or after the first Accept: the same failure
	go func() { served <- r2.ServeListener(context.Background(), ln2) }()
	err = <-served
	assert.ErrorIs(t, err, net.ErrClosed)
	assert.Contains(t, err.Error(), "netflow: accept on ")
}
