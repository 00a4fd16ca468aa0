package netflow

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// PendingLimits bounds the data sets held until their template arrives. A
// zero field takes its default.
type PendingLimits struct {
	// MaxSetsPerExporter is the most sets held per exporter (default 256).
	MaxSetsPerExporter int
	// MaxBytesPerExporter is the most bytes held per exporter (default 1 MiB).
	// Bytes are counted as they are in memory: a held set as the capacity
	// of its body's copy (the allocator's size class) plus 512 bytes of
	// bookkeeping, an exporter with sets held as 384 more
	// (TestPendingHeapBound measures it).
	MaxBytesPerExporter int
	// MaxBytes is the most bytes held in all (default 64 MiB), counted as
	// for MaxBytesPerExporter: the live heap of what the buffer holds stays
	// within it.
	MaxBytes int
	// MaxExporters is the most exporters with sets held (default 4096).
	// At this bound, and at MaxBytes, the sets of the exporter longest on
	// probation (whose held sets all came in one datagram) are dropped to
	// make room for another exporter's (PendingStats.Evicted); an exporter
	// is confirmed by a second datagram of held sets, and then keeps them
	// (docs/limits-eviction.md).
	MaxExporters int
	// MaxAge is how long a set waits for its template (default 10 minutes,
	// a little more than the usual template refresh interval).
	MaxAge time.Duration
}

// PendingStats counts what the pending buffer did.
type PendingStats struct {
	Held    int    // sets held now
	Bytes   int    // bytes held now, bookkeeping included (PendingLimits.MaxBytes)
	Added   uint64 // sets taken in
	Matched uint64 // sets released when their template came
	Failed  uint64 // released sets that did not decode (reported by that decode's error)
	Expired uint64 // sets dropped unmatched after MaxAge
	Refused uint64 // sets refused at a limit
	// Misfits counts the sets that a template from a store shared with
	// other instances (TemplateChecker) could not account for
	// (Template.Fits), held instead of decoded with it; each also counts
	// in Added, or in Refused if the buffer was full. MisfitsAccepted
	// counts those decoded with the store's template anyway after
	// Config.AcceptMisfitsAfter (and in Matched).
	Misfits         uint64
	MisfitsAccepted uint64
	// Evicted counts sets dropped with an exporter on probation to make
	// room for another exporter's at MaxExporters or MaxBytes, and
	// ExportersEvicted those exporters.
	Evicted          uint64
	ExportersEvicted uint64
}

// pendingBuffer holds data sets whose template is unknown, per exporter, in
// arrival order. When a limit of the exporter's is reached the new set is
// refused; at a limit of the buffer's (MaxExporters, MaxBytes) exporters on
// probation make room, oldest first, and with none left the new set is
// refused: what a confirmed exporter holds is never pushed out by another
// exporter's data.
type pendingBuffer struct {
	mu     sync.Mutex
	limits PendingLimits
	now    func() time.Time
	by     map[netip.AddrPort]*pendingQueue
	order  admitOrder[netip.AddrPort] // of exporters (admit.go)
	bytes  int
	stats  PendingStats
	held   atomic.Int64 // sets held, read without the lock
	// checker, if not nil, is the store (a TemplateChecker): a set is
	// released only with a template it fits (fitsCopy), or, after accept
	// (> 0), one the store vouches for (fit.go, released.go).
	checker TemplateChecker
	accept  time.Duration
	// tolerated holds, per key, the layout whose misfits were accepted
	// (accept > 0): later sets of the key that misfit it alike decode at
	// once. At most maxTolerated keys; full, it starts afresh.
	tolerated map[TemplateKey]*Template
	// dueList lists the exporters whose held sets Decoder.TakeReleased may
	// release without a datagram of theirs (pendingQueue.listed);
	// signal (capacity 1) tells that it grew. nextScan is when
	// TakeReleased next lists the exporters whose retry is due.
	dueList  []netip.AddrPort
	signal   chan struct{}
	nextScan time.Time
}

// maxTolerated bounds pendingBuffer.tolerated.
const maxTolerated = 4096

