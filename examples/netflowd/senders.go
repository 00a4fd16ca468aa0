package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// sender is a registered exporter and the prefixes whose traffic it
// reports. A sender is immutable but for its counters, which every version
// of it shares: a change of prefixes makes a new sender.
type sender struct {
	addr     netip.Addr
	prefixes []netip.Prefix // sorted, no duplicates
	counters *senderCounters
}

// senderCounters count a sender's datagrams since the last flush (the
// flushed counts are in Redis).
type senderCounters struct {
	datagrams   atomic.Uint64 // datagrams received from it
	flows       atomic.Uint64 // flows in them
	unmatched   atomic.Uint64 // flows matching none of its prefixes
	otherValues atomic.Uint64 // field values counted under other (-max-values)
	lastSeen    atomic.Int64  // Unix ns of the last datagram, 0 if none
}

// direction says whether src and dst are in the sender's prefixes.
func (s *sender) direction(src, dst netip.Addr) direction {
	var d direction
	for _, p := range s.prefixes {
		if d&dirOut == 0 && p.Contains(src) {
			d |= dirOut
		}
		if d&dirIn == 0 && p.Contains(dst) {
			d |= dirIn
		}
	}
	return d
}

// senderRecord is a sender as Redis and the API hold it.
type senderRecord struct {
	Prefixes []prefixJSON `json:"prefixes"`
}

// prefixJSON is one prefix as the API writes it.
type prefixJSON struct {
	Prefix    string `json:"prefix"`
	PrefixLen *int   `json:"prefixLen"`
}

func toJSON(ps []netip.Prefix) []prefixJSON {
	out := make([]prefixJSON, len(ps))
	for i, p := range ps {
		n := p.Bits()
		out[i] = prefixJSON{Prefix: p.Addr().String(), PrefixLen: &n}
	}
	return out
}

// parsePrefixes validates prefixes as the API receives them: each address
// must be its network's first address, and its length in range.
func parsePrefixes(in []prefixJSON) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, pj := range in {
		a, err := netip.ParseAddr(pj.Prefix)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("prefixes[%d]: %q is not an IP address", i, pj.Prefix)
		}
		if a.Is4In6() {
			return nil, fmt.Errorf("prefixes[%d]: %q is an IPv4-mapped IPv6 address: write it as IPv4", i, pj.Prefix)
		}
		if pj.PrefixLen == nil {
			return nil, fmt.Errorf("prefixes[%d]: prefixLen missing", i)
		}
		n := *pj.PrefixLen
		if n < 0 || n > a.BitLen() {
			return nil, fmt.Errorf("prefixes[%d]: prefixLen %d out of range 0-%d for %s", i, n, a.BitLen(), a)
		}
		p := netip.PrefixFrom(a, n)
		if m := p.Masked(); m.Addr() != a {
			return nil, fmt.Errorf("prefixes[%d]: %s is not the first address of its network %s", i, a, m)
		}
		out = append(out, p)
	}
	return out, nil
}

// comparePrefixes orders prefixes by address, then length.
func comparePrefixes(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return a.Bits() - b.Bits()
}

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, comparePrefixes)
	return slices.Compact(ps)
}

// registry holds the senders: in a sync.Map that the ingest path (and the
// receiver's allow func) reads without a lock, and in Redis so that they
// survive restarts. Every change goes to Redis first, then to the map: it
// touches the one entry it changes, so that adding a sender costs the same
// with 10 or 10,000 senders (BenchmarkPutSender), where a copy of every
// sender and a rebuilt allow-list per change cost 4.7 ms a PUT with 10,000.
type registry struct {
	rdb  *redis.Client
	keys keyspace

	mu      sync.Mutex // serialises changes
	senders sync.Map   // netip.Addr -> *sender
}

func newRegistry(rdb *redis.Client, keys keyspace) *registry {
	return &registry{rdb: rdb, keys: keys}
}

