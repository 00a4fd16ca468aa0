package receiver

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/flowkit/netflow"
)

// Transport is how an export message reached the receiver.
type Transport uint8

// The transports of a Datagram.
const (
	UDP Transport = iota // a UDP datagram
	TCP                  // an IPFIX message over TCP (RFC 7011 section 10.4)
	TLS                  // an IPFIX message over TLS over TCP (RFC 7011 section 11)
)

// String returns "udp", "tcp" or "tls".
func (t Transport) String() string {
	switch t {
	case UDP:
		return "udp"
	case TCP:
		return "tcp"
	case TLS:
		return "tls"
	}
	return "transport(" + strconv.Itoa(int(t)) + ")"
}

// Datagram is what a Receiver hands to its Handler: one export datagram
// (or, over TCP, one IPFIX message), and what the Decoder made of it.
//
// The Datagram, its Data and its Packet (with everything reached from it,
// such as v9/IPFIX records, which alias Data) belong to the receiver and are
// reused as soon as the handler returns: the handler must not retain them or
// hand them to another goroutine. Copy what you keep. Flows appended by
// Packet.AppendFlows are plain values and may be kept.
type Datagram struct {
	// Exporter is the source address of the datagram, or the remote
	// address of the TCP connection (each connection has its own
	// source port, so its own templates). IPv4 sources received on a
	// dual-stack socket are reported as IPv4, not as IPv4-mapped IPv6.
	Exporter netip.AddrPort
	// Transport is how it came.
	Transport Transport
	// Received is when the receiver read the datagram (for batch reads,
	// when the batch was read).
	Received time.Time
	// Data is the raw datagram or message; nil for a TCP stream error
	// that ended the connection (Err says which).
	Data []byte
	// Packet is the decoded datagram; nil if nothing decoded.
	Packet netflow.Packet
	// Err is the decode error, nil if everything decoded. For v9 and
	// IPFIX, Packet may be non-nil together with Err: the sets that
	// decoded, and the problems of the others. Over TCP, a malformed
	// or truncated message closes the connection and is handed over
	// with Data nil and Err matching netflow.ErrMalformed or
	// netflow.ErrTruncated.
	Err error
	// Released is true for a Datagram the receiver hands over without a
	// datagram having come: data and options data sets the decoder had
	// held for a template it did not know, released when that template
	// became known through the decoder's store (learned by another
	// instance sharing it, or by another exporter session) or when a
	// periodic look-up found it (netflow.Decoder.TakeReleased), about
	// 200 ms after the store announced it, so that the options state that
	// came with the template applies to them. Data is
	// then nil; Packet is a *netflow.V9Packet or *netflow.IPFIXPacket of
	// one exporter domain whose data sets are all Late, with the header of
	// the datagram the first of them came in; Exporter is that datagram's
	// source, Transport UDP, Received the time of the release, and Err the
	// problems of sets that did not decode. Such Datagrams come from a
	// goroutine of their own, not from the exporter's worker, so they may
	// interleave with that exporter's datagrams in any order (their data
	// sets are late by nature: each DataSet carries the Sequence and
	// ExportTime of the datagram it came in).
	Released bool
}

// Handler receives the datagrams of a Receiver. It is called from several
// goroutines at once: for UDP, the reading goroutines and the workers; one
// goroutine per TCP connection; and the one that hands over released data
// (Datagram.Released). The UDP datagrams of one exporter
// address (whatever its source port) are handed over one at a time, in the
// order they were read: by the worker of the exporter's share
// (Config.Workers), or, when that worker has nothing queued, by the
// goroutine that read them. The messages of one TCP connection come in
// order from its goroutine, and the next message is not read before the
// handler returns, so a slow handler slows the exporter through TCP flow
// control. Over UDP, a slow handler makes the receiver queue and then drop
// datagrams (counted in Counters.Dropped) rather than stall the socket
// (for longer than 50 to 100 ms, while the other reading goroutine of
// the socket takes over). A panic in the handler is not recovered.
type Handler func(d *Datagram)
