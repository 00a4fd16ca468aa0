package receiver_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
)

// rxNoLeak fails t if the goroutines started during the test have not all
// ended once its other cleanups ran. Call it first in a test.
func rxNoLeak(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before the test, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// rxV5 builds a NetFlow v5 datagram of n records. Record i goes from
// 192.0.2.(i+1):(1000+i) to 198.51.100.(i+1):80 over TCP, with i+1 packets
// and (i+1)*100 bytes.
func rxV5(seq uint32, engineID uint8, n int) []byte {
	b := make([]byte, 24+48*n)
	binary.BigEndian.PutUint16(b[0:], 5)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[4:], 100000)     // sys uptime, ms
	binary.BigEndian.PutUint32(b[8:], 1700000000) // unix secs
	binary.BigEndian.PutUint32(b[16:], seq)
	b[21] = engineID
	for i := range n {
		r := b[24+48*i:]
		copy(r[0:], []byte{192, 0, 2, byte(i + 1)})
		copy(r[4:], []byte{198, 51, 100, byte(i + 1)})
		binary.BigEndian.PutUint32(r[16:], uint32(i+1))
		binary.BigEndian.PutUint32(r[20:], uint32(i+1)*100)
		binary.BigEndian.PutUint32(r[24:], 90000)
		binary.BigEndian.PutUint32(r[28:], 95000)
		binary.BigEndian.PutUint16(r[32:], uint16(1000+i))
		binary.BigEndian.PutUint16(r[34:], 80)
		r[37] = 0x1b
		r[38] = 6
	}
	return b
}

// rxSink collects what a Receiver hands over.
type rxSink struct {
	mu    sync.Mutex
	flows []netflow.Flow
	errs  []error
	data  [][]byte
	seqs  map[netip.AddrPort][]uint32
	calls int
}

func (s *rxSink) handle(d *receiver.Datagram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.seqs == nil {
		s.seqs = make(map[netip.AddrPort][]uint32)
	}
	if d.Packet != nil {
		s.flows = d.Packet.AppendFlows(s.flows)
		if p, ok := d.Packet.(*netflow.V5Packet); ok {
			s.seqs[d.Exporter] = append(s.seqs[d.Exporter], p.Header.FlowSequence)
		}
	}
	if d.Err != nil {
		s.errs = append(s.errs, d.Err)
		s.data = append(s.data, bytes.Clone(d.Data))
	}
}

func (s *rxSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// rxWaitFor polls cond for up to 10 s.
func rxWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func rxDial(t *testing.T, to netip.AddrPort) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(to))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rxSend(t *testing.T, c *net.UDPConn, b []byte) {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

func TestReceiverListenV5(t *testing.T) {
	for _, batch := range []int{1, 0} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			rxNoLeak(t)
			var sink rxSink
			r := receiver.New(sink.handle, receiver.Config{Workers: 3, BatchSize: batch, ReadBuffer: 4 << 20})
			addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			if !addr.Addr().Is4() || addr.Port() == 0 {
				t.Fatalf("bound %v", addr)
			}
			// Three exporters, interleaved, 100 datagrams each.
			var senders []*net.UDPConn
			for range 3 {
				senders = append(senders, rxDial(t, addr))
			}
			const perExporter = 100
			for seq := range perExporter {
				for i, c := range senders {
					rxSend(t, c, rxV5(uint32(seq*30), uint8(i), 30))
				}
				if seq%20 == 19 {
					time.Sleep(time.Millisecond) // stay below the socket buffer
				}
			}
			rxWaitFor(t, "datagrams", func() bool { return sink.count() == 3*perExporter })
			cancel()
			cancel() // idempotent

			st := r.Stats()
			want := receiver.Counters{Datagrams: 300, Bytes: 300 * 1464, Decoded: 300, Flows: 9000}
			if st.Total != want {
				t.Errorf("total %+v, want %+v", st.Total, want)
			}
			if len(st.Exporters) != 3 {
				t.Errorf("%d exporters, want 3", len(st.Exporters))
			}
			for i, c := range senders {
				ap := c.LocalAddr().(*net.UDPAddr).AddrPort()
				ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
				got := st.Exporters[ap]
				if got.Datagrams != perExporter || got.Flows != 30*perExporter {
					t.Errorf("exporter %d %v: %+v", i, ap, got)
				}
				// In order, per exporter.
				seqs := sink.seqs[ap]
				if !slices.IsSorted(seqs) || len(seqs) != perExporter {
					t.Errorf("exporter %v: %d sequence numbers, sorted %v", ap, len(seqs), slices.IsSorted(seqs))
				}
			}
			f := sink.flows[0]
			if f.Version != 5 || f.SrcAddr != netip.MustParseAddr("192.0.2.1") ||
				f.DstAddr != netip.MustParseAddr("198.51.100.1") || f.SrcPort != 1000 ||
				f.DstPort != 80 || f.Packets != 1 || f.Bytes != 100 || f.Proto != 6 {
				t.Errorf("first flow %+v", f)
			}
			if err := r.Wait(); err != nil {
				t.Errorf("Wait: %v", err)
			}
		})
	}
}

