package receiver

import "net/netip"

// SetAllowFunc makes allow decide which sources are accepted, in place of
// an allow-list, for services whose list of exporters changes often and is
// long: replacing a list with SetAllow costs a sort of the whole list,
// while allow may look the source up in a structure the service updates
// one entry at a time (a sync.Map, say). The receiver calls allow with the
// source's address (IPv4 sources as IPv4, not IPv4-mapped IPv6) for every
// datagram, from the socket readers, and for every TCP connection at
// accept: it must be fast, must not block and must be safe for concurrent
// use. Datagrams it refuses are counted in Counters.Denied, connections in
// TCPStats.Refused, as with a list. A nil allow refuses every source.
// SetAllow and AllowAll replace it.
func (r *Receiver) SetAllowFunc(allow func(netip.Addr) bool) {
	if allow == nil {
		r.allow.Store(newPrefixSet(nil))
		return
	}
	r.allow.Store(&prefixSet{fn: allow})
}
