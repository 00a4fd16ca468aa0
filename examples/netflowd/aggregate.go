package main

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
)

// direction says how a flow relates to its sender's prefixes: out when its
// source is in one of them, in when its destination is (both when both).
type direction uint8

const (
	dirOut direction = 1 << iota
	dirIn
)

// counts are the three counters of a statistics field.
type counts struct{ flows, packets, bytes uint64 }

func (c *counts) add(packets, bytes uint64) {
	c.flows++
	c.packets += packets
	c.bytes += bytes
}

// cell is what one field value of one bucket counts: every flow once
// (total), and the flows in and out.
type cell struct{ total, in, out counts }

func (c *cell) add(dir direction, packets, bytes uint64) {
	c.total.add(packets, bytes)
	if dir&dirIn != 0 {
		c.in.add(packets, bytes)
	}
	if dir&dirOut != 0 {
		c.out.add(packets, bytes)
	}
}

func (c *cell) isZero() bool { return c.total.flows == 0 }

// bucketID names a bucket of one sender.
type bucketID struct {
	sender netip.Addr
	gran   granularity
	start  int64 // Unix seconds
}

// bucket holds the counts of one sender and one time bucket since the last
// flush, and the values it has seen (to bound them by -max-values).
type bucket struct {
	all   cell
	nums  [numKinds]map[uint32]*cell // numeric fields
	addrs [numKinds]addrCells        // srcip, dstip
	other [numKinds]cell             // values beyond -max-values
	dirty bool                       // counted since the last flush
	idle  int                        // flushes without a count
}

// addrCells are the cells of an address field: IPv4 addresses keyed as
// 32-bit numbers, IPv6 as 16 bytes (cheaper map keys than netip.Addr).
type addrCells struct {
	v4 map[uint32]*cell
	v6 map[[16]byte]*cell
}

func (ac *addrCells) len() int { return len(ac.v4) + len(ac.v6) }

// get returns the cell of a, creating it unless limit cells exist
// already; nil then.
func (ac *addrCells) get(a netip.Addr, limit int) *cell {
	if a.Is4() {
		b := a.As4()
		k := binary.BigEndian.Uint32(b[:])
		if c := ac.v4[k]; c != nil {
			return c
		}
		if ac.len() >= limit {
			return nil
		}
		if ac.v4 == nil {
			ac.v4 = make(map[uint32]*cell)
		}
		c := new(cell)
		ac.v4[k] = c
		return c
	}
	k := a.As16()
	if c := ac.v6[k]; c != nil {
		return c
	}
	if ac.len() >= limit {
		return nil
	}
	if ac.v6 == nil {
		ac.v6 = make(map[[16]byte]*cell)
	}
	c := new(cell)
	ac.v6[k] = c
	return c
}

// aggregator counts flows in memory, per sender, minute bucket and field
// value, until a flush takes the counts: the flusher adds each minute's
// counts to the hour, day, month and year holding it (so that a flow costs
// one bucket's work, not five). It is safe for concurrent use; senders
// are spread over shards, each with its own lock.
type aggregator struct {
	kinds      kindSet
	maxValues  int
	maxBuckets int // per shard
	seed       maphash.Seed
	shards     []shard

	// bucketsFull counts the flows not counted because a shard held
	// maxBuckets minute buckets.
	bucketsFull atomic.Uint64
}

type shard struct {
	mu      sync.Mutex
	buckets map[bucketID]*bucket
	_       [40]byte
}

// evictAfter is the number of flushes without a count after which a bucket
// is forgotten in memory (its counts are in Redis by then). A flow for it
// arriving later starts a fresh bucket, whose -max-values bound counts
// anew.
const evictAfter = 300

func newAggregator(kinds kindSet, maxValues, maxBuckets, shards int) *aggregator {
	a := &aggregator{kinds: kinds, maxValues: max(maxValues, 0), seed: maphash.MakeSeed(),
		shards: make([]shard, max(shards, 1))}
	a.maxBuckets = max(maxBuckets/len(a.shards), 1)
	for i := range a.shards {
		a.shards[i].buckets = make(map[bucketID]*bucket)
	}
	return a
}

func (a *aggregator) shardOf(sender netip.Addr) *shard {
	b := sender.As16()
	return &a.shards[maphash.Bytes(a.seed, b[:])%uint64(len(a.shards))]
}

// bucket returns the bucket id, creating it; nil when the shard is full.
func (a *aggregator) bucket(sh *shard, id bucketID) *bucket {
	if b := sh.buckets[id]; b != nil {
		return b
	}
	if len(sh.buckets) >= a.maxBuckets {
		return nil
	}
	b := new(bucket)
	sh.buckets[id] = b
	return b
}

// ingestResult is what add did with the flows of one datagram.
type ingestResult struct {
	counted, unmatched, otherValues uint64
}