func TestReceiverContextCancel(t *testing.T) {
	rxNoLeak(t)
	ctx, stop := context.WithCancel(context.Background())
	r := receiver.New(nil, receiver.Config{SweepInterval: time.Millisecond})
	addr, cancel, err := r.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rxSend(t, rxDial(t, addr), rxV5(0, 0, 2))
	rxWaitFor(t, "decode", func() bool { return r.Stats().Total.Decoded == 1 })
	stop()
	if err := r.Wait(); err != nil {
		t.Errorf("Wait after context cancel: %v", err)
	}
	cancel() // returns at once after the stop
	if _, _, err := r.Listen(ctx, "127.0.0.1:0"); err == nil {
		t.Error("second Listen on one Receiver succeeded")
	}
}

func TestReceiverListenErrors(t *testing.T) {
	rxNoLeak(t)
	busy, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, sockets := range []int{1, 2} {
		if sockets > 1 && runtime.GOOS != "linux" {
			continue
		}
		r := receiver.New(nil, receiver.Config{Sockets: sockets})
		_, cancel, err := r.Listen(context.Background(), busy.LocalAddr().String())
		if !errors.Is(err, receiver.ErrListen) || !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("sockets=%d: address in use: err = %v, want ErrListen and EADDRINUSE", sockets, err)
		}
		if cancel != nil {
			t.Error("cancel func with an error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "netflow: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
	}
	for _, bad := range []string{"127.0.0.1:notaport", "127.0.0.1:70000", "192.0.2.300:1"} {
		r := receiver.New(nil, receiver.Config{})
		if _, _, err := r.Listen(context.Background(), bad); !errors.Is(err, receiver.ErrListen) {
			t.Errorf("Listen(%q): err = %v, want ErrListen", bad, err)
		}
	}
	if os.Geteuid() != 0 {
		r := receiver.New(nil, receiver.Config{})
		if _, _, err := r.Listen(context.Background(), "127.0.0.1:1"); !errors.Is(err, receiver.ErrListen) ||
			!errors.Is(err, syscall.EACCES) {
			t.Errorf("privileged port: err = %v, want ErrListen and EACCES", err)
		}
	}
}

func TestReceiverAllow(t *testing.T) {
	rxNoLeak(t)
	for _, tc := range []struct {
		allow  []netip.Prefix
		denied bool
	}{
		{nil, false},
		{[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, true},
		{[]netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("127.0.0.0/8")}, false},
		{[]netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.1/128")}, true}, // a mapped prefix is not an IPv4 one
	} {
		var sink rxSink
		r := receiver.New(sink.handle, receiver.Config{Allow: tc.allow})
		// A dual-stack socket: IPv4 sources must still match IPv4 prefixes.
		addr, cancel, err := r.Listen(context.Background(), "[::]:0")
		if err != nil {
			addr, cancel, err = r.Listen(context.Background(), "0.0.0.0:0")
		}
		if err != nil {
			t.Fatal(err)
		}
		c := rxDial(t, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), addr.Port()))
		for range 3 {
			rxSend(t, c, rxV5(0, 0, 1))
		}
		rxWaitFor(t, "datagrams", func() bool { return r.Stats().Total.Datagrams == 3 })
		cancel()
		st := r.Stats()
		src := c.LocalAddr().(*net.UDPAddr).AddrPort()
		if tc.denied {
			// A refused source is counted in the total only: it costs no
			// per-source slot.
			if _, ok := st.Exporters[src]; st.Total.Denied != 3 || ok || len(st.Exporters) != 0 || sink.count() != 0 || st.Total.Decoded != 0 {
				t.Errorf("allow %v: want 3 denied from %v, got %+v, %d handled", tc.allow, src, st, sink.count())
			}
		} else if st.Total.Denied != 0 || st.Exporters[src].Decoded != 3 || sink.count() != 3 {
			t.Errorf("allow %v: want 3 decoded from %v, got %+v, %d handled", tc.allow, src, st, sink.count())
		}
	}
}

