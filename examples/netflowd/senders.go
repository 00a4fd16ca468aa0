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

func sortPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return slices.Compact(ps)
}

// registry holds the senders: in memory for the ingest path (a snapshot
// read without a lock), in Redis so that they survive restarts. Every
// change goes to Redis first, then to the snapshot and the receiver's
// allow-list.
type registry struct {
	rdb      *redis.Client
	keys     keyspace
	setAllow func([]netip.Prefix)

	mu  sync.Mutex // serialises changes
	cur atomic.Pointer[map[netip.Addr]*sender]
}

func newRegistry(rdb *redis.Client, keys keyspace, setAllow func([]netip.Prefix)) *registry {
	r := &registry{rdb: rdb, keys: keys, setAllow: setAllow}
	empty := map[netip.Addr]*sender{}
	r.cur.Store(&empty)
	return r
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

// install makes m the current senders and updates the allow-list.
func (r *registry) install(m map[netip.Addr]*sender) {
	r.cur.Store(&m)
	allow := make([]netip.Prefix, 0, len(m))
	for a := range m {
		allow = append(allow, netip.PrefixFrom(a, a.BitLen()))
	}
	r.setAllow(allow)
}

// lookup returns the sender registered as a, or nil.
func (r *registry) lookup(a netip.Addr) *sender { return (*r.cur.Load())[a] }

// list returns the senders sorted by address.
func (r *registry) list() []*sender {
	m := *r.cur.Load()
	out := make([]*sender, 0, len(m))
	for _, s := range m {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *sender) int { return a.addr.Compare(b.addr) })
	return out
}

// add registers a (if new) and adds prefixes to it.
func (r *registry) add(ctx context.Context, a netip.Addr, prefixes []netip.Prefix) (*sender, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.cur.Load()
	s := old[a]
	next := &sender{addr: a, counters: new(senderCounters)}
	if s != nil {
		next.counters = s.counters
		next.prefixes = slices.Clone(s.prefixes)
	}
	next.prefixes = sortPrefixes(append(next.prefixes, prefixes...))
	return next, r.put(ctx, old, next)
}

// remove removes prefixes from a; false if a is not registered.
func (r *registry) remove(ctx context.Context, a netip.Addr, prefixes []netip.Prefix) (*sender, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.cur.Load()
	s := old[a]
	if s == nil {
		return nil, false, nil
	}
	next := &sender{addr: a, counters: s.counters}
	for _, p := range s.prefixes {
		if !slices.Contains(prefixes, p) {
			next.prefixes = append(next.prefixes, p)
		}
	}
	return next, true, r.put(ctx, old, next)
}

// put stores next in Redis and installs it.
func (r *registry) put(ctx context.Context, old map[netip.Addr]*sender, next *sender) error {
	rec, err := json.Marshal(senderRecord{Prefixes: toJSON(next.prefixes)})
	if err != nil {
		return err
	}
	if err := r.rdb.HSet(ctx, r.keys.senders(), next.addr.String(), rec).Err(); err != nil {
		return fmt.Errorf("netflow: store sender: %w", err)
	}
	m := make(map[netip.Addr]*sender, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[next.addr] = next
	r.install(m)
	return nil
}

// delete removes sender a and its counters; false if it is not registered.
func (r *registry) delete(ctx context.Context, a netip.Addr) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := *r.cur.Load()
	if old[a] == nil {
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
	m := make(map[netip.Addr]*sender, len(old))
	for k, v := range old {
		if k != a {
			m[k] = v
		}
	}
	r.install(m)
	return true, nil
}
