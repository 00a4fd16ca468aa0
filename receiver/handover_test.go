package receiver_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/receiver"
)

// A handler that blocks does not stall the socket: while the reading
// goroutine that handed the first datagram over waits in it, the other
// reads on (the watchdog wakes it), and the rest are read and queued.
func TestReceiverBlockedHandlerDoesNotStallSocket(t *testing.T) {
	for _, coalesce := range rxCoalesceCases {
		t.Run(fmt.Sprintf("coalesce=%v", coalesce), func(t *testing.T) { testReceiverBlockedHandler(t, coalesce) })
	}
}

func testReceiverBlockedHandler(t *testing.T, coalesce time.Duration) {
	rxNoLeak(t)
	gate := make(chan struct{})
	var first sync.Once
	var handled atomic.Uint64
	r := receiver.New(func(*receiver.Datagram) {
		first.Do(func() { <-gate })
		handled.Add(1)
	}, receiver.Config{Workers: 1, QueueLen: 100, ReadCoalesce: coalesce})
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	require.NoError(t, err)
	defer cancel()
	c := rxDial(t, addr)
	rxSend(t, c, rxV5(0, 0, 1))
	rxWaitFor(t, "the first datagram in the handler", func() bool { return r.Stats().QueuedBytes > 0 })
	const n = 50
	for i := range n {
		rxSend(t, c, rxV5(uint32(i+1), 0, 1))
	}
	rxWaitFor(t, "every datagram read while the handler blocks", func() bool { return r.Stats().Total.Datagrams == n+1 })
	assert.Zero(t, handled.Load())
	close(gate)
	rxWaitFor(t, "every datagram handed over", func() bool { return handled.Load() == n+1 })
	st := r.Stats()
	assert.Zero(t, st.Total.Dropped)
	assert.Zero(t, st.QueuedBytes)
}

// The datagrams of each exporter reach the handler one at a time and in
// the order they were sent, whoever hands them over: the reading goroutine
// itself when its lane is idle, the lane's worker when a batch was queued
// behind a slow handler call, the other reading goroutine after a
// takeover. Eight exporters on loopback, two workers, a handler that is
// now and then slow (and once slower than the takeover).
func TestReceiverOrderAcrossHandOvers(t *testing.T) {
	for _, coalesce := range rxCoalesceCases {
		t.Run(fmt.Sprintf("coalesce=%v", coalesce), func(t *testing.T) { testReceiverOrderAcrossHandOvers(t, coalesce) })
	}
}

func testReceiverOrderAcrossHandOvers(t *testing.T, coalesce time.Duration) {
	rxNoLeak(t)
	const exporters, each = 8, 600
	var (
		mu       sync.Mutex
		seqs     = map[netip.AddrPort][]uint32{}
		inFlight sync.Map // exporter -> *atomic.Int32
		overlap  atomic.Int32
		calls    atomic.Uint64
	)
	rng := rand.New(rand.NewPCG(1, 2))
	var rngMu sync.Mutex
	h := func(d *receiver.Datagram) {
		v, _ := inFlight.LoadOrStore(d.Exporter, new(atomic.Int32))
		busy := v.(*atomic.Int32)
		if busy.Add(1) != 1 {
			overlap.Add(1)
		}
		rngMu.Lock()
		k := rng.IntN(1000)
		rngMu.Unlock()
		switch {
		case calls.Add(1) == 500:
			time.Sleep(60 * time.Millisecond) // longer than the takeover
		case k < 20:
			time.Sleep(time.Millisecond)
		case k < 100:
			time.Sleep(50 * time.Microsecond)
		}
		mu.Lock()
		seqs[d.Exporter] = append(seqs[d.Exporter], d.Packet.(*netflow.V5Packet).Header.FlowSequence)
		mu.Unlock()
		busy.Add(-1)
	}
	r := receiver.New(h, receiver.Config{Workers: 2, ReadCoalesce: coalesce})
	addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
	require.NoError(t, err)
	defer cancel()
	conns := make([]*net.UDPConn, exporters)
	for i := range conns {
		c, err := net.DialUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}, net.UDPAddrFromAddrPort(addr))
		require.NoError(t, err)
		defer c.Close()
		conns[i] = c
	}
	for k := range each {
		for _, c := range conns {
			rxSend(t, c, rxV5(uint32(k), 0, 1))
		}
		if k%50 == 49 {
			time.Sleep(2 * time.Millisecond) // bursts and pauses: lanes go idle and busy
		}
	}
	rxWaitFor(t, "every datagram read", func() bool {
		st := r.Stats()
		return st.Total.Datagrams+st.KernelDrops >= exporters*each
	})
	rxWaitFor(t, "every datagram handed over or dropped", func() bool {
		st := r.Stats().Total
		return st.Decoded+st.Dropped == st.Datagrams
	})
	cancel()
	assert.Zero(t, overlap.Load(), "handler called for one exporter from two goroutines at once")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seqs, exporters)
	total := 0
	for ap, s := range seqs {
		total += len(s)
		for i := 1; i < len(s); i++ {
			if s[i] <= s[i-1] {
				t.Fatalf("exporter %v: sequence %d after %d", ap, s[i], s[i-1])
			}
		}
	}
	st := r.Stats()
	assert.EqualValues(t, st.Total.Decoded, total)
	t.Logf("%d handed over, %d dropped, %d kernel drops", total, st.Total.Dropped, st.KernelDrops)
}