// load reads the senders from Redis and installs them.
func (r *registry) load(ctx context.Context) error {
	all, err := r.rdb.HGetAll(ctx, r.keys.senders()).Result()
	if err != nil {
		return fmt.Errorf("netflow: load senders: %w", err)
	}
	m := make(map[netip.Addr]*sender, len(all))
	for ip, v := range all {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return fmt.Errorf("netflow: load senders: bad sender %q in %s", ip, r.keys.senders())
		}
		var rec senderRecord
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			return fmt.Errorf("netflow: load senders: sender %s: %w", ip, err)
		}
		ps, err := parsePrefixes(rec.Prefixes)
		if err != nil {
			return fmt.Errorf("netflow: load senders: sender %s: %w", ip, err)
		}
		m[a] = &sender{addr: a, prefixes: sortPrefixes(ps), counters: new(senderCounters)}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.install(m)
	return nil
}

// install makes m the senders.
func (r *registry) install(m map[netip.Addr]*sender) {
	r.senders.Range(func(k, _ any) bool {
		if _, keep := m[k.(netip.Addr)]; !keep {
			r.senders.Delete(k)
		}
		return true
	})
	for a, s := range m {
		r.senders.Store(a, s)
	}
}

// lookup returns the sender registered as a, or nil.
func (r *registry) lookup(a netip.Addr) *sender {
	v, ok := r.senders.Load(a)
	if !ok {
		return nil
	}
	return v.(*sender)
}

// known reports whether a is a registered sender: the receiver's allow
// func, asked for every datagram before it is decoded.
func (r *registry) known(a netip.Addr) bool {
	_, ok := r.senders.Load(a)
	return ok
}

// each calls f for every sender, in no order.
func (r *registry) each(f func(*sender)) {
	r.senders.Range(func(_, v any) bool {
		f(v.(*sender))
		return true
	})
}

// list returns the senders sorted by address.
func (r *registry) list() []*sender {
	var out []*sender
	r.each(func(s *sender) { out = append(out, s) })
	slices.SortFunc(out, func(a, b *sender) int { return a.addr.Compare(b.addr) })
	return out
}

// add registers a (if new) and adds prefixes to it.
func (r *registry) add(ctx context.Context, a netip.Addr, prefixes []netip.Prefix) (*sender, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookup(a)
	next := &sender{addr: a, counters: new(senderCounters)}
	if s != nil {
		next.counters = s.counters
		next.prefixes = slices.Clone(s.prefixes)
	}
	next.prefixes = sortPrefixes(append(next.prefixes, prefixes...))
	return next, r.put(ctx, next)
}

// remove removes prefixes from a; false if a is not registered.
func (r *registry) remove(ctx context.Context, a netip.Addr, prefixes []netip.Prefix) (*sender, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.lookup(a)
	if s == nil {
		return nil, false, nil
	}
	next := &sender{addr: a, counters: s.counters}
	prefixes = sortPrefixes(slices.Clone(prefixes)) // a binary search each, not a walk
	for _, p := range s.prefixes {
		if _, found := slices.BinarySearchFunc(prefixes, p, comparePrefixes); !found {
			next.prefixes = append(next.prefixes, p)
		}
	}
	return next, true, r.put(ctx, next)
}

// put stores next in Redis and installs it. r.mu is held.
func (r *registry) put(ctx context.Context, next *sender) error {
	rec, err := json.Marshal(senderRecord{Prefixes: toJSON(next.prefixes)})
	if err != nil {
		return err
	}
	if err := r.rdb.HSet(ctx, r.keys.senders(), next.addr.String(), rec).Err(); err != nil {
		return fmt.Errorf("netflow: store sender: %w", err)
	}
	r.senders.Store(next.addr, next)
	return nil
}

// delete removes sender a and its counters; false if it is not registered.
func (r *registry) delete(ctx context.Context, a netip.Addr) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lookup(a) == nil {
		return false, nil
	}
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HDel(ctx, r.keys.senders(), a.String())
		p.Del(ctx, r.keys.senderCounters(a))
		return nil
	})
	if err != nil {
		return true, fmt.Errorf("netflow: delete sender: %w", err)
	}
	r.senders.Delete(a)
	return true, nil
}
