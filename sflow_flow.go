package netflow

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// sFlow flow samples (formats 1 and 3) and their flow records, and how a
// flow sample becomes a Flow.

// SFlowFlowSample is one flow sample: one packet the agent sampled, 1 in
// SamplingRate, described by its records. Every record is in Records, as
// it came; those this package knows are also decoded into the fields below
// (the first of each kind; Has says which).
type SFlowFlowSample struct {
	// Expanded is true for the expanded format (3), which carries data
	// source and interface numbers of 32 bits instead of 24 and 30.
	Expanded bool
	// SequenceNumber counts the flow samples of the data source.
	SequenceNumber uint32
	Source         SFlowDataSource
	// SamplingRate is N of 1-in-N sampling (Flow.SamplingInterval).
	SamplingRate uint32
	// SamplePool counts the packets that could have been sampled, Drops
	// the samples the agent lost for lack of resources.
	SamplePool, Drops uint32
	Input, Output     SFlowInterface
	// Records holds every flow record, known or not.
	Records []SFlowStructure

	// Has says which of the decoded records below the sample carried.
	Has SFlowRecords
	// Header is the raw packet header record (format 1).
	Header SFlowSampledHeader
	// Ethernet is the Ethernet frame data record (2).
	Ethernet SFlowSampledEthernet
	// IP is the IPv4 data (3) or IPv6 data (4) record, whichever came first.
	IP SFlowSampledIP
	// Switch, Router, Gateway, User, URL, MPLS, NAT and NATPort are the
	// extended records 1001-1007 and 1020.
	Switch  SFlowExtendedSwitch
	Router  SFlowExtendedRouter
	Gateway SFlowExtendedGateway
	User    SFlowExtendedUser
	URL     SFlowExtendedURL
	MPLS    SFlowExtendedMPLS
	NAT     SFlowExtendedNAT
	NATPort SFlowExtendedNATPort

	recStart, recEnd int // Records in SFlowPacket.records
}

// SFlowRecords is a set of the flow records SFlowFlowSample decodes.
type SFlowRecords uint16

// The flow records SFlowFlowSample decodes (enterprise 0, by format).
const (
	SFlowHasHeader   SFlowRecords = 1 << iota // 1: raw packet header
	SFlowHasEthernet                          // 2: Ethernet frame data
	SFlowHasIPv4                              // 3: IPv4 data
	SFlowHasIPv6                              // 4: IPv6 data
	SFlowHasSwitch                            // 1001: extended switch
	SFlowHasRouter                            // 1002: extended router
	SFlowHasGateway                           // 1003: extended gateway
	SFlowHasUser                              // 1004: extended user
	SFlowHasURL                               // 1005: extended URL
	SFlowHasMPLS                              // 1006: extended MPLS
	SFlowHasNAT                               // 1007: extended NAT
	SFlowHasNATPort                           // 1020: extended NAT port
)

// SFlowSampledHeader is the raw packet header record: the first bytes of
// the sampled packet.
type SFlowSampledHeader struct {
	// Protocol is the header's protocol (sFlow header_protocol): 1
	// Ethernet, 11 IPv4, 12 IPv6, 13 MPLS; packetheader.go reads these.
	Protocol uint32
	// FrameLength is the length of the packet on the wire, before anything
	// was stripped: the Flow's Bytes.
	FrameLength uint32
	// Stripped is the number of bytes removed from the packet before
	// sampling (an Ethernet FCS of 4, say).
	Stripped uint32
	// Bytes is the sampled header (aliasing the datagram).
	Bytes []byte
}

// Header protocols of the raw packet header record that the packet header
// parser reads.
const (
	sflowHeaderEthernet = 1
	sflowHeaderIPv4     = 11
	sflowHeaderIPv6     = 12
	sflowHeaderMPLS     = 13
)

// SFlowSampledEthernet is the Ethernet frame data record.
type SFlowSampledEthernet struct {
	Length   uint32 // of the MAC packet, FCS included
	Src, Dst MAC
	Type     uint32 // EtherType
}

