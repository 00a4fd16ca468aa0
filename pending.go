package netflow

import (
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// PendingLimits bounds the data sets held until their template arrives. A
// zero field takes its default.
type PendingLimits struct {
	// MaxSetsPerExporter is the most sets held per exporter (default 256).
	MaxSetsPerExporter int
	// MaxBytesPerExporter is the most bytes held per exporter (default 1 MiB).
	// A held set counts as its body plus 256 bytes of bookkeeping.
	MaxBytesPerExporter int
	// MaxBytes is the most bytes held in all (default 64 MiB), counted as
	// for MaxBytesPerExporter.
	MaxBytes int
	// MaxExporters is the most exporters with sets held (default 4096).
	MaxExporters int
	// MaxAge is how long a set waits for its template (default 10 minutes,
	// a little more than the usual template refresh interval).
	MaxAge time.Duration
}

// PendingStats counts what the pending buffer did.
type PendingStats struct {
	Held    int    // sets held now
	Bytes   int    // bytes held now, 256 per set of bookkeeping included
	Added   uint64 // sets taken in
	Matched uint64 // sets decoded when their template came
	Expired uint64 // sets dropped unmatched after MaxAge
	Refused uint64 // sets refused at a limit
}

// pendingBuffer holds data sets whose template is unknown, per exporter, in
// arrival order. When a limit is reached the new set is refused: what is
// held is never pushed out by another exporter's data.
type pendingBuffer struct {
	mu     sync.Mutex
	limits PendingLimits
	now    func() time.Time
	by     map[netip.AddrPort]*pendingQueue
	bytes  int
	stats  PendingStats
}

type pendingQueue struct {
	sets  []pendingSet
	bytes int
}

type pendingSet struct {
	key  TemplateKey
	body []byte // a copy
	ctx  flowContext
	at   time.Time
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
	return &pendingBuffer{limits: l, now: now, by: make(map[netip.AddrPort]*pendingQueue)}
}

// pendingSetOverhead is what the bookkeeping of one held set costs, counted
// with its body against the byte limits so that they bound memory even for
// a flood of empty sets: the pendingSet (about 180 bytes), the queue's spare
// capacity and the rounding of the body's copy.
const pendingSetOverhead = 256

func (s *pendingSet) size() int { return len(s.body) + pendingSetOverhead }

// add copies body and holds it under key, or refuses it with ErrLimit.
func (b *pendingBuffer) add(key TemplateKey, body []byte, ctx flowContext) error {
	size := len(body) + pendingSetOverhead
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	q := b.by[key.Exporter]
	if q != nil {
		b.expire(key.Exporter, q, now)
		q = b.by[key.Exporter]
	}
	switch {
	case q == nil && len(b.by) >= b.limits.MaxExporters,
		b.bytes+size > b.limits.MaxBytes,
		q != nil && (len(q.sets) >= b.limits.MaxSetsPerExporter || q.bytes+size > b.limits.MaxBytesPerExporter):
		b.stats.Refused++
		return fmt.Errorf("%w: pending data for template %d refused", ErrLimit, key.ID)
	}
	if size > b.limits.MaxBytesPerExporter {
		b.stats.Refused++
		return fmt.Errorf("%w: pending data for template %d refused", ErrLimit, key.ID)
	}
	if q == nil {
		q = &pendingQueue{}
		b.by[key.Exporter] = q
	}
	ctx.state = nil
	q.sets = append(q.sets, pendingSet{key: key, body: append([]byte(nil), body...), ctx: ctx, at: now})
	q.bytes += size
	b.bytes += size
	b.stats.Added++
	return nil
}

// take removes and returns the sets held for any of keys, which share one
// exporter, in arrival order.
func (b *pendingBuffer) take(keys []TemplateKey) []pendingSet {
	if len(keys) == 0 {
		return nil
	}
	key := keys[0]
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.by[key.Exporter]
	if q == nil {
		return nil
	}
	b.expire(key.Exporter, q, b.now())
	var out []pendingSet
	kept := q.sets[:0]
	for _, s := range q.sets {
		if slices.Contains(keys, s.key) {
			out = append(out, s)
			q.bytes -= s.size()
			b.bytes -= s.size()
			b.stats.Matched++
			continue
		}
		kept = append(kept, s)
	}
	clear(q.sets[len(kept):])
	q.sets = kept
	if len(q.sets) == 0 {
		delete(b.by, key.Exporter)
	}
	return out
}

// expire drops q's sets older than MaxAge. b.mu is held.
func (b *pendingBuffer) expire(exporter netip.AddrPort, q *pendingQueue, now time.Time) {
	n := 0
	for n < len(q.sets) && now.Sub(q.sets[n].at) > b.limits.MaxAge {
		q.bytes -= q.sets[n].size()
		b.bytes -= q.sets[n].size()
		b.stats.Expired++
		n++
	}
	if n == 0 {
		return
	}
	q.sets = append(q.sets[:0], q.sets[n:]...)
	if len(q.sets) == 0 {
		delete(b.by, exporter)
	}
}

// Sweep drops every pending set older than the pending MaxAge, counting
// it as expired. The decoder also expires an exporter's sets whenever that
// exporter's pending data is touched; Sweep is for exporters gone quiet.
func (d *Decoder) Sweep() {
	if d.pending == nil {
		return
	}
	b := d.pending
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for e, q := range b.by {
		b.expire(e, q, now)
	}
}

// PendingStats returns the pending buffer's counters.
func (d *Decoder) PendingStats() PendingStats {
	if d.pending == nil {
		return PendingStats{}
	}
	b := d.pending
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.stats
	s.Bytes = b.bytes
	for _, q := range b.by {
		s.Held += len(q.sets)
	}
	return s
}

// PendingSet describes one data set waiting for its template.
type PendingSet struct {
	Key      TemplateKey // exporter (as keyed), version, domain, template ID
	Bytes    int
	Received time.Time
}

// PendingSets lists the data sets waiting for their template, per exporter
// in arrival order. What left the buffer unmatched is counted in
// PendingStats: Expired (MaxAge passed) and Refused (a limit was reached;
// the decode that refused it also returned an error matching ErrLimit).
func (d *Decoder) PendingSets() []PendingSet {
	if d.pending == nil {
		return nil
	}
	b := d.pending
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []PendingSet
	for _, q := range b.by {
		for _, s := range q.sets {
			out = append(out, PendingSet{Key: s.key, Bytes: len(s.body), Received: s.at})
		}
	}
	return out
}

// forget drops every set held for exporter.
func (b *pendingBuffer) forget(exporter netip.AddrPort) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if q := b.by[exporter]; q != nil {
		b.bytes -= q.bytes
		delete(b.by, exporter)
	}
}
