package netflow

import (
	"encoding/binary"
	"net/netip"
)

// The sampled packet header parser: the first bytes of a packet, as sFlow's
// raw packet header record and IPFIX's dataLinkFrameSection (315),
// ipHeaderPacketSection (313) and ipPayloadPacketSection (314) carry them,
// read into a Flow's fields. One parser serves both.
//
// It reads Ethernet II (and 802.3 with LLC/SNAP), 802.1Q and 802.1ad tags
// (QinQ: any number, 0x8100, 0x88a8, 0x9100), MPLS label stacks, PPPoE
// sessions, IPv4 (options skipped; a fragment other than the first has no
// transport header), IPv6 with its extension headers (hop-by-hop, routing,
// fragment, destination options, authentication, mobility, HIP, shim6),
// and TCP, UDP, SCTP, DCCP, UDP-Lite, ICMP and ICMPv6. A header cut short
// fills what it holds: a 16-byte IPv4 header gives the protocol and the
// source address but no destination.
//
// By default every field comes from the outermost headers: the MACs and the
// VLAN (outer tag) of the frame, the EtherType after the tags (0x8847 for
// MPLS), the top label of the MPLS stack, the first IP header and what
// follows it. A tunnel ends the walk there: GRE is protocol 47, VXLAN a UDP
// flow to port 4789.
//
// With Config.Decapsulate the parser goes through tunnels: IP in IP (IPv4
// or IPv6 in either), GRE (carrying IPv4, IPv6, MPLS, Ethernet or ERSPAN
// II/III), VXLAN (UDP 4789), Geneve (UDP 6081) and MPLS over UDP (UDP 6635,
// RFC 7510). The innermost packet then gives the IP version, addresses,
// ToS, protocol, ports, TCP flags and ICMP type and code, and, when the
// tunnel carries Ethernet (VXLAN, Geneve, GRE with 0x6558, ERSPAN), the
// MACs, VLAN and EtherType too. The MPLS label stays the outermost stack's
// top label, and Bytes the length of the whole frame. An inner header cut
// short leaves unknown what it does not hold, even where the outer header
// had it.
//
// The walk is bounded: at most maxHeaderLayers layers (a tag, a label, an
// IP header, a tunnel header each count one), then it stops with what it
// has. It allocates nothing.

// headerLayer is a layer of a packet header: where one starts, or what the
// parser reads next.
type headerLayer uint8

const (
	layerNone      headerLayer = iota
	startEthernet              // an Ethernet frame
	startIPv4                  // an IPv4 header
	startIPv6                  // an IPv6 header
	startIP                    // IPv4 or IPv6, by the version nibble
	startMPLS                  // an MPLS label stack
	startTransport             // what follows the IP header: Flow.Proto says what
	layerEtherType             // after an EtherType (headerParser.etherType)
)

// maxHeaderLayers bounds the layers read in one header.
const maxHeaderLayers = 32

// maxIPv6Extensions bounds the IPv6 extension headers read after one IPv6
// header.
const maxIPv6Extensions = 8

// IP protocols and EtherTypes the parser knows.
const (
	protoICMP    = 1
	protoIPIP    = 4
	protoTCP     = 6
	protoUDP     = 17
	protoDCCP    = 33
	protoIPv6    = 41
	protoGRE     = 47
	protoICMPv6  = 58
	protoSCTP    = 132
	protoUDPLite = 136

	etherTypeIPv4      = 0x0800
	etherTypeIPv6      = 0x86dd
	etherTypeVLAN      = 0x8100
	etherTypeQinQ      = 0x88a8
	etherTypeQinQOld   = 0x9100
	etherTypeMPLS      = 0x8847
	etherTypeMPLSMulti = 0x8848
	etherTypePPPoE     = 0x8864
	etherTypeTEB       = 0x6558 // transparent Ethernet bridging (GRE, Geneve)
	etherTypeERSPAN2   = 0x88be
	etherTypeERSPAN3   = 0x22eb

	portVXLAN      = 4789
	portGeneve     = 6081
	portMPLSOverUD = 6635
)

// The Known bits the parser may set, by layer.
const (
	headerL2Fields = FieldSrcMAC | FieldDstMAC | FieldVLAN | FieldEthType
	headerL3Fields = FieldIPVersion | FieldSrcAddr | FieldDstAddr | FieldToS | FieldProto
	headerL4Fields = FieldSrcPort | FieldDstPort | FieldTCPFlags | FieldICMPType | FieldICMPCode
	headerFields   = headerL2Fields | headerL3Fields | headerL4Fields | FieldMPLSLabel
)

