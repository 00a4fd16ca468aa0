package main

import (
	"net/netip"
	"time"
)

// tracker holds the values a coarse bucket (hour, day, month, year) has
// counted, to bound them by -max-values as the minute buckets are.
type tracker struct {
	values [numKinds]map[trackedValue]struct{}
	idle   int // flushes without a count
	used   bool
}

type trackedValue struct {
	num  uint32
	addr netip.Addr
}

// rollUp returns the calls that add the counts of a minute bucket to the
// hour, day, month and year that hold it. A value the coarse bucket has
// not seen goes under other once it holds -max-values values of the field.
func (f *flusher) rollUp(bc bucketCounts) []incrCall {
	if f.trackers == nil {
		f.trackers = make(map[bucketID]*tracker)
	}
	starts := bucketStarts(time.Unix(bc.id.start, 0))
	var calls []incrCall
	var other uint64
	for g := year; g < minute; g++ {
		id := bucketID{sender: bc.id.sender, gran: g, start: starts[g]}
		tr := f.trackers[id]
		if tr == nil {
			tr = new(tracker)
			f.trackers[id] = tr
		}
		tr.used = true
		fields := make([]fieldCount, len(bc.fields))
		copy(fields, bc.fields)
		for i := range fields {
			fc := &fields[i]
			if fc.kind == kindAll || fc.other {
				continue
			}
			m := tr.values[fc.kind]
			if m == nil {
				m = make(map[trackedValue]struct{})
				tr.values[fc.kind] = m
			}
			v := trackedValue{num: fc.num, addr: fc.addr}
			if _, seen := m[v]; seen {
				continue
			}
			if len(m) >= f.agg.maxValues {
				fc.other = true
				other++
				continue
			}
			m[v] = struct{}{}
		}
		calls = append(calls, f.calls(bucketCounts{id: id, fields: fields})...)
	}
	if other > 0 {
		if s := f.reg.lookup(bc.id.sender); s != nil {
			s.counters.otherValues.Add(other)
		}
	}
	return calls
}

// sweepTrackers forgets the trackers unused for evictAfter flushes.
func (f *flusher) sweepTrackers() {
	for id, tr := range f.trackers {
		if tr.used {
			tr.used, tr.idle = false, 0
			continue
		}
		if tr.idle++; tr.idle >= evictAfter {
			delete(f.trackers, id)
		}
	}
}