// SFlowSampledIP is the IPv4 data record or the IPv6 data record.
type SFlowSampledIP struct {
	Length           uint32 // of the IP packet
	Protocol         uint32
	Src, Dst         netip.Addr
	SrcPort, DstPort uint32
	TCPFlags         uint32
	// ToS is the IPv4 type of service or the IPv6 priority (traffic
	// class).
	ToS uint32
}

// SFlowExtendedSwitch is the extended switch record: the 802.1Q VLAN and
// priority of the packet in and out.
type SFlowExtendedSwitch struct {
	SrcVLAN, SrcPriority uint32
	DstVLAN, DstPriority uint32
}

// SFlowExtendedRouter is the extended router record: the next hop and the
// prefix lengths of the source and destination routes.
type SFlowExtendedRouter struct {
	NextHop          netip.Addr
	SrcMask, DstMask uint32
}

// SFlowExtendedGateway is the extended gateway record: BGP routing of the
// packet.
type SFlowExtendedGateway struct {
	NextHop netip.Addr // BGP next hop
	// AS is the router's own AS; SrcAS the source's, SrcPeerAS the AS of
	// the peer it came from.
	AS, SrcAS, SrcPeerAS uint32
	// DstAS is the last AS of the path's last segment (the destination's
	// origin AS), DstPeerAS the first of its first (the peer the packet
	// goes to); 0 for an empty path (a destination in the router's own
	// AS) or segment.
	DstAS, DstPeerAS uint32
	LocalPref        uint32
	// Segments and Communities count the AS path segments and the
	// communities; ASPath and AppendCommunities read them.
	Segments, Communities uint32

	path, communities []byte // validated XDR, aliasing the datagram
}

// AppendASPath appends every AS number of the path, segment after segment
// (sets and sequences alike), to dst.
func (g *SFlowExtendedGateway) AppendASPath(dst []uint32) []uint32 {
	b := g.path
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b[4:]))
		b = b[8:]
		for k := 0; k < n && len(b) >= 4; k++ {
			dst = append(dst, binary.BigEndian.Uint32(b))
			b = b[4:]
		}
	}
	return dst
}

// AppendCommunities appends the BGP communities to dst.
func (g *SFlowExtendedGateway) AppendCommunities(dst []uint32) []uint32 {
	for b := g.communities; len(b) >= 4; b = b[4:] {
		dst = append(dst, binary.BigEndian.Uint32(b))
	}
	return dst
}

// SFlowExtendedUser is the extended user record: who sent and who
// receives the packet (RADIUS or TACACS user names). The names alias the
// datagram; their charsets are IANA MIBenum values (106 is UTF-8).
type SFlowExtendedUser struct {
	SrcCharset uint32
	SrcUser    []byte
	DstCharset uint32
	DstUser    []byte
}

// SFlowExtendedURL is the extended URL record (HTTP). URL and Host alias
// the datagram.
type SFlowExtendedURL struct {
	Direction uint32 // 1 source address is the server, 2 destination is
	URL       []byte
	Host      []byte
}

// SFlowExtendedMPLS is the extended MPLS record: the next hop and the
// label stacks the packet came in with and goes out with.
type SFlowExtendedMPLS struct {
	NextHop   netip.Addr
	InLabels  uint32 // labels in the in stack
	OutLabels uint32

	in, out []byte // validated XDR label values, aliasing the datagram
}

// AppendInStack appends the in label stack (top first) to dst.
func (m *SFlowExtendedMPLS) AppendInStack(dst []uint32) []uint32 { return appendWords(dst, m.in) }

// AppendOutStack appends the out label stack (top first) to dst.
func (m *SFlowExtendedMPLS) AppendOutStack(dst []uint32) []uint32 { return appendWords(dst, m.out) }

func appendWords(dst []uint32, b []byte) []uint32 {
	for ; len(b) >= 4; b = b[4:] {
		dst = append(dst, binary.BigEndian.Uint32(b))
	}
	return dst
}

// SFlowExtendedNAT is the extended NAT record: the source and destination
// addresses after translation.
type SFlowExtendedNAT struct {
	Src, Dst netip.Addr
}