type pendingQueue struct {
	// admitNode is the exporter's place in the eviction order: a set of
	// a second datagram confirms it (admit.go).
	admitNode[netip.AddrPort]
	sets  []pendingSet
	bytes int
	// ready lists keys whose template came while more of their sets were
	// held than one call releases (maxReleaseRecords): the rest go on the
	// exporter's next decodes, with the template that released them.
	ready []readyKey
	// check lists keys the store announced (another instance learned
	// their template): the next decode looks them up once.
	check []TemplateKey
	// retryAt is when the next decode looks up the held keys again, for
	// stores that do not announce.
	retryAt time.Time
	// listed: the exporter is in pendingBuffer.dueList.
	listed bool
}

// readyKey is a key whose held sets a template released.
type readyKey struct {
	key TemplateKey
	t   *Template
	// accept: the store vouched (TemplateChecker) that t has been its
	// definition of key since since; a set t does not fit is decoded with
	// it once the rule of Config.AcceptMisfitsAfter allows.
	accept bool
	since  time.Time
}

// lookupKey is a held key to look up in the store; misfit: a set held for
// it did not fit the template the store had (so it is read afresh, with
// TemplateChecker.CheckTemplate, where Decoder.TakeReleased looks it up).
type lookupKey struct {
	key    TemplateKey
	misfit bool
}

// pendingRetry is how often the held keys of an exporter are looked up in
// the store again, for a template another instance learned into a shared
// store that does not announce it: at most one look-up per held key per
// exporter per interval, on that exporter's decodes.
const pendingRetry = time.Second

// maxReleaseRecords bounds the records of held sets one decode releases,
// so that a small template datagram cannot turn into an unbounded burst of
// flows: it is about what one largest datagram can carry. The rest is
// released by the exporter's next decodes, in order.
const maxReleaseRecords = 1 << 16

type pendingSet struct {
	key  TemplateKey
	body []byte // a copy
	ctx  flowContext
	at   time.Time
	// misfit is the last template from the store the set did not fit
	// (checking stores); nil while none was found.
	misfit *Template
}

func newPendingBuffer(l PendingLimits, now func() time.Time) *pendingBuffer {
	if l.MaxSetsPerExporter <= 0 {
		l.MaxSetsPerExporter = 256
	}
	if l.MaxBytesPerExporter <= 0 {
		l.MaxBytesPerExporter = 1 << 20
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = 64 << 20
	}
	if l.MaxExporters <= 0 {
		l.MaxExporters = 4096
	}
	if l.MaxAge <= 0 {
		l.MaxAge = 10 * time.Minute
	}
	return &pendingBuffer{limits: l, now: now, by: make(map[netip.AddrPort]*pendingQueue), signal: make(chan struct{}, 1), order: newAdmitOrder[netip.AddrPort](l.MaxExporters)}
}

// pendingSetOverhead is what the bookkeeping of one held set costs, counted
// with its body against the byte limits so that they bound memory even for
// a flood of empty sets: the pendingSet (216 bytes) and as much again of
// the queue's spare capacity (trim keeps it within that), rounded up.
// pendingQueueOverhead is the same for an exporter with sets held: its
// pendingQueue (224 bytes) and its entry in the buffer's map.
const (
	pendingSetOverhead   = 512
	pendingQueueOverhead = 384
)

// size is what a held set counts against the byte limits: its body's copy
// as allocated (the capacity: the allocator rounds up to a size class, by
// up to 8 KiB for a body over 32 KiB) and its bookkeeping.
func (s *pendingSet) size() int { return cap(s.body) + pendingSetOverhead }

