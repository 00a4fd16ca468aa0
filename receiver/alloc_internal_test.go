package receiver

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"
)

// v5Datagram is a NetFlow v5 datagram of n records.
func v5Datagram(n int) []byte {
	b := make([]byte, 24+48*n)
	binary.BigEndian.PutUint16(b[0:], 5)
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	binary.BigEndian.PutUint32(b[8:], 1700000000)
	for i := range n {
		r := b[24+48*i:]
		copy(r[0:], []byte{192, 0, 2, byte(i + 1)})
		binary.BigEndian.PutUint32(r[16:], 1)
	}
	return b
}

// Once warm, taking a datagram in (allow-list, counters, its lane) and
// decoding it allocates nothing, on both paths: handed over by the
// reading goroutine itself (its lane idle), and queued for the worker in
// a batch of pooled copies (its lane busy).
func TestReceivePathAllocs(t *testing.T) {
	r := New(nil, Config{Workers: 1, Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	r.launch()
	defer r.stop()
	rd := r.newReader(nil)
	from := netip.MustParseAddrPort("192.0.2.1:2055")
	b := v5Datagram(30)
	var sent uint64
	inline := func() {
		r.receive(rd, from, b, false, time.Now())
		r.dispatch(rd, false)
		if len(rd.claimed) != 1 {
			t.Fatal("the idle lane was not claimed")
		}
		r.handOver(rd)
		sent++
	}
	queued := func() {
		l := r.lanes[0]
		l.mu.Lock()
		l.busy = true // as if another goroutine handed it over
		l.mu.Unlock()
		r.receive(rd, from, b, false, time.Now())
		r.dispatch(rd, false)
		if len(rd.claimed) != 0 {
			t.Fatal("a busy lane was claimed")
		}
		l.release()
		sent++
		// The worker counts the datagram decoded before it lets the lane
		// go: wait for both, or the next inline call finds it busy.
		for r.total.decoded.Load() < sent || !laneIdle(l) {
			time.Sleep(time.Microsecond)
		}
	}
	for range 100 { // warm the pools, the cache and the Buffers
		inline()
		queued()
	}
	for name, f := range map[string]func(){"inline": inline, "queued": queued} {
		if allocs := testing.AllocsPerRun(1000, f); allocs > 0 {
			t.Errorf("%s: %.1f allocations per datagram", name, allocs)
		}
	}
	if st := r.total.snapshot(); st.Dropped != 0 || st.Failed != 0 || st.Decoded != sent {
		t.Errorf("counters %+v, %d sent", st, sent)
	}
}

// laneIdle reports whether nobody hands l's datagrams over and nothing is
// queued for it.
func laneIdle(l *lane) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.busy && l.queued == 0
}
