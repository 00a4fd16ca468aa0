package main

import "net/netip"

// keyspace names the Redis keys of netflowd, all under one prefix (the
// -redis-prefix flag, "netflowd" by default):
//
//	PREFIX:senders                  hash: sender IP -> {"prefixes":[...]} (JSON)
//	PREFIX:sender:IP                hash: datagrams, flows, unmatched, otherValues, lastSeen (Unix ns)
//	PREFIX:stats:IP:BUCKET          hash: one bucket of one sender, e.g.
//	                                netflowd:stats:192.0.2.1:2024-03-01 12:00
//
// A stats hash holds, for every field counted in the bucket (all,
// dstport:443, srcip:192.0.2.7, dstport:other, ...), up to nine hash
// fields: FIELD|in|flows, FIELD|in|packets, FIELD|in|bytes, the same for
// out, and for both (the flows counted in and out: source and destination
// in the sender's prefixes). Every flow once is in + out - both. A counter
// that is zero has no hash field, so that a flow that is only in or only
// out (most of them) costs three HINCRBYs per field, not six. Its TTL is
// that of its granularity (-ttl-minutes, ...), refreshed by every flush
// that adds to it.
type keyspace struct{ prefix string }

func (k keyspace) senders() string { return k.prefix + ":senders" }

func (k keyspace) senderCounters(a netip.Addr) string { return k.prefix + ":sender:" + a.String() }

func (k keyspace) stats(a netip.Addr, bucket string) string {
	return k.prefix + ":stats:" + a.String() + ":" + bucket
}

// counterNames are the hash field suffixes of a stats hash, by direction
// (in, out, both) and counter (flows, packets, bytes).
var counterNames = [3][3]string{
	{"|in|flows", "|in|packets", "|in|bytes"},
	{"|out|flows", "|out|packets", "|out|bytes"},
	{"|both|flows", "|both|packets", "|both|bytes"},
}

// stored returns the in, out and both counts of a cell, as stored.
func (c *cell) stored() [3]counts {
	both := counts{flows: c.in.flows + c.out.flows - c.total.flows,
		packets: c.in.packets + c.out.packets - c.total.packets,
		bytes:   c.in.bytes + c.out.bytes - c.total.bytes}
	return [3]counts{c.in, c.out, both}
}
