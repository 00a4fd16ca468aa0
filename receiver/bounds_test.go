package receiver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
)

// Issue 16 item 6: a stop with a full queue and a slow handler ends within
// the drain deadline (plus one handler call), and what was still queued is
// counted as stopped, not lost.
func TestReceiverStopWithinDrainDeadline(t *testing.T) {
	for _, delay := range []time.Duration{time.Millisecond, 10 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			rxNoLeak(t)
			conn := newRxFakeConn()
			var handled atomic.Uint64
			const drain = 200 * time.Millisecond
			r := receiver.New(func(*receiver.Datagram) {
				time.Sleep(delay)
				handled.Add(1)
			}, receiver.Config{Workers: 1, QueueLen: 4096, DrainTimeout: drain})
			ctx, stop := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- r.Serve(ctx, conn) }()
			const n = 3000 // 3 s of work at 1 ms, 30 s at 10 ms
			from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2055}
			for i := range n {
				conn.in <- rxFakeDatagram{data: rxV5(uint32(i), 0, 1), from: from}
			}
			rxWaitFor(t, "datagrams read", func() bool { return r.Stats().Total.Datagrams == n })
			began := time.Now()
			stop()
			select {
			case err := <-served:
				require.NoError(t, err)
			case <-time.After(drain + delay + 2*time.Second):
				t.Fatalf("Serve still running %v after the stop; drain deadline %v", time.Since(began), drain)
			}
			took := time.Since(began)
			assert.Less(t, took, drain+delay+time.Second, "stop took too long")
			st := r.Stats().Total
			assert.EqualValues(t, n, st.Datagrams)
			assert.NotZero(t, st.Stopped, "nothing counted as stopped")
			assert.EqualValues(t, n, handled.Load()+st.Stopped+st.Dropped, "every datagram handed over, stopped or dropped")
			assert.Equal(t, handled.Load(), st.Decoded)
			assert.Zero(t, r.Stats().QueuedBytes, "queue memory returned")
			t.Logf("%v handler: stop took %v; %d handed over, %d stopped, %d dropped",
				delay, took.Round(time.Millisecond), handled.Load(), st.Stopped, st.Dropped)
		})
	}
}

// A negative DrainTimeout hands nothing queued over once a stop is asked.
func TestReceiverNoDrain(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	gate := make(chan struct{})
	var handled atomic.Uint64
	r := receiver.New(func(*receiver.Datagram) { <-gate; handled.Add(1) },
		receiver.Config{Workers: 1, DrainTimeout: -1})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, conn) }()
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2055}
	for i := range 10 {
		conn.in <- rxFakeDatagram{data: rxV5(uint32(i), 0, 1), from: from}
	}
	rxWaitFor(t, "datagrams read", func() bool { return r.Stats().Total.Datagrams == 10 })
	stop()
	time.Sleep(20 * time.Millisecond) // the stop is seen before the handler returns
	close(gate)
	require.NoError(t, <-served)
	st := r.Stats().Total
	assert.EqualValues(t, 1, handled.Load(), "only the datagram in the handler")
	assert.EqualValues(t, 9, st.Stopped)
}

// Issue 16 item 6: the queues are bounded in bytes, and a datagram is
// charged the power-of-two buffer it was copied into (1464 bytes: 2048,
// plus 128 of bookkeeping), not 64 KiB.
func TestReceiverQueueBytesBound(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	gate := make(chan struct{})
	const limit = 64 << 10
	r := receiver.New(func(*receiver.Datagram) { <-gate },
		receiver.Config{Workers: 1, QueueLen: 1000, MaxQueueBytes: limit})
	served := make(chan error, 1)
	ctx, stop := context.WithCancel(context.Background())
	go func() { served <- r.Serve(ctx, conn) }()
	from := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2055}
	const n = 100
	for i := range n {
		conn.in <- rxFakeDatagram{data: rxV5(uint32(i), 0, 30), from: from} // 1464 bytes
	}
	const each = 2048 + 128
	const fit = limit / each // 30
	// A datagram is counted read before it is queued or dropped: wait
	// until each of the n is one or the other.
	rxWaitFor(t, "datagrams queued or dropped", func() bool {
		st := r.Stats()
		return st.Total.Datagrams == n && st.Total.Dropped+st.QueuedBytes/each == n
	})
	st := r.Stats()
	assert.EqualValues(t, fit*each, st.QueuedBytes)
	assert.LessOrEqual(t, st.QueuedBytes, uint64(limit))
	assert.EqualValues(t, n-fit, st.Total.Dropped)
	close(gate)
	rxWaitFor(t, "queue drained", func() bool { return r.Stats().Total.Decoded >= fit })
	assert.EqualValues(t, fit, r.Stats().Total.Decoded)
	assert.Zero(t, r.Stats().QueuedBytes)
	stop()
	require.NoError(t, <-served)
}