// SFlowExtendedNATPort is the extended NAT port record: the ports after
// translation.
type SFlowExtendedNATPort struct {
	SrcPort, DstPort uint32
}

// Flow record formats of enterprise 0.
const (
	sflowRecHeader   = 1
	sflowRecEthernet = 2
	sflowRecIPv4     = 3
	sflowRecIPv6     = 4
	sflowRecSwitch   = 1001
	sflowRecRouter   = 1002
	sflowRecGateway  = 1003
	sflowRecUser     = 1004
	sflowRecURL      = 1005
	sflowRecMPLS     = 1006
	sflowRecNAT      = 1007
	sflowRecNATPort  = 1020
)

// addFlowSample decodes the flow sample s (sample index of the datagram),
// whose data begins at datagram offset start, and appends it to p.FlowSamples. fatal says that the
// sample is too short for its fixed fields (decodeSFlow stops there).
func (p *SFlowPacket) addFlowSample(s SFlowStructure, start, index int) (err error, fatal bool) {
	b := s.Data
	expanded := s.Format == sflowExpandedFlowSample
	min := sflowFlowSampleMinLen
	if expanded {
		min = sflowExpandedFlowMinLen
	}
	if len(b) < min {
		return sflowErr(start, "sflow sample "+strconv.Itoa(index)+" (flow): shorter than its fixed fields", ErrMalformed), true
	}
	p.FlowSamples = grow(p.FlowSamples, len(p.FlowSamples)+1)
	fs := &p.FlowSamples[len(p.FlowSamples)-1]
	fs.Expanded = expanded
	fs.SequenceNumber = binary.BigEndian.Uint32(b)
	fs.Has = 0
	var n uint32
	if expanded {
		b = b[:sflowExpandedFlowMinLen]
		fs.Source = SFlowDataSource{Type: binary.BigEndian.Uint32(b[4:]), Index: binary.BigEndian.Uint32(b[8:])}
		fs.SamplingRate = binary.BigEndian.Uint32(b[12:])
		fs.SamplePool = binary.BigEndian.Uint32(b[16:])
		fs.Drops = binary.BigEndian.Uint32(b[20:])
		fs.Input = SFlowInterface{Format: binary.BigEndian.Uint32(b[24:]), Value: binary.BigEndian.Uint32(b[28:])}
		fs.Output = SFlowInterface{Format: binary.BigEndian.Uint32(b[32:]), Value: binary.BigEndian.Uint32(b[36:])}
		n = binary.BigEndian.Uint32(b[40:])
	} else {
		b = b[:sflowFlowSampleMinLen]
		src := binary.BigEndian.Uint32(b[4:])
		fs.Source = SFlowDataSource{Type: src >> 24, Index: src & 0xffffff}
		fs.SamplingRate = binary.BigEndian.Uint32(b[8:])
		fs.SamplePool = binary.BigEndian.Uint32(b[12:])
		fs.Drops = binary.BigEndian.Uint32(b[16:])
		fs.Input = compactInterface(binary.BigEndian.Uint32(b[20:]))
		fs.Output = compactInterface(binary.BigEndian.Uint32(b[24:]))
		n = binary.BigEndian.Uint32(b[28:])
	}
	fs.recStart, fs.recEnd, err = p.walkRecords(s.Data, min, start, n, "sflow sample", index, fs.addRecord)
	if err != nil {
		p.FlowSamples = p.FlowSamples[:len(p.FlowSamples)-1]
		return err, false
	}
	return nil, false
}