// hasPorts reports whether the protocol's header begins with a source and
// a destination port.
func hasPorts(proto uint8) bool {
	switch proto {
	case protoTCP, protoUDP, protoSCTP, protoDCCP, protoUDPLite:
		return true
	}
	return false
}

// headerParser is the state of one walk through a header.
type headerParser struct {
	f     *Flow
	decap bool
	et    uint16 // the EtherType layerEtherType reads after
	proto uint8  // the protocol startTransport reads
	// vlan and ethType: the current frame's outer tag and EtherType are in
	// f; mpls: the outermost label is.
	vlan, ethType, mpls bool
	// enter is set at a tunnel's inner packet: the outer fields make way
	// for the inner ones when the parser reads the inner packet's first
	// layer (not if the layer bound stops it before: then the outer
	// fields stand).
	enter tunnelEntry
}

// tunnelEntry says which fields a tunnel's inner packet replaces.
type tunnelEntry uint8

const (
	enterNone tunnelEntry = iota
	enterIP               // the IP and transport fields
	enterL2               // those, and the frame's
)

// parsePacketHeader reads the packet header b, which begins with layer
// start, into f: the fields it finds, with their Known bits. For
// startTransport, f.Proto says what b holds. decap goes through tunnels
// (see above).
func parsePacketHeader(f *Flow, b []byte, start headerLayer, decap bool) {
	p := headerParser{f: f, decap: decap, proto: f.Proto}
	next := start
	for n := 0; next != layerNone && n < maxHeaderLayers; n++ {
		if p.enter != enterNone {
			p.enterInner()
		}
		switch next {
		case startEthernet:
			next, b = p.ethernet(b)
		case layerEtherType:
			next, b = p.etherType(b)
		case startMPLS:
			next, b = p.mplsLabel(b)
		case startIP:
			next = layerNone
			if len(b) > 0 {
				switch b[0] >> 4 {
				case 4:
					next = startIPv4
				case 6:
					next = startIPv6
				}
			}
		case startIPv4:
			next, b = p.ipv4(b)
		case startIPv6:
			next, b = p.ipv6(b)
		case startTransport:
			next, b = p.transport(b)
		default:
			next = layerNone
		}
	}
}

func (p *headerParser) ethernet(b []byte) (headerLayer, []byte) {
	f := p.f
	if len(b) < 6 {
		return layerNone, nil
	}
	f.DstMAC = MAC(b[:6])
	f.Known |= FieldDstMAC
	if len(b) < 12 {
		return layerNone, nil
	}
	f.SrcMAC = MAC(b[6:12])
	f.Known |= FieldSrcMAC
	if len(b) < 14 {
		return layerNone, nil
	}
	p.et = binary.BigEndian.Uint16(b[12:])
	return layerEtherType, b[14:]
}

// etherType reads what follows the EtherType p.et: a VLAN tag (one layer
// per tag), or the protocol it names.
func (p *headerParser) etherType(b []byte) (headerLayer, []byte) {
	f := p.f
	switch et := p.et; {
	case et == etherTypeVLAN || et == etherTypeQinQ || et == etherTypeQinQOld:
		if len(b) < 2 {
			return layerNone, nil
		}
		if !p.vlan {
			f.VLAN = binary.BigEndian.Uint16(b) & 0x0fff
			f.Known |= FieldVLAN
			p.vlan = true
		}
		if len(b) < 4 {
			return layerNone, nil
		}
		p.et = binary.BigEndian.Uint16(b[2:])
		return layerEtherType, b[4:]
	case et <= 1500:
		// An 802.3 length: LLC, with a SNAP header of OUI 0 naming the
		// EtherType.
		if len(b) >= 8 && b[0] == 0xaa && b[1] == 0xaa && b[2] == 0x03 && b[3] == 0 && b[4] == 0 && b[5] == 0 {
			p.et = binary.BigEndian.Uint16(b[6:])
			return layerEtherType, b[8:]
		}
		return layerNone, nil
	}
	if !p.ethType {
		f.EthType = p.et
		f.Known |= FieldEthType
		p.ethType = true
	}
	switch p.et {
	case etherTypeIPv4:
		return startIPv4, b
	case etherTypeIPv6:
		return startIPv6, b
	case etherTypeMPLS, etherTypeMPLSMulti:
		return startMPLS, b
	case etherTypePPPoE:
		// Version/type, code, session ID, length, then the PPP protocol.
		if len(b) < 8 {
			return layerNone, nil
		}
		switch binary.BigEndian.Uint16(b[6:]) {
		case 0x0021:
			return startIPv4, b[8:]
		case 0x0057:
			return startIPv6, b[8:]
		}
	}
	return layerNone, nil
}