// add copies body, a set of datagram (its ID, datagramSerial), and holds
// it under key, or refuses it with ErrLimit. misfit is the template from
// the store body did not fit, if that is why it is held.
func (b *pendingBuffer) add(key TemplateKey, body []byte, ctx flowContext, misfit *Template, datagram uint64) error {
	// Copied first: its capacity is what it costs.
	held := append([]byte(nil), body...)
	size := cap(held) + pendingSetOverhead
	b.mu.Lock()
	defer b.mu.Unlock()
	if misfit != nil {
		b.stats.Misfits++
	}
	now := b.now()
	q := b.by[key.Exporter]
	if q != nil {
		b.expire(key.Exporter, q, now)
		q = b.by[key.Exporter]
	}
	need := size // what the set adds, with a new queue's bookkeeping
	if q == nil {
		need += pendingQueueOverhead
	}
	if need > b.limits.MaxBytesPerExporter ||
		q != nil && (len(q.sets) >= b.limits.MaxSetsPerExporter || q.bytes+size > b.limits.MaxBytesPerExporter) {
		b.stats.Refused++
		return fmt.Errorf("%w: pending data for template %d refused", ErrLimit, key.ID)
	}
	var self *admitNode[netip.AddrPort]
	if q != nil {
		self = &q.admitNode
	}
	for (q == nil && len(b.by) >= b.limits.MaxExporters) || b.bytes+need > b.limits.MaxBytes {
		if !b.evict(self) {
			b.stats.Refused++
			return fmt.Errorf("%w: pending data for template %d refused", ErrLimit, key.ID)
		}
	}
	if q == nil {
		q = &pendingQueue{bytes: pendingQueueOverhead}
		b.bytes += pendingQueueOverhead
		b.by[key.Exporter] = q
		b.order.admit(&q.admitNode, key.Exporter, datagram)
	} else if datagram != q.first {
		b.order.confirm(&q.admitNode)
	}
	ctx.state = nil
	q.sets = append(q.sets, pendingSet{key: key, body: held, ctx: ctx, at: now, misfit: misfit})
	q.bytes += size
	b.bytes += size
	b.stats.Added++
	b.held.Add(1)
	if q.retryAt.IsZero() {
		q.retryAt = now.Add(pendingRetry)
	}
	return nil
}

// any reports whether any set is held, without taking the lock.
func (b *pendingBuffer) any() bool { return b.held.Load() > 0 }

// releasedSet is a held set taken out with the template that released it.
type releasedSet struct {
	pendingSet
	t *Template
}

// take removes the sets held for any of keys (one exporter's), each
// released by its template, in arrival order, and appends them to out
// while *budget (records, counted as the most a set's body can hold) lasts;
// at least one set is taken if *budget is positive. Sets left behind are
// marked ready, to be released with their template by later calls. With a
// checking store a set stays held (as a misfit) if it does not fit its
// key's template, unless the key allows accepting it (readyKey.accept).
func (b *pendingBuffer) take(out []releasedSet, keys []readyKey, budget *int) []releasedSet {
	if len(keys) == 0 {
		return out
	}
	exporter := keys[0].key.Exporter
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.by[exporter]
	if q == nil {
		return out
	}
	now := b.now()
	b.expire(exporter, q, now)
	if q = b.by[exporter]; q == nil {
		return out
	}
	left := false
	kept := q.sets[:0]
	for _, s := range q.sets {
		i := slices.IndexFunc(keys, func(r readyKey) bool { return r.key == s.key })
		if i < 0 {
			kept = append(kept, s)
			continue
		}
		if *budget <= 0 {
			kept = append(kept, s)
			if !slices.ContainsFunc(q.ready, func(r readyKey) bool { return r.key == s.key }) {
				q.ready = append(q.ready, keys[i])
				left = true
			}
			continue
		}
		rk := &keys[i]
		if b.checker != nil && !fitsCopy(rk.t, s.body, b.checker) {
			if !b.acceptable(&s, rk, now) {
				if s.misfit == nil {
					b.stats.Misfits++
				}
				s.misfit = rk.t
				kept = append(kept, s)
				continue
			}
			b.stats.MisfitsAccepted++
			b.tolerate(s.key, rk.t)
		}
		*budget -= len(s.body) / max(rk.t.minLen, 1)
		out = append(out, releasedSet{pendingSet: s, t: rk.t})
		b.drop(q, &s)
		b.stats.Matched++
	}
	clear(q.sets[len(kept):])
	q.sets = kept
	if len(q.sets) == 0 {
		b.dropQueue(exporter, q)
	} else {
		q.trim()
		if left {
			b.listDue(exporter, q)
		}
	}
	return out
}

// evict drops the sets of the exporter longest on probation other than
// not, and reports whether there was one. b.mu is held.
func (b *pendingBuffer) evict(not *admitNode[netip.AddrPort]) bool {
	v := b.order.victim(not, nil)
	if v == nil {
		return false
	}
	q := b.by[v.key]
	b.bytes -= q.bytes
	b.held.Add(-int64(len(q.sets)))
	b.stats.Evicted += uint64(len(q.sets))
	b.stats.ExportersEvicted++
	b.order.remove(v)
	delete(b.by, v.key)
	return true
}

// dropQueue forgets the queue of an exporter whose sets are all gone, and
// its bookkeeping. b.mu is held.
func (b *pendingBuffer) dropQueue(exporter netip.AddrPort, q *pendingQueue) {
	b.bytes -= q.bytes // the queue's own, what its sets counted is dropped
	b.order.remove(&q.admitNode)
	delete(b.by, exporter)
}