// addRecord decodes a flow record into fs if it is one of the known ones
// (the first of its kind); others are only kept raw. A known record that
// is too short or whose contents run past its end is ErrMalformed.
func (fs *SFlowFlowSample) addRecord(r SFlowStructure) error {
	if r.Enterprise != 0 {
		return nil
	}
	b := r.Data
	switch r.Format {
	case sflowRecHeader:
		if fs.Has&SFlowHasHeader != 0 {
			return nil
		}
		if len(b) < 16 {
			return ErrMalformed
		}
		n := binary.BigEndian.Uint32(b[12:])
		if uint64(n) > uint64(len(b)-16) {
			return ErrMalformed // the header is longer than its record
		}
		fs.Header = SFlowSampledHeader{
			Protocol:    binary.BigEndian.Uint32(b),
			FrameLength: binary.BigEndian.Uint32(b[4:]),
			Stripped:    binary.BigEndian.Uint32(b[8:]),
			Bytes:       b[16 : 16+n : 16+n],
		}
		fs.Has |= SFlowHasHeader
	case sflowRecEthernet:
		if fs.Has&SFlowHasEthernet != 0 {
			return nil
		}
		if len(b) < 24 {
			return ErrMalformed
		}
		fs.Ethernet = SFlowSampledEthernet{
			Length: binary.BigEndian.Uint32(b),
			Src:    MAC(b[4:10]),
			Dst:    MAC(b[12:18]),
			Type:   binary.BigEndian.Uint32(b[20:]),
		}
		fs.Has |= SFlowHasEthernet
	case sflowRecIPv4, sflowRecIPv6:
		if fs.Has&(SFlowHasIPv4|SFlowHasIPv6) != 0 {
			return nil
		}
		alen, has := 4, SFlowHasIPv4
		if r.Format == sflowRecIPv6 {
			alen, has = 16, SFlowHasIPv6
		}
		if len(b) < 24+2*alen {
			return ErrMalformed
		}
		t := b[8+2*alen:]
		fs.IP = SFlowSampledIP{
			Length:   binary.BigEndian.Uint32(b),
			Protocol: binary.BigEndian.Uint32(b[4:]),
			Src:      addrOf(b[8 : 8+alen]),
			Dst:      addrOf(b[8+alen : 8+2*alen]),
			SrcPort:  binary.BigEndian.Uint32(t),
			DstPort:  binary.BigEndian.Uint32(t[4:]),
			TCPFlags: binary.BigEndian.Uint32(t[8:]),
			ToS:      binary.BigEndian.Uint32(t[12:]),
		}
		fs.Has |= has
	case sflowRecSwitch:
		if len(b) < 16 {
			return ErrMalformed
		}
		if fs.Has&SFlowHasSwitch == 0 {
			fs.Switch = SFlowExtendedSwitch{
				SrcVLAN: binary.BigEndian.Uint32(b), SrcPriority: binary.BigEndian.Uint32(b[4:]),
				DstVLAN: binary.BigEndian.Uint32(b[8:]), DstPriority: binary.BigEndian.Uint32(b[12:]),
			}
			fs.Has |= SFlowHasSwitch
		}
	case sflowRecRouter:
		a, off, err := readSFlowAddress(b, 0)
		if err != nil || len(b)-off < 8 {
			return ErrMalformed
		}
		if fs.Has&SFlowHasRouter == 0 {
			fs.Router = SFlowExtendedRouter{NextHop: a, SrcMask: binary.BigEndian.Uint32(b[off:]), DstMask: binary.BigEndian.Uint32(b[off+4:])}
			fs.Has |= SFlowHasRouter
		}
	case sflowRecGateway:
		if fs.Has&SFlowHasGateway == 0 {
			if err := fs.Gateway.parse(b); err != nil {
				return err
			}
			fs.Has |= SFlowHasGateway
		}
	case sflowRecUser:
		if fs.Has&SFlowHasUser == 0 {
			u := &fs.User
			c := xdrCursor{b: b}
			u.SrcCharset = c.u32()
			u.SrcUser = c.opaque()
			u.DstCharset = c.u32()
			u.DstUser = c.opaque()
			if c.bad {
				return ErrMalformed
			}
			fs.Has |= SFlowHasUser
		}
	case sflowRecURL:
		if fs.Has&SFlowHasURL == 0 {
			u := &fs.URL
			c := xdrCursor{b: b}
			u.Direction = c.u32()
			u.URL = c.opaque()
			u.Host = c.opaque()
			if c.bad {
				return ErrMalformed
			}
			fs.Has |= SFlowHasURL
		}
	case sflowRecMPLS:
		if fs.Has&SFlowHasMPLS == 0 {
			m := &fs.MPLS
			a, off, err := readSFlowAddress(b, 0)
			if err != nil {
				return ErrMalformed
			}
			c := xdrCursor{b: b, off: off}
			m.NextHop = a
			m.InLabels, m.in = c.words()
			m.OutLabels, m.out = c.words()
			if c.bad {
				return ErrMalformed
			}
			fs.Has |= SFlowHasMPLS
		}
	case sflowRecNAT:
		src, off, err := readSFlowAddress(b, 0)
		if err != nil {
			return ErrMalformed
		}
		dst, _, err := readSFlowAddress(b, off)
		if err != nil {
			return ErrMalformed
		}
		if fs.Has&SFlowHasNAT == 0 {
			fs.NAT = SFlowExtendedNAT{Src: src, Dst: dst}
			fs.Has |= SFlowHasNAT
		}
	case sflowRecNATPort:
		if len(b) < 8 {
			return ErrMalformed
		}
		if fs.Has&SFlowHasNATPort == 0 {
			fs.NATPort = SFlowExtendedNATPort{SrcPort: binary.BigEndian.Uint32(b), DstPort: binary.BigEndian.Uint32(b[4:])}
			fs.Has |= SFlowHasNATPort
		}
	}
	return nil
}