// mplsLabel reads one label stack entry: the outermost stack's top label
// fills MPLSLabel; after the bottom of the stack comes IPv4 or IPv6, told
// by the version nibble.
func (p *headerParser) mplsLabel(b []byte) (headerLayer, []byte) {
	if len(b) < 4 {
		return layerNone, nil
	}
	lse := binary.BigEndian.Uint32(b)
	if !p.mpls {
		p.f.MPLSLabel = lse >> 12
		p.f.Known |= FieldMPLSLabel
		p.mpls = true
	}
	if lse&0x100 == 0 {
		return startMPLS, b[4:]
	}
	return startIP, b[4:]
}

func (p *headerParser) ipv4(b []byte) (headerLayer, []byte) {
	f := p.f
	if len(b) < 1 || b[0]>>4 != 4 {
		return layerNone, nil
	}
	f.IPVersion = 4
	f.Known |= FieldIPVersion
	if len(b) < 2 {
		return layerNone, nil
	}
	f.ToS = b[1]
	f.Known |= FieldToS
	if len(b) < 10 {
		return layerNone, nil
	}
	f.Proto = b[9]
	f.Known |= FieldProto
	if len(b) < 16 {
		return layerNone, nil
	}
	f.SrcAddr = addr4(b[12:])
	f.Known |= FieldSrcAddr
	if len(b) < 20 {
		return layerNone, nil
	}
	f.DstAddr = addr4(b[16:])
	f.Known |= FieldDstAddr
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || len(b) < ihl || binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		// A bad header length, options cut short, or a fragment after the
		// first (no transport header).
		return layerNone, nil
	}
	p.proto = b[9]
	return startTransport, b[ihl:]
}

func (p *headerParser) ipv6(b []byte) (headerLayer, []byte) {
	f := p.f
	if len(b) < 1 || b[0]>>4 != 6 {
		return layerNone, nil
	}
	f.IPVersion = 6
	f.Known |= FieldIPVersion
	if len(b) < 2 {
		return layerNone, nil
	}
	f.ToS = b[0]<<4 | b[1]>>4
	f.Known |= FieldToS
	if len(b) < 7 {
		return layerNone, nil
	}
	nh := b[6]
	if len(b) < 24 {
		return layerNone, nil
	}
	f.SrcAddr = addr16(b[8:24])
	f.Known |= FieldSrcAddr
	if len(b) < 40 {
		return layerNone, nil
	}
	f.DstAddr = addr16(b[24:40])
	f.Known |= FieldDstAddr
	b = b[40:]
	// Proto is known once the extension headers end: a header cut short
	// among them leaves it unknown (the upper-layer protocol is the
	// flow's, not the first extension header).

	// The extension headers, up to the upper-layer protocol, which is the
	// flow's protocol.
	for range maxIPv6Extensions {
		var n int
		switch nh {
		case 0, 43, 60, 135, 139, 140: // hop-by-hop, routing, destination options, mobility, HIP, shim6
			if len(b) < 2 {
				return layerNone, nil
			}
			n = (int(b[1]) + 1) * 8
		case 51: // authentication header
			if len(b) < 2 {
				return layerNone, nil
			}
			n = (int(b[1]) + 2) * 4
		case 44: // fragment
			if len(b) < 8 {
				return layerNone, nil
			}
			if binary.BigEndian.Uint16(b[2:])>>3 != 0 {
				// Not the first fragment: the protocol, no transport
				// header.
				f.Proto = b[0]
				f.Known |= FieldProto
				return layerNone, nil
			}
			n = 8
		default:
			f.Proto = nh
			f.Known |= FieldProto
			p.proto = nh
			return startTransport, b
		}
		if len(b) < n {
			return layerNone, nil
		}
		nh = b[0]
		b = b[n:]
	}
	return layerNone, nil
}

// addr16 reads an IPv6 address at b[0:16].
func addr16(b []byte) netip.Addr { return netip.AddrFrom16([16]byte(b[:16])) }

// transport reads the header of protocol p.proto: ports, TCP flags, ICMP
// type and code; with decap, a tunnel's inner packet.
func (p *headerParser) transport(b []byte) (headerLayer, []byte) {
	f := p.f
	switch proto := p.proto; {
	case hasPorts(proto):
		if len(b) < 4 {
			return layerNone, nil
		}
		f.SrcPort = binary.BigEndian.Uint16(b)
		f.DstPort = binary.BigEndian.Uint16(b[2:])
		f.Known |= FieldSrcPort | FieldDstPort
		if proto == protoTCP && len(b) >= 14 {
			f.TCPFlags = b[13]
			f.Known |= FieldTCPFlags
		}
		if proto == protoUDP && p.decap && len(b) >= 8 {
			return p.udpTunnel(b[8:])
		}
	case proto == protoICMP || proto == protoICMPv6:
		if len(b) < 2 {
			return layerNone, nil
		}
		f.ICMPType, f.ICMPCode = b[0], b[1]
		f.Known |= FieldICMPType | FieldICMPCode
	case !p.decap:
	case proto == protoIPIP:
		p.enterTunnel(false)
		return startIPv4, b
	case proto == protoIPv6:
		p.enterTunnel(false)
		return startIPv6, b
	case proto == protoGRE:
		return p.gre(b)
	}
	return layerNone, nil
}

