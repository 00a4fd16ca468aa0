package netflow

import "sync/atomic"

// The eviction order of the bounded tables (issue 20, docs/limits-eviction.md).
//
// UDP sources are free to forge, so a table keyed by exporter that refused
// newcomers at its bound would let a flood of spoofed single-datagram
// sources lock every real exporter that comes after it out; one that
// evicted the oldest entry would let the flood push out the exporters
// already known. The tables therefore keep their entries in two segments,
// as segmented LRU (SLRU) and 2Q caches do:
//
//   - probation: every new entry starts here, in arrival order. A table at
//     its bound admits a newcomer by evicting the oldest entry on
//     probation: a source seen once goes before anything that showed it is
//     real.
//   - confirmed: an entry moves here on evidence that its source is real
//     (what counts as evidence is each table's: a second datagram, data
//     decoded with a template the exporter sent earlier). The confirmed
//     segment holds at most capacity - max(1, capacity/8) entries, so that
//     a full table always has room on probation for a newcomer to prove
//     itself. When a confirmation finds the segment full, the least
//     recently used confirmed entry (by the CLOCK approximation: each use
//     sets a bit that the hand clears once, a second chance) goes back to
//     the newest end of probation: it is evicted only after every
//     newcomer that arrived before it.
//
// So a flood of spoofed single-datagram sources only ever cycles through
// the probation segment: it cannot evict a confirmed entry, and a real
// exporter arriving during or after it is admitted at once and confirmed
// by its next datagram. A sender that forges a source address twice or
// more can earn confirmation for it; the bound then still holds, and the
// exporters in active use keep their place by the CLOCK's second chance.

// admitNode is an entry's place in an admitOrder. Tables embed it in
// their entries; the table's lock guards the links, while the flags are
// atomic so that the decode path can mark a use without the lock.
type admitNode[K comparable] struct {
	key        K
	prev, next *admitNode[K]
	// flags holds admitConfirmed and admitUsed.
	flags atomic.Uint32
	// first identifies the datagram that made the entry (datagram IDs,
	// datagramSerial), for tables whose evidence is a second datagram.
	first uint64
	in    bool // linked into a segment
}

const (
	admitConfirmed = 1 << iota // in the confirmed segment
	admitUsed                  // used since the CLOCK hand last passed
	// admitSteady is the flags of a confirmed entry whose use is marked:
	// what the decode path finds almost always, and then writes nothing.
	admitSteady = admitConfirmed | admitUsed
)

// confirmed reports whether n is in the confirmed segment.
func (n *admitNode[K]) confirmed() bool { return n.flags.Load()&admitConfirmed != 0 }

// markUsed sets the use bit for the CLOCK, writing only when it is not set
// yet.
func (n *admitNode[K]) markUsed() {
	if n.flags.Load()&admitUsed == 0 {
		n.flags.Or(admitUsed)
	}
}

// admitList is a doubly linked list of nodes, oldest first.
type admitList[K comparable] struct {
	head, tail *admitNode[K]
	n          int
}

func (l *admitList[K]) pushBack(n *admitNode[K]) {
	n.prev, n.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = n
	} else {
		l.head = n
	}
	l.tail = n
	l.n++
}

func (l *admitList[K]) remove(n *admitNode[K]) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.tail = n.prev
	}
	n.prev, n.next = nil, nil
	l.n--
}

// admitOrder is the two-segment order of one table. Its methods are called
// with the table's lock held.
type admitOrder[K comparable] struct {
	probation, confirmed admitList[K]
	maxConfirmed         int
	// Confirmations and demotions so far, for the table's counters.
	confirms, demotions uint64
}

// newAdmitOrder returns the order of a table of at most capacity entries.
func newAdmitOrder[K comparable](capacity int) admitOrder[K] {
	return admitOrder[K]{maxConfirmed: max(0, capacity-max(1, capacity/8))}
}

// admit adds a new entry on probation, as its newest.
func (o *admitOrder[K]) admit(n *admitNode[K], key K, first uint64) {
	n.key, n.first, n.in = key, first, true
	n.flags.Store(0)
	o.probation.pushBack(n)
}

// remove takes n out of the order (the table dropped the entry).
func (o *admitOrder[K]) remove(n *admitNode[K]) {
	if !n.in {
		return
	}
	if n.flags.Load()&admitConfirmed != 0 {
		o.confirmed.remove(n)
	} else {
		o.probation.remove(n)
	}
	n.in = false
}

// confirm moves n from probation to the confirmed segment, making room
// there if it is full by demoting its least recently used entry to the
// newest end of probation. It does nothing for an entry already confirmed
// (but mark its use) or no longer in the order.
func (o *admitOrder[K]) confirm(n *admitNode[K]) {
	if !n.in {
		return
	}
	if n.flags.Load()&admitConfirmed != 0 {
		n.markUsed()
		return
	}
	if o.maxConfirmed == 0 {
		return
	}
	o.probation.remove(n)
	n.flags.Store(admitSteady) // a second chance before the hand demotes it
	o.confirmed.pushBack(n)
	o.confirms++
	if o.confirmed.n <= o.maxConfirmed {
		return
	}
	// CLOCK: the oldest confirmed entry not used since the hand last
	// passed goes; used ones lose their bit and go round once more. After
	// one full round every bit is clear, so this ends.
	for range o.confirmed.n + 1 {
		h := o.confirmed.head
		if h.flags.Load()&admitUsed != 0 {
			h.flags.And(^uint32(admitUsed))
			o.confirmed.remove(h)
			o.confirmed.pushBack(h)
			continue
		}
		o.confirmed.remove(h)
		h.flags.Store(0)
		o.probation.pushBack(h)
		o.demotions++
		return
	}
}

// victim returns the entry to evict for a newcomer: the oldest on
// probation other than not, or nil if there is none. If isConfirmed is not
// nil, entries on probation whose confirmation lies outside the table
// (isConfirmed says so) are confirmed on the way, at most as many as
// probation held.
func (o *admitOrder[K]) victim(not *admitNode[K], isConfirmed func(K) bool) *admitNode[K] {
	for range o.probation.n {
		h := o.oldest(not)
		if h == nil || isConfirmed == nil || !isConfirmed(h.key) || o.maxConfirmed == 0 {
			return h
		}
		o.confirm(h)
	}
	return o.oldest(not)
}

// oldest returns the oldest entry on probation other than not, or nil.
func (o *admitOrder[K]) oldest(not *admitNode[K]) *admitNode[K] {
	h := o.probation.head
	if h != nil && h == not {
		h = h.next
	}
	return h
}

// len returns the entries in the order, and how many are confirmed.
func (o *admitOrder[K]) len() (all, confirmed int) {
	return o.probation.n + o.confirmed.n, o.confirmed.n
}

// Datagram IDs: tables whose evidence of a real source is a second
// datagram remember the datagram that made an entry. Each v9 or IPFIX
// message decoded gets an ID, unique in the process, from its Buffer's
// block of IDs; the blocks come from one counter, touched once per
// datagramBlock messages of a Buffer.
var datagramIDs atomic.Uint64

const datagramBlock = 1 << 16

// datagramSerial hands out a Buffer's datagram IDs.
type datagramSerial struct{ next, end uint64 }

// id returns the next datagram ID, never 0.
func (s *datagramSerial) id() uint64 {
	if s.next == s.end {
		s.end = datagramIDs.Add(datagramBlock)
		s.next = s.end - datagramBlock
		if s.next == 0 {
			s.next = 1
		}
	}
	id := s.next
	s.next++
	return id
}