// parse decodes an extended gateway record, checking that its AS path and
// communities lie within it.
func (g *SFlowExtendedGateway) parse(b []byte) error {
	a, off, err := readSFlowAddress(b, 0)
	if err != nil {
		return ErrMalformed
	}
	c := xdrCursor{b: b, off: off}
	*g = SFlowExtendedGateway{NextHop: a, AS: c.u32(), SrcAS: c.u32(), SrcPeerAS: c.u32()}
	g.Segments = c.u32()
	pathStart := c.off
	// As sflowtool and pmacct read the path: the first AS of the first
	// segment is the destination's peer AS, the last of the last segment
	// its AS.
	for k := uint32(0); k < g.Segments && !c.bad; k++ {
		c.u32() // segment type: 1 AS_SET, 2 AS_SEQUENCE
		n, asns := c.words()
		if k == 0 && n > 0 {
			g.DstPeerAS = binary.BigEndian.Uint32(asns)
		}
		g.DstAS = 0
		if n > 0 {
			g.DstAS = binary.BigEndian.Uint32(asns[len(asns)-4:])
		}
	}
	if c.bad {
		return ErrMalformed
	}
	g.path = b[pathStart:c.off:c.off]
	g.Communities, g.communities = c.words()
	g.LocalPref = c.u32()
	if c.bad {
		return ErrMalformed
	}
	return nil
}

// xdrCursor reads XDR items from b; a read past the end sets bad and
// returns zero values (a sticky error).
type xdrCursor struct {
	b   []byte
	off int
	bad bool
}

func (c *xdrCursor) u32() uint32 {
	if c.bad || len(c.b)-c.off < 4 {
		c.bad = true
		return 0
	}
	v := binary.BigEndian.Uint32(c.b[c.off:])
	c.off += 4
	return v
}

// opaque reads a variable-length opaque (or string): its length, its
// bytes and their padding.
func (c *xdrCursor) opaque() []byte {
	n := c.u32()
	if c.bad || pad4(n) > uint64(len(c.b)-c.off) {
		c.bad = true
		return nil
	}
	v := c.b[c.off : c.off+int(n) : c.off+int(n)]
	c.off += int(pad4(n))
	return v
}

// words reads a variable-length array of 32-bit items: its count and its
// bytes.
func (c *xdrCursor) words() (uint32, []byte) {
	n := c.u32()
	if c.bad || uint64(n)*4 > uint64(len(c.b)-c.off) {
		c.bad = true
		return 0, nil
	}
	v := c.b[c.off : c.off+int(n)*4 : c.off+int(n)*4]
	c.off += int(n) * 4
	return n, v
}

// sflowFlowKnown is what every flow from a flow sample carries.
const sflowFlowKnown = FieldDomain | FieldSequence | FieldPackets | FieldStart | FieldEnd | FieldAgent

