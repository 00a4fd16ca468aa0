package receiver

import (
	"math/bits"
	"net/netip"
	"sync"
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

// batch is the datagrams of one read for one lane: what crosses from a
// reading goroutine to a worker, in one hand-over.
type batch struct {
	items []*item
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

// datagramCost is what a datagram of n bytes is charged against
// Config.MaxQueueBytes: the pooled buffer it is copied into, and the
// bookkeeping, and its pool class.
func datagramCost(n int) (int64, int) {
	class := itemClass(n)
	size := n
	if class >= 0 {
		size = 1 << (minItemShift + class)
	}
	return int64(size + itemOverhead), class
}

// charge takes cost from the bound of Config.MaxQueueBytes; it reports
// false, taking nothing, when that would exceed the bound.
func (r *Receiver) charge(cost int64) bool {
	if r.queued.Add(cost) > int64(r.cfg.MaxQueueBytes) {
		r.queued.Add(-cost)
		return false
	}
	return true
}

// getItem returns an item holding a copy of b, or nil when queueing it
// would take the queued bytes over Config.MaxQueueBytes.
func (r *Receiver) getItem(b []byte) *item {
	cost, class := datagramCost(len(b))
	if !r.charge(cost) {
		return nil
	}
	var it *item
	if class >= 0 {
		it, _ = r.pools[class].Get().(*item)
	}
	if it == nil {
		it = &item{data: make([]byte, 0, cost-itemOverhead), class: class}
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

// maxFreeBatches bounds the batches kept for reuse.
const maxFreeBatches = 1024

// getBatch returns an empty batch, a reused one when it can. (A free list
// rather than a sync.Pool: batches cross goroutines at a steady pace, and
// a pool under the race detector drops a quarter of what it is given.)
func (r *Receiver) getBatch() *batch {
	r.batchMu.Lock()
	if n := len(r.freeBatches); n > 0 {
		b := r.freeBatches[n-1]
		r.freeBatches = r.freeBatches[:n-1]
		r.batchMu.Unlock()
		return b
	}
	r.batchMu.Unlock()
	return &batch{items: make([]*item, 0, r.cfg.BatchSize)}
}

func (r *Receiver) putBatch(b *batch) {
	clear(b.items)
	b.items = b.items[:0]
	r.batchMu.Lock()
	if len(r.freeBatches) < maxFreeBatches {
		r.freeBatches = append(r.freeBatches, b)
	}
	r.batchMu.Unlock()
}

func (r *Receiver) drainExpired() bool {
	select {
	case <-r.drainOver:
		return true
	default:
		return false
	}
}

// lane is the hand-over of one share of the exporters (their address hash
// modulo Config.Workers): the batches queued for its worker, and whether a
// goroutine is handing its datagrams over now. At most one goroutine hands
// a lane's datagrams over at a time, the worker or, when nothing is
// queued, the goroutine that read them (see Receiver.dispatch); so the
// datagrams of one exporter reach the handler one at a time, in the order
// they were read.
type lane struct {
	mu      sync.Mutex
	wake    sync.Cond // the worker waits on it
	busy    bool      // a goroutine is handing this lane's datagrams over
	waiting bool      // the worker waits on wake
	closed  bool      // no more batches come: the worker ends once the queue is empty
	queue   []*batch  // FIFO from head
	head    int
	queued  int // datagrams in queue (bounded by Config.QueueLen)
}

func newLane() *lane {
	l := new(lane)
	l.wake.L = &l.mu
	return l
}

// claim makes the calling goroutine the one that hands the lane's
// datagrams over, if nothing is queued and no other goroutine does.
// Held under l.mu.
func (l *lane) claimLocked() bool {
	if l.busy || l.queued > 0 || l.closed {
		return false
	}
	l.busy = true
	return true
}

// push queues b (held under l.mu) and wakes the worker if it waits.
func (l *lane) pushLocked(b *batch) {
	if l.head > 0 && l.head == len(l.queue) {
		clear(l.queue)
		l.queue, l.head = l.queue[:0], 0
	}
	l.queue = append(l.queue, b)
	l.queued += len(b.items)
	if l.waiting && !l.busy {
		l.wake.Signal()
	}
}

// release ends a claim (or the worker's hand-over of a batch), and wakes
// the worker when batches were queued meanwhile.
func (l *lane) release() {
	l.mu.Lock()
	l.busy = false
	if l.queued > 0 && l.waiting {
		l.wake.Signal()
	}
	l.mu.Unlock()
}

// take waits for a batch the worker may hand over and claims the lane for
// it; it returns nil once the lane is closed and its queue empty.
func (l *lane) take() *batch {
	l.mu.Lock()
	defer l.mu.Unlock()
	for {
		if !l.busy && l.queued > 0 {
			b := l.queue[l.head]
			l.queue[l.head] = nil
			l.head++
			l.queued -= len(b.items)
			l.busy = true
			return b
		}
		if l.closed && l.queued == 0 {
			return nil
		}
		l.waiting = true
		l.wake.Wait()
		l.waiting = false
	}
}

// close tells the worker that no more batches come.
func (l *lane) close() {
	l.mu.Lock()
	l.closed = true
	l.wake.Broadcast()
	l.mu.Unlock()
}

// work hands over the batches queued for one lane; once the drain deadline
// has passed it counts the rest as stopped. A batch crosses goroutines in
// one hand-over; each of its datagrams goes to the handler through
// deliver, the one place that calls it.
func (r *Receiver) work(l *lane) {
	var (
		buf netflow.Buffer
		d   = new(Datagram)
	)
	for {
		b := l.take()
		if b == nil {
			return
		}
		for _, it := range b.items {
			if r.drainExpired() {
				it.ent.stopped.Add(1)
				r.total.stopped.Add(1)
			} else {
				r.deliver(&buf, d, it.from, UDP, it.at, it.data, it.ent)
			}
			r.putItem(it)
		}
		r.putBatch(b)
		l.release()
	}
}