func TestReceiverDecodeErrors(t *testing.T) {
	rxNoLeak(t)
	truncated := rxV5(0, 0, 2)[:24+48+10]
	empty := rxV5(0, 0, 1)[:24]
	binary.BigEndian.PutUint16(empty[2:], 0)
	sent := [][]byte{{0, 99, 1, 2}, truncated, empty, {5}, rxV5(1, 0, 1)}
	var sink rxSink
	r := receiver.New(sink.handle, receiver.Config{Workers: 1})
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := rxDial(t, addr)
	for _, b := range sent {
		rxSend(t, c, b)
	}
	rxWaitFor(t, "datagrams", func() bool { return sink.count() == len(sent) })
	cancel()
	want := []error{netflow.ErrUnsupportedVersion, netflow.ErrTruncated, netflow.ErrEmpty, netflow.ErrTruncated}
	if len(sink.errs) != len(want) {
		t.Fatalf("errors %v", sink.errs)
	}
	for i, err := range sink.errs {
		if !errors.Is(err, want[i]) {
			t.Errorf("datagram %d: err %v, want %v", i, err, want[i])
		}
		if !bytes.Equal(sink.data[i], sent[i]) {
			t.Errorf("datagram %d: handler saw % x, sent % x", i, sink.data[i], sent[i])
		}
	}
	st := r.Stats().Total
	wantC := receiver.Counters{Datagrams: 5, Bytes: 4 + 82 + 24 + 1 + 72, Decoded: 1, Flows: 1, Failed: 4,
		Errors: receiver.ErrorCounts{UnsupportedVersion: 1, Truncated: 2, Empty: 1}}
	if st != wantC {
		t.Errorf("counters %+v, want %+v", st, wantC)
	}
}

func TestReceiverOversize(t *testing.T) {
	rxNoLeak(t)
	for _, batch := range []int{1, 8} {
		var sink rxSink
		r := receiver.New(sink.handle, receiver.Config{MaxDatagramSize: 1000, BatchSize: batch})
		addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		c := rxDial(t, addr)
		rxSend(t, c, rxV5(0, 0, 30)) // 1464 bytes
		rxSend(t, c, rxV5(0, 0, 20)) // 984 bytes
		rxWaitFor(t, "datagrams", func() bool { return r.Stats().Total.Datagrams == 2 })
		cancel()
		st := r.Stats().Total
		if st.Oversize != 1 || st.Decoded != 1 || sink.count() != 1 {
			t.Errorf("batch %d: %+v, %d handled", batch, st, sink.count())
		}
	}
}

// rxFakeConn is a net.PacketConn fed through a channel.
type rxFakeConn struct {
	in     chan rxFakeDatagram
	closed chan struct{}
	once   sync.Once
}

type rxFakeDatagram struct {
	data []byte
	from net.Addr
	err  error
}

func newRxFakeConn() *rxFakeConn {
	return &rxFakeConn{in: make(chan rxFakeDatagram), closed: make(chan struct{})}
}

func (c *rxFakeConn) ReadFrom(b []byte) (int, net.Addr, error) {
	select {
	case d := <-c.in:
		if d.err != nil {
			return 0, nil, d.err
		}
		return copy(b, d.data), d.from, nil
	case <-c.closed:
		return 0, nil, net.ErrClosed
	}
}

func (c *rxFakeConn) WriteTo(b []byte, _ net.Addr) (int, error) { return len(b), nil }
func (c *rxFakeConn) Close() error                              { c.once.Do(func() { close(c.closed) }); return nil }
func (c *rxFakeConn) LocalAddr() net.Addr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2055}
}
func (c *rxFakeConn) SetDeadline(time.Time) error      { return nil }
func (c *rxFakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *rxFakeConn) SetWriteDeadline(time.Time) error { return nil }

// fakeAddr is a net.Addr that is not a *net.UDPAddr.
type fakeAddr string