// add counts flows from sender s, received at received (the time of flows
// without a start time).
func (a *aggregator) add(s *sender, flows []netflow.Flow, received time.Time) ingestResult {
	var res ingestResult
	sh := a.shardOf(s.addr)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	var cached *bucket
	cachedMinute, haveCache := int64(0), false
	for i := range flows {
		f := &flows[i]
		dir := s.direction(f.SrcAddr, f.DstAddr)
		if dir == 0 {
			res.unmatched++
			continue
		}
		res.counted++
		t := received
		if f.Known.Has(netflow.FieldStart) && !f.Start.IsZero() {
			t = f.Start
		}
		if m := floorDiv(t.Unix(), 60) * 60; !haveCache || m != cachedMinute {
			cached = a.bucket(sh, bucketID{sender: s.addr, gran: minute, start: m})
			cachedMinute, haveCache = m, true
		}
		if cached == nil {
			a.bucketsFull.Add(1)
			continue
		}
		packets, bytes := f.Packets, f.Bytes
		// Multiplied by the sampling interval, unless the decoder's
		// sampling policy did so already (FieldScaled). An sFlow flow
		// is one sampled packet (packets 1, bytes its frame length): it
		// counts the traffic its sampling rate stands for.
		if f.Known.Has(netflow.FieldSamplingInterval) && f.SamplingInterval > 1 && !f.Known.Has(netflow.FieldScaled) {
			packets *= uint64(f.SamplingInterval)
			bytes *= uint64(f.SamplingInterval)
		}
		res.otherValues += a.count(cached, f, dir, packets, bytes)
	}
	return res
}

// count adds one flow to bucket b and returns how many of its values went
// under other.
func (a *aggregator) count(b *bucket, f *netflow.Flow, dir direction, packets, bytes uint64) uint64 {
	b.dirty = true
	b.all.add(dir, packets, bytes)
	var other uint64
	num := func(k kind, field netflow.FlowFields, v uint32) {
		if !a.kinds.has(k) || !f.Known.Has(field) {
			return
		}
		m := b.nums[k]
		if m == nil {
			m = make(map[uint32]*cell)
			b.nums[k] = m
		}
		c := m[v]
		if c == nil {
			if len(m) >= a.maxValues {
				c = &b.other[k]
				other++
			} else {
				c = new(cell)
				m[v] = c
			}
		}
		c.add(dir, packets, bytes)
	}
	addr := func(k kind, field netflow.FlowFields, v netip.Addr) {
		if !a.kinds.has(k) || !f.Known.Has(field) || !v.IsValid() {
			return
		}
		c := b.addrs[k].get(v, a.maxValues)
		if c == nil {
			c = &b.other[k]
			other++
		}
		c.add(dir, packets, bytes)
	}
	num(kindProto, netflow.FieldProto, uint32(f.Proto))
	addr(kindSrcIP, netflow.FieldSrcAddr, f.SrcAddr)
	num(kindSrcPort, netflow.FieldSrcPort, uint32(f.SrcPort))
	num(kindSrcAS, netflow.FieldSrcAS, f.SrcAS)
	addr(kindDstIP, netflow.FieldDstAddr, f.DstAddr)
	num(kindDstPort, netflow.FieldDstPort, uint32(f.DstPort))
	num(kindDstAS, netflow.FieldDstAS, f.DstAS)
	return other
}

// fieldCount is one non-zero cell taken by a flush.
type fieldCount struct {
	kind  kind // kindAll for the field all
	num   uint32
	addr  netip.Addr
	other bool
	cell  cell
}

// name is the field's API name: all, dstport:443, srcip:192.0.2.1,
// dstport:other.
func (fc *fieldCount) name() string {
	switch {
	case fc.kind == kindAll:
		return "all"
	case fc.other:
		return fc.kind.String() + ":" + otherValue
	case fc.kind.isAddr():
		return fc.kind.String() + ":" + fc.addr.String()
	}
	return fc.kind.String() + ":" + strconv.FormatUint(uint64(fc.num), 10)
}

// bucketCounts are the counts a flush took from one bucket.
type bucketCounts struct {
	id     bucketID
	fields []fieldCount
}

// take removes and returns every count since the last flush, and forgets
// buckets idle for evictAfter flushes.
func (a *aggregator) take() []bucketCounts {
	var out []bucketCounts
	for i := range a.shards {
		sh := &a.shards[i]
		sh.mu.Lock()
		for id, b := range sh.buckets {
			if !b.dirty {
				b.idle++
				if b.idle >= evictAfter {
					delete(sh.buckets, id)
				}
				continue
			}
			out = append(out, bucketCounts{id: id, fields: b.take()})
		}
		sh.mu.Unlock()
	}
	return out
}

// take removes the bucket's counts.
func (b *bucket) take() []fieldCount {
	b.dirty, b.idle = false, 0
	fields := []fieldCount{{kind: kindAll, cell: b.all}}
	b.all = cell{}
	for k := range numKinds {
		for v, c := range b.nums[k] {
			if !c.isZero() {
				fields = append(fields, fieldCount{kind: k, num: v, cell: *c})
				*c = cell{}
			}
		}
		for v, c := range b.addrs[k].v4 {
			if !c.isZero() {
				var a [4]byte
				binary.BigEndian.PutUint32(a[:], v)
				fields = append(fields, fieldCount{kind: k, addr: netip.AddrFrom4(a), cell: *c})
				*c = cell{}
			}
		}
		for v, c := range b.addrs[k].v6 {
			if !c.isZero() {
				fields = append(fields, fieldCount{kind: k, addr: netip.AddrFrom16(v), cell: *c})
				*c = cell{}
			}
		}
		if o := &b.other[k]; !o.isZero() {
			fields = append(fields, fieldCount{kind: k, other: true, cell: *o})
			*o = cell{}
		}
	}
	return fields
}