// sampleFlow fills f from flow sample s:
//
//   - Exporter is the datagram's source, Agent the agent address the
//     datagram names, Domain its sub-agent ID, Sequence its sequence
//     number; Version is 5 and ExportProtocol ExportSFlow.
//   - Start and End are the time the datagram was decoded (sFlow carries
//     no wall clock); Packets is 1 (one sampled packet) and Bytes the
//     frame length of the raw packet header record, else the length of
//     the Ethernet, else of the IPv4 or IPv6 data record;
//     SamplingInterval is the sampling rate. Config.Sampling applies
//     (SamplingPolicy.Scale multiplies Packets and Bytes by the rate).
//   - InIf and OutIf are the ifIndex of an interface of format 0 (0
//     unknown, 0x3FFFFFFF internal). A discarded packet (output format
//     1) has OutIf 0, as NetFlow reports drops; several output interfaces
//     (format 2) leave OutIf unknown. The sample keeps both as they came.
//   - From the sampled packet header (packetheader.go): MACs, VLAN (the
//     outer tag), EtherType, MPLS label, IP version, addresses, ToS,
//     protocol, ports, TCP flags, ICMP type and code. Without a header,
//     the Ethernet and IPv4/IPv6 data records give theirs.
//   - From the extended records: VLAN (switch's input VLAN, if the header
//     has no tag) and PostVLAN (its output VLAN); NextHop and the masks
//     (router); BGPNextHop, SrcAS and DstAS (gateway: DstAS is the last
//     AS of the path); the post-NAT addresses and ports (NAT, NAT port);
//     the MPLS label (the top of the MPLS record's in stack, if the
//     header has no label stack).
func (p *SFlowPacket) sampleFlow(f *Flow, s *SFlowFlowSample) {
	*f = Flow{
		Exporter:       p.Exporter,
		Version:        sflowVersion,
		ExportProtocol: ExportSFlow,
		Domain:         p.Header.SubAgentID,
		Sequence:       p.Header.SequenceNumber,
		Packets:        1,
		Start:          p.DecodedAt,
		End:            p.DecodedAt,
		Agent:          p.Header.Agent,
		Known:          sflowFlowKnown,
	}
	if s.SamplingRate != 0 {
		f.SamplingInterval = s.SamplingRate
		f.Known |= FieldSamplingInterval
	}
	if v, ok := s.Input.IfIndex(); ok {
		f.InIf = v
		f.Known |= FieldInIf
	}
	switch s.Output.Format {
	case sflowInterfaceFormatIfIndex:
		f.OutIf = s.Output.Value
		f.Known |= FieldOutIf
	case 1: // discarded
		f.Known |= FieldOutIf
	}
	has := s.Has
	if has&(SFlowHasIPv4|SFlowHasIPv6) != 0 {
		ip := &s.IP
		f.Bytes = uint64(ip.Length)
		f.SrcAddr, f.DstAddr = ip.Src, ip.Dst
		f.Proto = uint8(ip.Protocol)
		f.ToS = uint8(ip.ToS)
		f.IPVersion = 4
		if has&SFlowHasIPv6 != 0 {
			f.IPVersion = 6
		}
		f.Known |= FieldBytes | FieldSrcAddr | FieldDstAddr | FieldProto | FieldToS | FieldIPVersion
		if hasPorts(f.Proto) {
			f.SrcPort, f.DstPort = uint16(ip.SrcPort), uint16(ip.DstPort)
			f.Known |= FieldSrcPort | FieldDstPort
			if f.Proto == protoTCP {
				f.TCPFlags = uint8(ip.TCPFlags)
				f.Known |= FieldTCPFlags
			}
		}
	}
	if has&SFlowHasEthernet != 0 {
		e := &s.Ethernet
		f.Bytes = uint64(e.Length)
		f.SrcMAC, f.DstMAC = e.Src, e.Dst
		f.EthType = uint16(e.Type)
		f.Known |= FieldBytes | FieldSrcMAC | FieldDstMAC | FieldEthType
	}
	if has&SFlowHasHeader != 0 {
		h := &s.Header
		f.Bytes = uint64(h.FrameLength)
		f.Known |= FieldBytes
		if start, ok := sflowHeaderStart(h.Protocol); ok {
			if has&(SFlowHasIPv4|SFlowHasIPv6) != 0 {
				headerOverIPRecord(f, h.Bytes, start, p.decap)
			} else {
				parsePacketHeader(f, h.Bytes, start, p.decap)
			}
		}
	}
	if has&^(SFlowHasHeader|SFlowHasEthernet|SFlowHasIPv4|SFlowHasIPv6) != 0 {
		s.extendedFlow(f)
	}
	if p.sampling.active {
		p.sampling.apply(f)
	}
}