// trim gives back spare capacity beyond as much again as the queue holds,
// so that what pendingSetOverhead counts for it holds in memory after sets
// left. The bodies of the sets gone must be cleared already.
func (q *pendingQueue) trim() {
	if cap(q.sets) > 2*len(q.sets)+1 {
		q.sets = append([]pendingSet(nil), q.sets...)
	}
}

// drop accounts for a set leaving q. b.mu is held.
func (b *pendingBuffer) drop(q *pendingQueue, s *pendingSet) {
	q.bytes -= s.size()
	b.bytes -= s.size()
	b.held.Add(-1)
}

// due returns what a decode for exporter should release before its own
// sets: the keys a template released that are still held (ready), and the
// keys to look up in the store (announced, or due for a retry). It
// appends to the given slices; held reports whether exporter has sets held.
func (b *pendingBuffer) due(exporter netip.AddrPort, ready []readyKey, lookup []lookupKey) (_ []readyKey, _ []lookupKey, held bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.by[exporter]
	if q == nil {
		return ready, lookup, false
	}
	ready, lookup = b.dueLocked(exporter, q, b.now(), ready, lookup)
	return ready, lookup, b.by[exporter] != nil
}

// dueLocked is due for q, exporter's queue. b.mu is held.
func (b *pendingBuffer) dueLocked(exporter netip.AddrPort, q *pendingQueue, now time.Time, ready []readyKey, lookup []lookupKey) ([]readyKey, []lookupKey) {
	b.expire(exporter, q, now)
	if b.by[exporter] == nil {
		return ready, lookup
	}
	ready = append(ready, q.ready...)
	q.ready = q.ready[:0]
	if !now.Before(q.retryAt) {
		q.retryAt = now.Add(pendingRetry)
		for _, s := range q.sets {
			if !slices.Contains(q.check, s.key) {
				q.check = append(q.check, s.key)
			}
		}
	}
	for _, k := range q.check {
		if slices.ContainsFunc(ready, func(r readyKey) bool { return r.key == k }) ||
			slices.ContainsFunc(lookup, func(l lookupKey) bool { return l.key == k }) {
			continue
		}
		misfit := slices.ContainsFunc(q.sets, func(s pendingSet) bool { return s.key == k && s.misfit != nil })
		lookup = append(lookup, lookupKey{key: k, misfit: misfit})
	}
	q.check = q.check[:0]
	return ready, lookup
}

