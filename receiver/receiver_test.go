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
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
)

func TestReceiverListenV5(t *testing.T) {
	for _, c := range []struct {
		batch    int
		coalesce time.Duration
	}{{1, 0}, {0, 0}, {0, 10 * time.Millisecond}} {
		batch := c.batch
		t.Run(fmt.Sprintf("batch=%d,coalesce=%v", batch, c.coalesce), func(t *testing.T) {
			rxNoLeak(t)
			var sink rxSink
			r := receiver.New(sink.handle, receiver.Config{Workers: 3, BatchSize: batch, ReadBuffer: 4 << 20,
				ReadCoalesce: c.coalesce})
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
	for _, coalesce := range rxCoalesceCases {
		t.Run(fmt.Sprintf("coalesce=%v", coalesce), func(t *testing.T) { testReceiverReusePort(t, coalesce) })
	}
}

func testReceiverReusePort(t *testing.T, coalesce time.Duration) {
	rxNoLeak(t)
	var sink rxSink
	r := receiver.New(sink.handle, receiver.Config{Sockets: 3, Workers: 2, ReadBuffer: 1 << 20, ReadCoalesce: coalesce})
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
	for _, coalesce := range rxCoalesceCases {
		t.Run(fmt.Sprintf("coalesce=%v", coalesce), func(t *testing.T) { testReceiverKernelDrops(t, coalesce) })
	}
}

// testReceiverKernelDrops serves a socket of Serve's caller, which read
// coalescing takes out of the poller (Serve closes the conn at once).
func testReceiverKernelDrops(t *testing.T, coalesce time.Duration) {
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
	r := receiver.New(nil, receiver.Config{ReadCoalesce: coalesce})
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