// udpTunnel reads the payload of a UDP datagram to a tunnel's port.
func (p *headerParser) udpTunnel(b []byte) (headerLayer, []byte) {
	switch p.f.DstPort {
	case portVXLAN:
		// Flags (I set for a valid VNI), reserved, VNI, reserved.
		if len(b) < 8 || b[0]&0x08 == 0 {
			return layerNone, nil
		}
		p.enterTunnel(true)
		return startEthernet, b[8:]
	case portGeneve:
		// Version and option length (4-byte words), flags, protocol type,
		// VNI, reserved, options.
		if len(b) < 8 || b[0]>>6 != 0 {
			return layerNone, nil
		}
		n := 8 + int(b[0]&0x3f)*4
		if len(b) < n {
			return layerNone, nil
		}
		return p.innerEtherType(binary.BigEndian.Uint16(b[2:]), b[n:])
	case portMPLSOverUD:
		p.enterTunnel(false)
		return startMPLS, b
	}
	return layerNone, nil
}

// gre reads a GRE header (RFC 2784 and 2890: version 0, optional checksum,
// key and sequence number) and the packet it carries.
func (p *headerParser) gre(b []byte) (headerLayer, []byte) {
	if len(b) < 4 {
		return layerNone, nil
	}
	flags := binary.BigEndian.Uint16(b)
	if flags&0x7 != 0 || flags&0x4000 != 0 {
		return layerNone, nil // version 1 (PPTP) or RFC 1701 routing
	}
	n := 4
	for _, bit := range [...]uint16{0x8000, 0x2000, 0x1000} { // checksum, key, sequence
		if flags&bit != 0 {
			n += 4
		}
	}
	if len(b) < n {
		return layerNone, nil
	}
	et, b := binary.BigEndian.Uint16(b[2:]), b[n:]
	switch et {
	case etherTypeERSPAN2:
		if len(b) < 8 {
			return layerNone, nil
		}
		p.enterTunnel(true)
		return startEthernet, b[8:]
	case etherTypeERSPAN3:
		// 12 bytes, and an 8-byte platform subheader if O is set.
		if len(b) < 12 {
			return layerNone, nil
		}
		n := 12
		if b[11]&1 != 0 {
			n += 8
		}
		if len(b) < n {
			return layerNone, nil
		}
		p.enterTunnel(true)
		return startEthernet, b[n:]
	}
	return p.innerEtherType(et, b)
}

// innerEtherType enters the packet a tunnel carries, named by an
// EtherType.
func (p *headerParser) innerEtherType(et uint16, b []byte) (headerLayer, []byte) {
	switch et {
	case etherTypeTEB:
		p.enterTunnel(true)
		return startEthernet, b
	case etherTypeIPv4:
		p.enterTunnel(false)
		return startIPv4, b
	case etherTypeIPv6:
		p.enterTunnel(false)
		return startIPv6, b
	case etherTypeMPLS, etherTypeMPLSMulti:
		p.enterTunnel(false)
		return startMPLS, b
	}
	return layerNone, nil
}

// enterTunnel marks the start of a tunnel's inner packet: the fields of
// the outer IP and transport headers, and with l2 those of the outer
// frame, make way for the inner ones.
func (p *headerParser) enterTunnel(l2 bool) {
	p.enter = enterIP
	if l2 {
		p.enter = enterL2
	}
}

// enterInner clears the fields the inner packet replaces.
func (p *headerParser) enterInner() {
	clearIPFields(p.f)
	if p.enter == enterL2 {
		f := p.f
		f.SrcMAC, f.DstMAC, f.VLAN, f.EthType = MAC{}, MAC{}, 0, 0
		f.Known &^= headerL2Fields
		p.vlan, p.ethType = false, false
	}
	p.enter = enterNone
}

// clearIPFields zeroes the fields of the IP and transport headers, and
// their Known bits.
func clearIPFields(f *Flow) {
	f.IPVersion, f.ToS, f.Proto = 0, 0, 0
	f.SrcAddr, f.DstAddr = netip.Addr{}, netip.Addr{}
	f.SrcPort, f.DstPort, f.TCPFlags, f.ICMPType, f.ICMPCode = 0, 0, 0, 0, 0
	f.Known &^= headerL3Fields | headerL4Fields
}