// headerOverIPRecord parses a sampled header into f, which holds the
// values of an IPv4 or IPv6 data record: where the header has an IP
// header, its IP and transport fields replace the record's (a TCP record's
// flags do not stay with the header's UDP); where it has none, the
// record's stay.
func headerOverIPRecord(f *Flow, b []byte, start headerLayer, decap bool) {
	rec := *f
	clearIPFields(f)
	parsePacketHeader(f, b, start, decap)
	if f.Known&FieldIPVersion == 0 {
		f.IPVersion, f.SrcAddr, f.DstAddr, f.ToS, f.Proto = rec.IPVersion, rec.SrcAddr, rec.DstAddr, rec.ToS, rec.Proto
		f.SrcPort, f.DstPort, f.TCPFlags = rec.SrcPort, rec.DstPort, rec.TCPFlags
		f.Known |= rec.Known & (headerL3Fields | headerL4Fields)
	}
}

// extendedFlow fills f from the extended records of s.
func (s *SFlowFlowSample) extendedFlow(f *Flow) {
	has := s.Has
	if has&SFlowHasSwitch != 0 {
		if f.Known&FieldVLAN == 0 {
			f.VLAN = uint16(s.Switch.SrcVLAN)
			f.Known |= FieldVLAN
		}
		f.PostVLAN = uint16(s.Switch.DstVLAN)
		f.Known |= FieldPostVLAN
	}
	if has&SFlowHasRouter != 0 {
		r := &s.Router
		if r.NextHop.IsValid() {
			f.NextHop = r.NextHop
			f.Known |= FieldNextHop
		}
		f.SrcMask, f.DstMask = uint8(r.SrcMask), uint8(r.DstMask)
		f.Known |= FieldSrcMask | FieldDstMask
	}
	if has&SFlowHasGateway != 0 {
		g := &s.Gateway
		if g.NextHop.IsValid() {
			f.BGPNextHop = g.NextHop
			f.Known |= FieldBGPNextHop
		}
		f.SrcAS, f.DstAS = g.SrcAS, g.DstAS
		f.Known |= FieldSrcAS | FieldDstAS
	}
	if has&SFlowHasNAT != 0 {
		if s.NAT.Src.IsValid() {
			f.PostNATSrcAddr = s.NAT.Src
			f.Known |= FieldPostNATSrcAddr
		}
		if s.NAT.Dst.IsValid() {
			f.PostNATDstAddr = s.NAT.Dst
			f.Known |= FieldPostNATDstAddr
		}
	}
	if has&SFlowHasNATPort != 0 {
		f.PostNATSrcPort, f.PostNATDstPort = uint16(s.NATPort.SrcPort), uint16(s.NATPort.DstPort)
		f.Known |= FieldPostNATSrcPort | FieldPostNATDstPort
	}
	if has&SFlowHasMPLS != 0 && f.Known&FieldMPLSLabel == 0 && len(s.MPLS.in) >= 4 {
		f.MPLSLabel = binary.BigEndian.Uint32(s.MPLS.in) & 0xfffff
		f.Known |= FieldMPLSLabel
	}
}

// sflowHeaderStart returns where the packet header parser starts for a
// raw packet header record's protocol; ok is false for protocols it does
// not read (token ring, FDDI, 802.11 and so on).
func sflowHeaderStart(protocol uint32) (headerLayer, bool) {
	switch protocol {
	case sflowHeaderEthernet:
		return startEthernet, true
	case sflowHeaderIPv4:
		return startIPv4, true
	case sflowHeaderIPv6:
		return startIPv6, true
	case sflowHeaderMPLS:
		return startMPLS, true
	}
	return 0, false
}
