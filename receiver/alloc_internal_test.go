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

// Once warm, taking a datagram in (allow-list, counters, a pooled copy,
// the queue) and decoding it on the worker allocates nothing.
func TestReceivePathAllocs(t *testing.T) {
	r := New(nil, Config{Workers: 1, Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	r.launch()
	defer r.stop()
	rd := &reader{drops: nil, cache: make(map[netip.AddrPort]*counters)}
	from := netip.MustParseAddrPort("192.0.2.1:2055")
	b := v5Datagram(30)
	wait := func(n uint64) {
		for r.total.decoded.Load() < n {
			time.Sleep(time.Microsecond)
		}
	}
	var sent uint64
	for range 100 { // warm the pool, the cache and the worker's Buffer
		r.receive(rd, from, b, false, time.Now())
		sent++
		wait(sent)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		r.receive(rd, from, b, false, time.Now())
		sent++
		wait(sent)
	})
	if allocs > 0 {
		t.Errorf("%.1f allocations per datagram", allocs)
	}
	if st := r.total.snapshot(); st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("counters %+v", st)
	}
}
