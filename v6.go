package netflow

import (
	"net/netip"
)

// NetFlow v6: the v5 header and 52-byte records (v6Layout: the v5 record
// plus encapsulation sizes and the peer next hop).

// V6Header is the NetFlow v6 header, laid out as v5's.
type V6Header = V5Header

// V6Record is one NetFlow v6 flow record: the v5 fields plus three more.
type V6Record struct {
	V5Record
	InEncap     uint8 // size of input encapsulation, bytes
	OutEncap    uint8 // size of output encapsulation, bytes
	PeerNextHop netip.Addr
}

// V6Packet is a decoded NetFlow v6 datagram. It holds no reference to the
// datagram.
type V6Packet struct {
	Exporter netip.AddrPort
	Header   V6Header
	Records  []V6Record

	sampling samplingRule // the decoder's Config.Sampling policy for Exporter
}

// Version returns 6.
func (p *V6Packet) Version() uint16 { return 6 }

// FlowCount returns the number of records.
func (p *V6Packet) FlowCount() int { return len(p.Records) }

// AppendFlows appends one Flow per record to dst.
func (p *V6Packet) AppendFlows(dst []Flow) []Flow {
	c := newFixedContext(p.Exporter, &v6Layout, p.Header.fixed(), p.sampling)
	n := len(dst)
	dst = grow(dst, n+len(p.Records))
	for i := range p.Records {
		c.recordFlow(&dst[n+i], &p.Records[i].V5Record)
	}
	return dst
}

func decodeV6(p *V6Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	fh, err := parseFixed(data, &v6Layout)
	if err != nil {
		p.Records = p.Records[:0]
		return err
	}
	p.Header = v5Header(fh)
	c := fh.clock()
	p.Records = grow(p.Records, int(fh.count))
	for i := range p.Records {
		b := data[v6Layout.headerLen+i*v6Layout.recordLen:][:v6Layout.recordLen]
		r := &p.Records[i]
		readFixedRecord(&r.V5Record, b, &v6Layout, c)
		r.InEncap = b[46]
		r.OutEncap = b[47]
		r.PeerNextHop = addr4(b[48:])
	}
	return nil
}
