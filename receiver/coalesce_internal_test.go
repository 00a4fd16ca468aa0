package receiver

import (
	"context"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// With read coalescing, a steady trickle of datagrams is read several at
// a time: 150 datagrams 1 ms apart, with a 20 ms wait after each read that
// empties the socket, take far fewer reads than datagrams (without
// coalescing, about one each), and none is lost.
func TestReadCoalesceReadsSeveralAtATime(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read coalescing needs batch reads (Linux)")
	}
	var handled atomic.Int64
	r := New(func(*Datagram) { handled.Add(1) }, Config{Workers: 2, ReadCoalesce: 20 * time.Millisecond})
	c, _ := listenLoopback(t, r)
	if s := r.sockets[0]; s.det == nil {
		t.Fatal("socket not detached for read coalescing")
	}
	const n = 150
	for range n {
		if _, err := c.Write(v5Datagram(30)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	waitHandedOver(t, handled.Load, n)
	reads := r.sockets[0].reads.Load()
	t.Logf("%d datagrams in %d reads", n, reads)
	if reads > n/3 {
		t.Errorf("%d reads for %d datagrams: not coalesced", reads, n)
	}
	if st := r.Stats(); st.KernelDrops != 0 || st.Total.Dropped != 0 {
		t.Errorf("drops: kernel %d, queue %d", st.KernelDrops, st.Total.Dropped)
	}
}

// The wait after a read that empties the socket is ReadCoalesce, but never
// longer than the rate of the last cycle (from the previous emptying to
// this one) takes to fill a quarter of the receive buffer or to bring a
// batch; none when that is shorter than MinReadCoalesce, or after a read
// that fills its batch.
func TestPlanWait(t *testing.T) {
	r := &Receiver{cfg: Config{ReadCoalesce: 20 * time.Millisecond, BatchSize: 32}}
	s := &socket{det: new(detachedSocket), rcvbuf: 8 << 20} // 4 MiB asked: Linux counts 8
	rd := &reader{ramp: 20 * time.Millisecond}              // past its slow start
	t0 := time.Unix(1700000000, 0)
	const size = 1464
	charged := size + skbOverhead
	near := func(got, want time.Duration) bool {
		d := got - want
		return d > -time.Microsecond && d < time.Microsecond
	}

	r.planWait(rd, s, 3, 3*size, false, t0)
	if rd.wait != 20*time.Millisecond {
		t.Fatalf("first wait %v, want ReadCoalesce", rd.wait)
	}
	// 250 datagrams/s: 5 a cycle of 20 ms, far below a quarter of 8 MiB
	// and a batch.
	r.planWait(rd, s, 5, 5*size, false, t0.Add(20*time.Millisecond))
	if rd.wait != 20*time.Millisecond {
		t.Errorf("wait at 250/s %v, want ReadCoalesce", rd.wait)
	}
	// A full batch: read on, and the cycle goes on.
	r.planWait(rd, s, 32, 32*size, true, t0.Add(30*time.Millisecond))
	if rd.wait != 0 {
		t.Errorf("wait after a full batch %v, want none", rd.wait)
	}
	// 100 datagrams in this 20 ms cycle (5,000/s): a batch of 32 takes
	// 6.4 ms at that rate, well within a quarter of the buffer.
	r.planWait(rd, s, 68, 68*size, false, t0.Add(40*time.Millisecond))
	if want := 20 * time.Millisecond * 32 / 100; !near(rd.wait, want) {
		t.Errorf("wait at 5,000/s %v, want %v (a batch)", rd.wait, want)
	}
	// 20,000/s: a batch takes 1.6 ms.
	r.planWait(rd, s, 32, 32*size, true, t0.Add(41*time.Millisecond))
	r.planWait(rd, s, 8, 8*size, false, t0.Add(42*time.Millisecond))
	if want := 2 * time.Millisecond * 32 / 40; !near(rd.wait, want) {
		t.Errorf("wait at 20,000/s %v, want %v (a batch)", rd.wait, want)
	}
	// With batches of 4096, the quarter of the buffer bounds the wait:
	// 1,000 datagrams in a 20 ms cycle (50,000/s), a quarter of the
	// buffer (2 MiB) at that rate is 2 MiB / (1000 * charged / 20 ms).
	rb := &Receiver{cfg: Config{ReadCoalesce: 20 * time.Millisecond, BatchSize: 4096}}
	rdb := &reader{ramp: 20 * time.Millisecond}
	rb.planWait(rdb, s, 1, size, false, t0)
	rb.planWait(rdb, s, 1000, 1000*size, false, t0.Add(20*time.Millisecond))
	want := time.Duration(float64(20*time.Millisecond) * float64(2<<20) / float64(1000*charged))
	if !near(rdb.wait, want) {
		t.Errorf("wait at 50,000/s %v, want %v (a quarter of the buffer)", rdb.wait, want)
	}
	if rdb.wait >= 20*time.Millisecond || rdb.wait < MinReadCoalesce {
		t.Errorf("wait at 50,000/s %v out of bounds", rdb.wait)
	}
	// 50,000/s: a batch comes in 0.64 ms, sooner than MinReadCoalesce:
	// no wait.
	r.planWait(rd, s, 50, 50*size, false, t0.Add(43*time.Millisecond))
	if rd.wait != 0 {
		t.Errorf("wait at 50,000/s %v, want none", rd.wait)
	}
	// At the shortest wait: a batch in 1 ms (32,000/s).
	r.planWait(rd, s, 32, 32*size, false, t0.Add(44*time.Millisecond))
	if rd.wait != MinReadCoalesce {
		t.Errorf("wait at 32,000/s %v, want %v", rd.wait, MinReadCoalesce)
	}
	// Without read coalescing (no detached socket): never a wait.
	rd2 := &reader{}
	r.planWait(rd2, &socket{rcvbuf: 8 << 20}, 1, size, false, t0)
	if rd2.wait != 0 {
		t.Errorf("wait without coalescing %v", rd2.wait)
	}
}

// No wait is longer than a flood of ReadCoalesceFlood takes to fill a
// quarter of the receive buffer (as Linux reports it, twice the size
// asked): the buffer bounds a long ReadCoalesce, and one too small for a
// flood within MinReadCoalesce turns waiting off.
func TestPlanWaitFlood(t *testing.T) {
	r := &Receiver{cfg: Config{ReadCoalesce: 100 * time.Millisecond, BatchSize: 32}}
	t0 := time.Unix(1700000000, 0)
	const size = 1464
	for _, c := range []struct {
		name   string
		rcvbuf int
		want   time.Duration
	}{
		// 32 MiB / 4 / 48 MiB a second = 167 ms: ReadCoalesce bounds.
		{"16 MiB asked (the default)", 32 << 20, 100 * time.Millisecond},
		// 8 MiB / 4 / 48 MiB a second = 41.67 ms.
		{"4 MiB asked", 8 << 20, time.Second / 24},
		// The kernel's usual 212,992 bytes: 425,984 / 4 / 50,331,648 a second.
		{"rmem_default", 425984, 2115885 * time.Nanosecond},
		// 128 KiB / 4 at 48 MiB a second is 0.65 ms: no wait.
		{"64 KiB asked", 128 << 10, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &socket{det: new(detachedSocket), rcvbuf: c.rcvbuf}
			rd := &reader{ramp: r.cfg.ReadCoalesce} // past its slow start
			r.planWait(rd, s, 1, size, false, t0)
			if d := rd.wait - c.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("first wait %v, want %v", rd.wait, c.want)
			}
			// 250 datagrams/s after it: the rate bounds nothing, the
			// flood still does.
			r.planWait(rd, s, 5, 5*size, false, t0.Add(20*time.Millisecond))
			if d := rd.wait - c.want; d < -time.Microsecond || d > time.Microsecond {
				t.Errorf("wait at 250/s %v, want %v", rd.wait, c.want)
			}
		})
	}
}