func (a fakeAddr) Network() string { return "fake" }
func (a fakeAddr) String() string  { return string(a) }

func TestReceiverServeDrainsOnStop(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	gate := make(chan struct{})
	var handled []uint32
	var exporters []netip.AddrPort
	h := func(d *receiver.Datagram) {
		if len(handled) == 0 {
			<-gate // a slow handler
		}
		handled = append(handled, d.Packet.(*netflow.V5Packet).Header.FlowSequence)
		exporters = append(exporters, d.Exporter)
	}
	r := receiver.New(h, receiver.Config{Workers: 1, QueueLen: 100})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error)
	go func() { served <- r.Serve(ctx, conn) }()
	const n = 10
	for i := range n {
		conn.in <- rxFakeDatagram{data: rxV5(uint32(i), 0, 1), from: fakeAddr("[::ffff:192.0.2.7]:9995")}
	}
	stop()
	time.Sleep(20 * time.Millisecond)
	close(gate)
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	// Serve returned: every datagram read must have been handed over.
	if want := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}; !slices.Equal(handled, want) {
		t.Errorf("handled %v, want %v", handled, want)
	}
	if exporters[0] != netip.MustParseAddrPort("192.0.2.7:9995") {
		t.Errorf("exporter %v", exporters[0])
	}
	if st := r.Stats().Total; st.Datagrams != n || st.Decoded != n {
		t.Errorf("counters %+v", st)
	}
}

func TestReceiverSlowHandlerDrops(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	gate := make(chan struct{})
	var sink rxSink
	r := receiver.New(func(d *receiver.Datagram) { <-gate; sink.handle(d) },
		receiver.Config{Workers: 1, QueueLen: 2})
	served := make(chan error)
	go func() { served <- r.Serve(context.Background(), conn) }()
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2055}
	const n = 10
	for i := range n {
		conn.in <- rxFakeDatagram{data: rxV5(uint32(i), 0, 1), from: from}
	}
	// Stop the receiver with a read failure.
	boom := errors.New("boom")
	conn.in <- rxFakeDatagram{err: boom}
	close(gate)
	err := <-served
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "netflow: ") {
		t.Errorf("Serve: %v, want boom", err)
	}
	st := r.Stats()
	if st.Total.Datagrams != n || st.Total.Dropped < n-3 || uint64(sink.count())+st.Total.Dropped != n {
		t.Errorf("counters %+v, %d handled", st.Total, sink.count())
	}
	if st.Exporters[netip.MustParseAddrPort("192.0.2.1:2055")].Dropped != st.Total.Dropped {
		t.Errorf("exporter counters %+v", st.Exporters)
	}
}

func TestReceiverFailureReported(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	var mu sync.Mutex
	var reported []error
	r := receiver.New(nil, receiver.Config{
		OnError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() },
	})
	done := make(chan error)
	go func() { done <- r.Serve(context.Background(), conn) }()
	conn.in <- rxFakeDatagram{err: syscall.ENOBUFS}
	if err := r.Wait(); !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("Wait: %v", err)
	}
	if err := <-done; !errors.Is(err, syscall.ENOBUFS) {
		t.Errorf("Serve: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !errors.Is(reported[0], syscall.ENOBUFS) {
		t.Errorf("OnError got %v", reported)
	}
	// The conn was closed.
	if _, _, err := conn.ReadFrom(nil); !errors.Is(err, net.ErrClosed) {
		t.Errorf("conn not closed: %v", err)
	}
}

func TestReceiverMaxExporters(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	r := receiver.New(nil, receiver.Config{MaxExporters: 2})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Serve(ctx, conn) }()
	for i := range 5 {
		conn.in <- rxFakeDatagram{data: rxV5(0, 0, 1), from: &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(i)), Port: 1}}
	}
	stop()
	<-done
	st := r.Stats()
	if len(st.Exporters) != 3 || st.Exporters[netip.AddrPort{}].Datagrams != 3 || st.Total.Datagrams != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestReceiverReusePort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_REUSEPORT sockets on Linux only")
	}
	rxNoLeak(t)
	var sink rxSink
	r := receiver.New(sink.handle, receiver.Config{Sockets: 3, Workers: 2, ReadBuffer: 1 << 20})
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	const exporters, each = 16, 5
	for range exporters {
		c := rxDial(t, addr)
		for i := range each {
			rxSend(t, c, rxV5(uint32(i), 0, 3))
		}
	}
	rxWaitFor(t, "datagrams", func() bool { return sink.count() == exporters*each })
	cancel()
	st := r.Stats()
	if st.Total.Decoded != exporters*each || len(st.Exporters) != exporters {
		t.Errorf("stats %+v", st.Total)
	}
	for ap, seqs := range sink.seqs {
		if !slices.Equal(seqs, []uint32{0, 1, 2, 3, 4}) {
			t.Errorf("exporter %v: sequence %v", ap, seqs)
		}
	}
}