// Issue 16 item 4c: 50,000 refused sources take no per-source slot, so an
// allowed exporter keeps its own counters (it used to be pushed into the
// shared "others" entry).
func TestReceiverDeniedSourcesCostNothing(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	r := receiver.New(nil, receiver.Config{
		Allow:        []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		MaxExporters: 16,
	})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, conn) }()
	allowed := &net.UDPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 2055}
	datagram := rxV5(0, 0, 1)
	const spoofed = 50_000
	for i := range spoofed {
		src := &net.UDPAddr{IP: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i)), Port: 1 + i%60000}
		conn.in <- rxFakeDatagram{data: datagram, from: src}
		if i%5000 == 0 {
			conn.in <- rxFakeDatagram{data: datagram, from: allowed}
		}
	}
	rxWaitFor(t, "datagrams", func() bool { return r.Stats().Total.Datagrams == spoofed+10 })
	rxWaitFor(t, "decodes", func() bool { return r.Stats().Total.Decoded == 10 })
	stop()
	require.NoError(t, <-served)
	st := r.Stats()
	assert.EqualValues(t, spoofed, st.Total.Denied)
	require.Len(t, st.Exporters, 1, "only the allowed exporter has a slot")
	got := st.Exporters[netip.MustParseAddrPort("192.0.2.1:2055")]
	assert.Equal(t, receiver.Counters{Datagrams: 10, Bytes: 10 * 72, Decoded: 10, Flows: 10}, got)
}

// The sweeper drops the counters of sources idle for ExporterIdle (their
// figures stay in the total) and a source that comes back gets a new slot.
func TestReceiverIdleExportersReclaimed(t *testing.T) {
	rxNoLeak(t)
	conn := newRxFakeConn()
	r := receiver.New(nil, receiver.Config{
		MaxExporters:  2,
		ExporterIdle:  50 * time.Millisecond,
		SweepInterval: 10 * time.Millisecond,
	})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, conn) }()
	src := func(i int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(i)), Port: 9995} }
	for i := range 3 {
		conn.in <- rxFakeDatagram{data: rxV5(0, 0, 1), from: src(i)}
	}
	rxWaitFor(t, "datagrams", func() bool { return r.Stats().Total.Datagrams == 3 })
	st := r.Stats()
	assert.Len(t, st.Exporters, 3, "two slots and the others")
	assert.EqualValues(t, 1, st.Exporters[netip.AddrPort{}].Datagrams)
	rxWaitFor(t, "idle slots reclaimed", func() bool {
		ex := r.Stats().Exporters
		_, others := ex[netip.AddrPort{}]
		return len(ex) == 1 && others // the shared entry stays
	})
	conn.in <- rxFakeDatagram{data: rxV5(0, 0, 1), from: src(7)}
	rxWaitFor(t, "new slot", func() bool {
		return r.Stats().Exporters[netip.MustParseAddrPort("192.0.2.7:9995")].Decoded == 1
	})
	stop()
	require.NoError(t, <-served)
	assert.EqualValues(t, 4, r.Stats().Total.Datagrams)
}

// Issue 16 item 4a: with a template TTL and a store full of templates of
// confirmed exporters (issue 20: a new exporter would otherwise take the
// place of one on probation), the receiver's sweeper expires the stale
// templates (MemoryStore.Expire), so that a new exporter gets in without
// the user doing anything.
func TestReceiverSweeperExpiresTemplates(t *testing.T) {
	rxNoLeak(t)
	store := netflow.NewMemoryStore(netflow.MemoryStoreConfig{TTL: 100 * time.Millisecond, MaxTemplates: 2})
	dec := netflow.NewDecoder(netflow.Config{Store: store})
	conn := newRxFakeConn()
	var sink rxSink
	r := receiver.New(sink.handle, receiver.Config{
		Decoder:       dec,
		Workers:       1, // decoded in the order sent: the third exporter is the one refused
		SweepInterval: 10 * time.Millisecond,
	})
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- r.Serve(ctx, conn) }()
	msg := func(seq uint32) []byte {
		return testkit.IPFIXMessage(1, seq, testkit.IPFIXTemplateSet(256, layoutA...),
			testkit.IPFIXDataSet(256, recordA([4]byte{192, 0, 2, 1}, [4]byte{198, 51, 100, 1}, 1000, 80, 6, 3, 180)))
	}
	// Data alone, decoded with the stored template, confirms an exporter.
	data := testkit.IPFIXMessage(1, 1, testkit.IPFIXDataSet(256, recordA([4]byte{192, 0, 2, 1}, [4]byte{198, 51, 100, 1}, 1000, 80, 6, 3, 180)))
	src := func(i int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(i)), Port: 4739} }
	conn.in <- rxFakeDatagram{data: msg(0), from: src(1)}
	conn.in <- rxFakeDatagram{data: msg(0), from: src(2)}
	conn.in <- rxFakeDatagram{data: data, from: src(1)}
	conn.in <- rxFakeDatagram{data: data, from: src(2)}
	conn.in <- rxFakeDatagram{data: msg(0), from: src(3)} // the store is full
	rxWaitFor(t, "five handled", func() bool { return sink.count() == 5 })
	st := r.Stats().Total
	assert.EqualValues(t, 1, st.Errors.Limit, "the third exporter's template refused")
	assert.EqualValues(t, 4, st.Flows)
	assert.Equal(t, 2, store.Stats().Exporters)
	assert.Equal(t, 2, store.Stats().Confirmed)

	// Nothing is sent: only the sweeper can free the slots.
	rxWaitFor(t, "templates expired by the sweeper", func() bool { return store.Stats().Exporters == 0 })
	assert.EqualValues(t, 2, store.Stats().Expired)

	conn.in <- rxFakeDatagram{data: msg(1), from: src(3)}
	// Its data held since the refused template is released with the new
	// one: two flows.
	rxWaitFor(t, "the new exporter decoded", func() bool { return r.Stats().Total.Flows == 6 })
	stop()
	require.NoError(t, <-served)
	sink.mu.Lock()
	defer sink.mu.Unlock()
	require.Len(t, sink.errs, 1)
	assert.True(t, errors.Is(sink.errs[0], netflow.ErrLimit), "%v", sink.errs[0])
	last := sink.flows[len(sink.flows)-1]
	assert.Equal(t, netip.MustParseAddrPort("192.0.2.3:4739"), last.Exporter)
	assert.Equal(t, fmt.Sprint(uint64(3), uint64(180)), fmt.Sprint(last.Packets, last.Bytes))
}