// At first and after an idle spell the waits start at rampStart and
// double each cycle up to ReadCoalesce (a slow start), so that a flood
// that ends the spell meets a short wait; a rate that needs shorter ones
// still cuts them, without ending the ramp.
func TestPlanWaitSlowStart(t *testing.T) {
	r := &Receiver{cfg: Config{ReadCoalesce: 100 * time.Millisecond, BatchSize: 32}}
	s := &socket{det: new(detachedSocket), rcvbuf: 32 << 20}
	rd := &reader{}
	const size = 1464
	at := time.Unix(1700000000, 0)
	var waits []time.Duration
	for range 9 { // a datagram each cycle: a trickle
		r.planWait(rd, s, 1, size, false, at)
		waits = append(waits, rd.wait)
		at = at.Add(rd.wait + time.Millisecond)
	}
	last := at.Add(-time.Millisecond - rd.wait) // the last cycle's end
	ms := time.Millisecond
	want := []time.Duration{2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 100 * ms, 100 * ms, 100 * ms}
	for i := range want {
		if waits[i] != want[i] {
			t.Fatalf("waits %v, want %v", waits, want)
		}
	}
	// A flood of 40,000 datagrams/s (4 in 0.1 ms): a batch comes in
	// 0.8 ms, no wait; the ramp stays where it was.
	r.planWait(rd, s, 4, 4*size, false, last.Add(100*time.Microsecond))
	if rd.wait != 0 || rd.ramp != 100*ms {
		t.Errorf("wait %v, ramp %v in a flood, want none and 100ms", rd.wait, rd.ramp)
	}
}

