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
// dstport:443, srcip:192.0.2.7, dstport:other, ...), nine hash fields:
// FIELD|flows, FIELD|packets, FIELD|bytes (every flow once), and
// FIELD|in|flows ... FIELD|out|bytes. Its TTL is that of its granularity
// (-ttl-minutes, ...), refreshed by every flush that adds to it.
type keyspace struct{ prefix string }

func (k keyspace) senders() string { return k.prefix + ":senders" }

func (k keyspace) senderCounters(a netip.Addr) string { return k.prefix + ":sender:" + a.String() }

func (k keyspace) stats(a netip.Addr, bucket string) string {
	return k.prefix + ":stats:" + a.String() + ":" + bucket
}

// counterNames are the hash field suffixes of a stats hash, by direction
// (total, in, out) and counter (flows, packets, bytes).
var counterNames = [3][3]string{
	{"|flows", "|packets", "|bytes"},
	{"|in|flows", "|in|packets", "|in|bytes"},
	{"|out|flows", "|out|packets", "|out|bytes"},
}