func TestReceiverKernelDrops(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SO_RXQ_OVFL is Linux only")
	}
	rxNoLeak(t)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
	to := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	c := rxDial(t, to)
	// Nobody reads yet: most of these overflow the small buffer.
	const n = 200
	for range n {
		rxSend(t, c, rxV5(0, 0, 30))
	}
	r := receiver.New(nil, receiver.Config{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Serve(ctx, conn) }()
	// Let the reader drain the buffer, then send one more: the drop count
	// rides on each datagram queued after the drops.
	var last uint64
	rxWaitFor(t, "the buffer drained", func() bool {
		n := r.Stats().Total.Datagrams
		if n == 0 || n != last {
			last = n
			time.Sleep(20 * time.Millisecond)
			return false
		}
		return true
	})
	rxSend(t, c, rxV5(0, 0, 1))
	rxWaitFor(t, "kernel drops", func() bool {
		st := r.Stats()
		return st.Total.Datagrams+st.KernelDrops == n+1
	})
	stop()
	<-done
	if st := r.Stats(); st.KernelDrops == 0 || st.Total.Datagrams == n+1 {
		t.Errorf("no kernel drops: %+v", st)
	}
}

// rxTraffic is the input pcap of the softflowd test: five unidirectional
// flows between documentation addresses.
type rxFlowKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
}

func (k rxFlowKey) String() string {
	return fmt.Sprintf("%v:%d->%v:%d proto %d", k.src, k.sport, k.dst, k.dport, k.proto)
}

type rxFlowWant struct {
	packets, bytes uint64
	tcpFlags       uint8
	start, end     time.Time
}

type rxPkt struct {
	src, dst     string
	sport, dport uint16
	tcpFlags     uint8 // 0 for UDP
	udp          bool
	payload      int
}

func rxWritePcap(t *testing.T, path string, base time.Time) map[rxFlowKey]*rxFlowWant {
	const syn, psh, ack = 0x02, 0x08, 0x10
	pkts := []rxPkt{
		{"192.0.2.10", "198.51.100.20", 40001, 80, syn, false, 0},
		{"198.51.100.20", "192.0.2.10", 80, 40001, syn | ack, false, 0},
		{"192.0.2.10", "198.51.100.20", 40001, 80, ack | psh, false, 100},
		{"198.51.100.20", "192.0.2.10", 80, 40001, ack, false, 300},
		{"192.0.2.10", "198.51.100.20", 40001, 80, ack, false, 200},
		{"192.0.2.11", "198.51.100.21", 5353, 53, 0, true, 40},
		{"198.51.100.21", "192.0.2.11", 53, 5353, 0, true, 120},
		{"192.0.2.11", "198.51.100.21", 5353, 53, 0, true, 60},
		{"203.0.113.5", "192.0.2.12", 123, 123, 0, true, 48},
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	want := make(map[rxFlowKey]*rxFlowWant)
	for i, p := range pkts {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP(p.src).To4(), DstIP: net.ParseIP(p.dst).To4()}
		var l4 gopacket.SerializableLayer
		l4len := 20
		if p.udp {
			ip.Protocol = layers.IPProtocolUDP
			u := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
			u.SetNetworkLayerForChecksum(ip)
			l4, l4len = u, 8
		} else {
			ip.Protocol = layers.IPProtocolTCP
			tc := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: uint32(i), Window: 65535,
				SYN: p.tcpFlags&syn != 0, ACK: p.tcpFlags&ack != 0, PSH: p.tcpFlags&psh != 0}
			tc.SetNetworkLayerForChecksum(ip)
			l4 = tc
		}
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, l4, gopacket.Payload(make([]byte, p.payload)))
		if err != nil {
			t.Fatal(err)
		}
		ts := base.Add(time.Duration(i) * 100 * time.Millisecond)
		frame := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			t.Fatal(err)
		}
		k := rxFlowKey{netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst), p.sport, p.dport, uint8(ip.Protocol)}
		fw := want[k]
		if fw == nil {
			fw = &rxFlowWant{start: ts}
			want[k] = fw
		}
		fw.packets++
		// softflowd counts the frame less the Ethernet header,
		// padding of short frames included.
		fw.bytes += uint64(len(frame) - 14)
		if len(frame)-14 < 20+l4len+p.payload {
			t.Fatalf("frame %d: %d bytes", i, len(frame))
		}
		fw.tcpFlags |= p.tcpFlags
		fw.end = ts
	}
	return want
}