// After an idle spell (the socket found empty for ReadCoalesce or longer)
// the waits start short again: of two datagrams 20 ms apart after the
// spell, the second is handed over about 20 ms after the first, not a
// ReadCoalesce (200 ms) later, which the waits had ramped up to.
func TestReadCoalesceIdleRestartsSlowStart(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read coalescing needs batch reads (Linux)")
	}
	var mu sync.Mutex
	var handled []time.Time
	r := New(func(*Datagram) {
		mu.Lock()
		handled = append(handled, time.Now())
		mu.Unlock()
	}, Config{Workers: 1, ReadCoalesce: 200 * time.Millisecond})
	c, _ := listenLoopback(t, r)
	send := func() {
		if _, err := c.Write(v5Datagram(30)); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int64 {
		mu.Lock()
		defer mu.Unlock()
		return int64(len(handled))
	}
	// A trickle for about 800 ms: the waits ramp up to 200 ms.
	const trickle = 400
	for range trickle {
		send()
		time.Sleep(2 * time.Millisecond)
	}
	waitHandedOver(t, count, trickle)
	time.Sleep(500 * time.Millisecond) // idle
	send()
	time.Sleep(20 * time.Millisecond)
	send()
	waitHandedOver(t, count, trickle+2)
	mu.Lock()
	gap := handled[trickle+1].Sub(handled[trickle])
	mu.Unlock()
	if gap > 100*time.Millisecond {
		t.Errorf("the second datagram after the idle spell was handed over %v after the first, want about 20ms", gap)
	}
}

// A receiver with read coalescing closes every descriptor it opened (the
// socket's duplicate, the timers, the duplicates waited on) by the time
// its stop returns, whether its readers were waiting for data or between
// reads.
func TestReadCoalesceClosesDescriptors(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read coalescing needs batch reads (Linux)")
	}
	fds := func() int {
		ents, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	for _, traffic := range []bool{false, true} {
		before := fds()
		var handled atomic.Int64
		r := New(func(*Datagram) { handled.Add(1) }, Config{Workers: 1, Sockets: 2, ReadCoalesce: 50 * time.Millisecond})
		addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if traffic {
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				c.Write(v5Datagram(1))
			}
			c.Close()
			deadline := time.Now().Add(10 * time.Second)
			for handled.Load() < 3 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		began := time.Now()
		cancel()
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("traffic %v: stop took %v", traffic, took)
		}
		if after := fds(); after != before {
			t.Errorf("traffic %v: %d descriptors open before, %d after the stop", traffic, before, after)
		}
	}
}

