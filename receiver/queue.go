package receiver

import (
	"math/bits"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
)

// Queued datagrams are copied into buffers of a power of two from
// 1<<minItemShift to 1<<(minItemShift+itemClasses-1) bytes (512 bytes to
// 64 KiB), pooled by size, so that a small datagram does not pin a 64 KiB
// buffer; larger ones (MaxDatagramSize above 65536) get a buffer of their
// own. itemOverhead is charged per item besides its buffer.
const (
	minItemShift = 9
	itemClasses  = 8
	itemOverhead = 128
)

// item is one datagram on its way from a reader to a worker.
type item struct {
	data  []byte
	from  netip.AddrPort
	at    time.Time
	ent   *counters
	class int // pool index; -1: not pooled
	cost  int64
}

// itemClass returns the pool of a datagram of n bytes, -1 if none fits.
func itemClass(n int) int {
	if n <= 1<<minItemShift {
		return 0
	}
	c := bits.Len(uint(n-1)) - minItemShift
	if c >= itemClasses {
		return -1
	}
	return c
}

// getItem returns an item holding a copy of b, or nil when queueing it
// would take the queued bytes over Config.MaxQueueBytes.
func (r *Receiver) getItem(b []byte) *item {
	class := itemClass(len(b))
	size := len(b)
	if class >= 0 {
		size = 1 << (minItemShift + class)
	}
	cost := int64(size + itemOverhead)
	if r.queued.Add(cost) > int64(r.cfg.MaxQueueBytes) {
		r.queued.Add(-cost)
		return nil
	}
	var it *item
	if class >= 0 {
		it, _ = r.pools[class].Get().(*item)
	}
	if it == nil {
		it = &item{data: make([]byte, 0, size), class: class}
	}
	it.cost = cost
	it.data = append(it.data[:0], b...)
	return it
}

// putItem releases an item taken from a queue (or never queued).
func (r *Receiver) putItem(it *item) {
	r.queued.Add(-it.cost)
	it.ent = nil
	if it.class >= 0 {
		r.pools[it.class].Put(it)
	}
}

func (r *Receiver) drainExpired() bool {
	select {
	case <-r.drainOver:
		return true
	default:
		return false
	}
}

// work decodes the datagrams of one queue and hands them over; once the
// drain deadline has passed it counts the rest as stopped.
func (r *Receiver) work(q <-chan *item) {
	var (
		buf netflow.Buffer
		d   = new(Datagram)
	)
	for it := range q {
		if r.drainExpired() {
			it.ent.stopped.Add(1)
			r.total.stopped.Add(1)
		} else {
			r.deliver(&buf, d, it.from, UDP, it.at, it.data, it.ent)
		}
		r.putItem(it)
	}
}