// TestReceiverSoftflowd runs the softflowd exporter on a pcap made here and
// checks the flows the receiver hands over against the traffic in it.
func TestReceiverSoftflowd(t *testing.T) {
	bin, err := exec.LookPath("softflowd")
	if err != nil {
		t.Skip("softflowd not installed (apt-get install softflowd): skipping the end-to-end test")
	}
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	in := filepath.Join(t.TempDir(), "in.pcap")
	want := rxWritePcap(t, in, base)
	for _, version := range []int{1, 5, 9, 10} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			rxNoLeak(t)
			var sink rxSink
			r := receiver.New(sink.handle, receiver.Config{Workers: 2})
			addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			ctx, stop := context.WithTimeout(context.Background(), time.Minute)
			defer stop()
			cmd := exec.CommandContext(ctx, bin, "-r", in, "-a", "-d", "-c", "none",
				"-p", filepath.Join(t.TempDir(), "pid"), "-n", addr.String(), "-v", fmt.Sprint(version))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", cmd, err, out)
			}
			rxWaitFor(t, "flows", func() bool {
				st := r.Stats().Total
				return st.Flows >= uint64(len(want)) || st.Failed > 0
			})
			time.Sleep(50 * time.Millisecond) // anything more would be a duplicate
			cancel()
			st := r.Stats()
			if st.Total.Errors.UnsupportedVersion > 0 {
				t.Skipf("the decoder does not decode v%d yet: %v", version, sink.errs)
			}
			if st.Total.Failed > 0 {
				t.Fatalf("decode errors: %v", sink.errs)
			}
			got := make(map[rxFlowKey]netflow.Flow)
			for _, f := range sink.flows {
				k := rxFlowKey{f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto}
				if _, dup := got[k]; dup {
					t.Errorf("flow %v exported twice", k)
				}
				got[k] = f
			}
			for k, w := range want {
				f, ok := got[k]
				if !ok {
					t.Errorf("flow %v missing", k)
					continue
				}
				if f.Packets != w.packets || f.Bytes != w.bytes {
					t.Errorf("flow %v: %d packets, %d bytes; want %d, %d", k, f.Packets, f.Bytes, w.packets, w.bytes)
				}
				if k.proto == 6 && f.Known.Has(netflow.FieldTCPFlags) && f.TCPFlags != w.tcpFlags {
					t.Errorf("flow %v: TCP flags %#x, want %#x", k, f.TCPFlags, w.tcpFlags)
				}
				if int(f.Version) != version {
					t.Errorf("flow %v: version %d", k, f.Version)
				}
				if f.Exporter.Addr() != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("flow %v: exporter %v", k, f.Exporter)
				}
				// The traffic spans base to base+0.8s. softflowd gives
				// both directions the times of the whole conversation,
				// and a v9 header carries the export time in whole
				// seconds only, so times may come up to 1s early.
				if f.Known.Has(netflow.FieldStart|netflow.FieldEnd) &&
					(f.Start.Before(base.Add(-time.Second)) || f.End.After(base.Add(time.Second)) || f.End.Before(f.Start)) {
					t.Errorf("flow %v: start %v end %v, want within %v and %v", k, f.Start, f.End, w.start, w.end)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d flows, want %d", len(got), len(want))
			}
			if st.Total.Flows != uint64(len(sink.flows)) || st.Total.Datagrams != st.Total.Decoded {
				t.Errorf("counters %+v, %d flows handed over", st.Total, len(sink.flows))
			}
			t.Logf("v%d: %d datagrams, %d flows from softflowd %v", version, st.Total.Datagrams, st.Total.Flows, addr)
		})
	}
}