// The same over real sockets: 5,000 datagrams (50,000 under NETFLOW_SOAK=1)
// from as many loopback addresses outside the allow-list (127.1.0.0/16), and
// ten from an allowed exporter on 127.0.0.1.
func TestReceiverDeniedSourcesLoopback(t *testing.T) {
	if testing.Short() {
		t.Skip("thousands of sockets")
	}
	rxNoLeak(t)
	r := receiver.New(nil, receiver.Config{
		Allow:        []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		MaxExporters: 16,
	})
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	require.NoError(t, err)
	defer cancel()
	allowed := rxDial(t, addr)
	datagram := rxV5(0, 0, 1)
	spoofed := testkit.SoakSize(5_000, 50_000)
	every := spoofed / 10 // an allowed datagram every so many
	var sent uint64
	for i := range spoofed {
		src := netip.AddrFrom4([4]byte{127, byte(1 + i>>16), byte(i >> 8), byte(i)})
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, 0)), net.UDPAddrFromAddrPort(addr))
		require.NoError(t, err)
		_, err = c.Write(datagram)
		c.Close()
		require.NoError(t, err)
		sent++
		if i%every == 0 {
			rxSend(t, allowed, datagram)
			sent++
		}
		if i%1000 == 999 { // stay well below the socket buffer
			rxWaitFor(t, "datagrams read", func() bool { return r.Stats().Total.Datagrams == sent })
		}
	}
	cancel()
	st := r.Stats()
	assert.EqualValues(t, spoofed+10, st.Total.Datagrams)
	assert.EqualValues(t, spoofed, st.Total.Denied)
	require.Len(t, st.Exporters, 1, "only the allowed exporter has a slot")
	src := allowed.LocalAddr().(*net.UDPAddr).AddrPort()
	assert.Equal(t, receiver.Counters{Datagrams: 10, Bytes: 10 * 72, Decoded: 10, Flows: 10}, st.Exporters[src])
}

// The same over a real socket: a 10 ms handler, thousands of datagrams
// queued on loopback, then cancel.
func TestReceiverStopWithinDrainDeadlineLoopback(t *testing.T) {
	rxNoLeak(t)
	var handled atomic.Uint64
	const drain = 300 * time.Millisecond
	r := receiver.New(func(*receiver.Datagram) {
		time.Sleep(10 * time.Millisecond)
		handled.Add(1)
	}, receiver.Config{Workers: 1, DrainTimeout: drain})
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	require.NoError(t, err)
	c := rxDial(t, addr)
	d := rxV5(0, 0, 30)
	for i := range 2000 {
		rxSend(t, c, d)
		if i%200 == 199 {
			time.Sleep(time.Millisecond)
		}
	}
	rxWaitFor(t, "a queue of datagrams", func() bool { return r.Stats().Total.Datagrams >= 1000 })
	began := time.Now()
	cancel()
	took := time.Since(began)
	assert.Less(t, took, drain+time.Second, "cancel took too long")
	st := r.Stats().Total
	assert.NotZero(t, st.Stopped)
	assert.Equal(t, st.Datagrams, handled.Load()+st.Stopped+st.Dropped)
	t.Logf("cancel took %v: %d read, %d handed over, %d stopped", took.Round(time.Millisecond), st.Datagrams, handled.Load(), st.Stopped)
}