// The full batches read after a coalescing wait are what the wait let
// gather, not a socket outpacing its reader: the reading goroutine hands
// them over itself, as it does a read that empties the socket, instead of
// copying them to a worker.
func TestReadCoalesceBacklogHandedOverInline(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("read coalescing needs batch reads (Linux)")
	}
	// Two runs say nothing of the backlog and are run again. In one, a
	// hand-over slower than inlineBudget (a loaded machine, the race
	// detector) makes the readers queue for queueSpell by design. In the
	// other, the socket's second reader took the read role while the
	// first handed the first datagram over, found the socket empty and
	// read the 20 as they came, with no wait: full batches off an idle
	// socket go to the workers.
	for attempt := 1; ; attempt++ {
		inline, inconclusive := coalesceBacklog(t)
		if inconclusive && attempt < 5 {
			t.Logf("attempt %d: a queue spell, or no coalescing wait; again", attempt)
			continue
		}
		// Had the full batches gone to the worker, only reads that
		// emptied the socket (one or two here) would be handed over
		// inline.
		if inline < 4 {
			t.Errorf("%d inline hand-overs for 20 datagrams in batches of 4: the backlog went to the worker (inconclusive five times: %v)", inline, inconclusive)
		}
		return
	}
}

// coalesceBacklog sends a trickle to a new coalescing receiver, a datagram,
// then 20 more while it waits, and returns the inline hand-overs of those 20 and
// whether the run is inconclusive (see the test).
func coalesceBacklog(t *testing.T) (inline uint64, inconclusive bool) {
	t.Helper()
	var handled atomic.Int64
	r := New(func(*Datagram) { handled.Add(1) }, Config{Workers: 1, BatchSize: 4, ReadCoalesce: 200 * time.Millisecond})
	c, _ := listenLoopback(t, r)
	s := r.sockets[0]
	if s.det == nil {
		t.Fatal("socket not detached for read coalescing")
	}
	// A trickle of 600 ms, for the waits to ramp up to ReadCoalesce
	// (planWait's slow start), slow enough that a batch at its rate
	// takes longer.
	const trickle = 10
	for range trickle {
		if _, err := c.Write(v5Datagram(1)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	waitHandedOver(t, handled.Load, trickle)
	// One datagram: read, handed over, then the reader waits.
	if _, err := c.Write(v5Datagram(30)); err != nil {
		t.Fatal(err)
	}
	waitHandedOver(t, handled.Load, trickle+1)
	before, spell, start := s.inline.Load()/2, s.queueUntil.Load(), time.Now().UnixNano()
	// 20 more while it waits: five full batches (BatchSize 4).
	const n = 20
	for range n {
		if _, err := c.Write(v5Datagram(30)); err != nil {
			t.Fatal(err)
		}
	}
	waitHandedOver(t, handled.Load, trickle+1+n)
	inline = s.inline.Load()/2 - before
	t.Logf("%d datagrams in %d reads, %d handed over inline", n, s.reads.Load(), inline)
	if st := r.Stats(); st.KernelDrops != 0 || st.Total.Dropped != 0 {
		t.Errorf("drops: kernel %d, queue %d", st.KernelDrops, st.Total.Dropped)
	}
	// Inconclusive: a spell still running when the 20 went out (the
	// first datagram's hand-over was slow), one begun since, or no wait
	// (the 20 handed over in less than half the coalescing wait).
	waited := time.Duration(time.Now().UnixNano()-start) >= r.cfg.ReadCoalesce/2
	return inline, spell > start || s.queueUntil.Load() != spell || !waited
}