// listDue puts exporter, whose queue is q, on the due list for
// Decoder.TakeReleased and signals it. b.mu is held.
func (b *pendingBuffer) listDue(exporter netip.AddrPort, q *pendingQueue) {
	if !q.listed {
		q.listed = true
		b.dueList = append(b.dueList, exporter)
	}
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

// nextDue returns the next exporter on the due list with something to
// release or look up, and what (as due does), taking it off the list; ok
// is false when none is left. Once a retry interval it first lists every
// exporter whose retry is due.
func (b *pendingBuffer) nextDue() (exporter netip.AddrPort, ready []readyKey, lookup []lookupKey, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if !now.Before(b.nextScan) {
		b.nextScan = now.Add(pendingRetry)
		for e, q := range b.by {
			if !now.Before(q.retryAt) && !q.listed {
				q.listed = true
				b.dueList = append(b.dueList, e)
			}
		}
	}
	for len(b.dueList) > 0 {
		e := b.dueList[0]
		b.dueList = b.dueList[1:]
		q := b.by[e]
		if q == nil {
			continue
		}
		q.listed = false
		ready, lookup = b.dueLocked(e, q, now, ready[:0], lookup[:0])
		if len(ready)+len(lookup) > 0 {
			return e, ready, lookup, true
		}
	}
	b.dueList = nil // give back the array the pops walked along
	return netip.AddrPort{}, nil, nil, false
}

// requeue marks keys (of one exporter) ready again, for a later call of
// Decoder.TakeReleased.
func (b *pendingBuffer) requeue(keys []readyKey) {
	if len(keys) == 0 {
		return
	}
	exporter := keys[0].key.Exporter
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.by[exporter]
	if q == nil {
		return
	}
	for _, k := range keys {
		if !slices.ContainsFunc(q.ready, func(r readyKey) bool { return r.key == k.key }) {
			q.ready = append(q.ready, k)
		}
	}
	b.listDue(exporter, q)
}

// acceptable reports whether s, which does not fit rk.t, may be decoded
// with it all the same (Config.AcceptMisfitsAfter): the layout was
// accepted for the key before, or the store vouched (rk.accept) that rk.t
// has been its definition since at least accept before s came, and s has
// waited accept for another. b.mu is held.
func (b *pendingBuffer) acceptable(s *pendingSet, rk *readyKey, now time.Time) bool {
	if b.accept <= 0 {
		return false
	}
	if t := b.tolerated[s.key]; t != nil && t.sameLayout(rk.t) {
		return true
	}
	return rk.accept && now.Sub(s.at) >= b.accept && !rk.since.After(s.at.Add(-b.accept))
}

// tolerate records that the misfits of key's template t were accepted.
// b.mu is held.
func (b *pendingBuffer) tolerate(key TemplateKey, t *Template) {
	if b.tolerated == nil || len(b.tolerated) >= maxTolerated {
		b.tolerated = make(map[TemplateKey]*Template)
	}
	b.tolerated[key] = t
}

// tolerates reports whether a set of key that does not fit t is decoded
// with t at once: its misfits were accepted before (Config.AcceptMisfitsAfter).
func (b *pendingBuffer) tolerates(key TemplateKey, t *Template) bool {
	if b == nil || b.accept <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	u := b.tolerated[key]
	if u == nil || !u.sameLayout(t) {
		return false
	}
	b.stats.MisfitsAccepted++
	return true
}

// announced marks key for a look-up, if sets are held for it, by its
// exporter's next decode or by Decoder.TakeReleased, which it signals:
// the store said another instance learned its template.
func (b *pendingBuffer) announced(key TemplateKey) {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.by[key.Exporter]
	if q == nil || slices.Contains(q.check, key) {
		return
	}
	for _, s := range q.sets {
		if s.key == key {
			q.check = append(q.check, key)
			b.listDue(key.Exporter, q)
			return
		}
	}
}

// failed counts n released sets that did not decode.
func (b *pendingBuffer) failed(n int) {
	b.mu.Lock()
	b.stats.Failed += uint64(n)
	b.mu.Unlock()
}

// expire drops q's sets older than MaxAge. b.mu is held.
func (b *pendingBuffer) expire(exporter netip.AddrPort, q *pendingQueue, now time.Time) {
	n := 0
	for n < len(q.sets) && now.Sub(q.sets[n].at) > b.limits.MaxAge {
		b.drop(q, &q.sets[n])
		b.stats.Expired++
		n++
	}
	if n == 0 {
		return
	}
	kept := append(q.sets[:0], q.sets[n:]...)
	clear(q.sets[len(kept):]) // the expired bodies must not stay reachable
	q.sets = kept
	if len(q.sets) == 0 {
		b.dropQueue(exporter, q)
	} else {
		q.trim()
	}
}

// PendingSet describes one data set waiting for its template.
type PendingSet struct {
	Key      TemplateKey // exporter (as keyed), version, domain, template ID
	Bytes    int
	Received time.Time
	// Misfit is true for a set held because the template a shared store
	// had for it did not fit it (PendingStats.Misfits), rather than
	// because none was known.
	Misfit bool
}

// forget drops every set held for exporter.
func (b *pendingBuffer) forget(exporter netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.by[exporter]; q != nil {
		b.bytes -= q.bytes
		b.held.Add(-int64(len(q.sets)))
		b.order.remove(&q.admitNode)
		delete(b.by, exporter)
	}
}

// sweep drops every set older than MaxAge.
func (b *pendingBuffer) sweep() {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for e, q := range b.by {
		b.expire(e, q, now)
	}
}

// snapshot returns the counters.
func (b *pendingBuffer) snapshot() PendingStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Bytes = b.bytes
	for _, q := range b.by {
		s.Held += len(q.sets)
	}
	return s
}

// list describes every held set, per exporter in arrival order.
func (b *pendingBuffer) list() []PendingSet {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []PendingSet
	for _, q := range b.by {
		for _, s := range q.sets {
			out = append(out, PendingSet{Key: s.key, Bytes: len(s.body), Received: s.at, Misfit: s.misfit != nil})
		}
	}
	return out
}
