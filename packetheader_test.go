package netflow

// The sampled packet header parser on hand-built packets: each case's
// expectations are the values put into its bytes.

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

var (
	phSrc   = netip.MustParseAddr("198.51.100.10")
	phDst   = netip.MustParseAddr("203.0.113.20")
	phSrc6  = netip.MustParseAddr("2001:db8:1::10")
	phDst6  = netip.MustParseAddr("2001:db8:2::20")
	phTunS  = netip.MustParseAddr("192.0.2.1")
	phTunD  = netip.MustParseAddr("192.0.2.2")
	phInner = [6]byte{0x02, 0xaa, 0, 0, 0, 1}
	phInDst = [6]byte{0x02, 0xaa, 0, 0, 0, 2}
)

// headerOf parses b from start and returns the flow.
func headerOf(b []byte, start headerLayer, decap bool) Flow {
	var f Flow
	parsePacketHeader(&f, b, start, decap)
	return f
}

// tcp4 is the IPv4 TCP packet most cases carry.
func tcp4() []byte {
	return testkit.IPv4(phSrc, phDst, protoTCP, 0xb8, testkit.TCP(40001, 443, 0x18, []byte("payload")))
}

// wantTCP4 checks the fields of tcp4.
func wantTCP4(t *testing.T, f Flow, what string) {
	t.Helper()
	require.Equal(t, uint8(4), f.IPVersion, what)
	require.Equal(t, phSrc, f.SrcAddr, what)
	require.Equal(t, phDst, f.DstAddr, what)
	require.Equal(t, uint8(protoTCP), f.Proto, what)
	require.Equal(t, uint8(0xb8), f.ToS, what)
	require.Equal(t, [2]uint16{40001, 443}, [2]uint16{f.SrcPort, f.DstPort}, what)
	require.Equal(t, uint8(0x18), f.TCPFlags, what)
	require.True(t, f.Known.Has(headerL3Fields|FieldSrcPort|FieldDstPort|FieldTCPFlags), what)
	require.False(t, f.Known.Has(FieldICMPType), what)
}

func TestPacketHeaderLayer2(t *testing.T) {
	// QinQ: 802.1ad outer tag 300, 802.1Q inner tag 7.
	b := append(append(testkit.MACB[:], testkit.MACA[:]...), 0x88, 0xa8, 0x21, 0x2c, 0x81, 0x00, 0x00, 0x07, 0x08, 0x00)
	f := headerOf(append(b, tcp4()...), startEthernet, false)
	require.Equal(t, MAC(testkit.MACB), f.DstMAC)
	require.Equal(t, MAC(testkit.MACA), f.SrcMAC)
	require.Equal(t, uint16(300), f.VLAN, "the outer tag")
	require.Equal(t, uint16(0x0800), f.EthType, "the EtherType after the tags")
	wantTCP4(t, f, "QinQ")

	// MPLS: two labels over IPv4; the EtherType is MPLS's.
	mpls := []byte{0x00, 0x3e, 0x80, 0x40, 0x00, 0x01, 0x01, 0x40} // 1000 (TC 0, TTL 64), 16 (bottom)
	f = headerOf(testkit.Ethernet(testkit.MACB, testkit.MACA, []uint16{5}, etherTypeMPLS, append(mpls, tcp4()...)), startEthernet, false)
	require.Equal(t, uint16(0x8847), f.EthType)
	require.Equal(t, uint32(1000), f.MPLSLabel)
	require.Equal(t, uint16(5), f.VLAN)
	wantTCP4(t, f, "MPLS")
	// The same stack from sFlow's header protocol 13 (MPLS).
	f = headerOf(append(mpls, tcp4()...), startMPLS, false)
	require.Equal(t, uint32(1000), f.MPLSLabel)
	require.False(t, f.Known.Has(FieldEthType))
	wantTCP4(t, f, "MPLS start")

	// PPPoE session carrying IPv6 ICMPv6 echo.
	ip6 := testkit.IPv6(phSrc6, phDst6, protoICMPv6, 0, testkit.ICMP(128, 0))
	pppoe := append([]byte{0x11, 0x00, 0x12, 0x34, 0x00, byte(2 + len(ip6)), 0x00, 0x57}, ip6...)
	f = headerOf(testkit.Ethernet(testkit.MACB, testkit.MACA, nil, etherTypePPPoE, pppoe), startEthernet, false)
	require.Equal(t, uint16(0x8864), f.EthType)
	require.Equal(t, uint8(6), f.IPVersion)
	require.Equal(t, phSrc6, f.SrcAddr)
	require.Equal(t, [2]uint8{128, 0}, [2]uint8{f.ICMPType, f.ICMPCode})
	require.True(t, f.Known.Has(FieldICMPType|FieldICMPCode))
	require.False(t, f.Known.Has(FieldSrcPort), "ICMP has no ports")

	// 802.3 with LLC/SNAP naming IPv4.
	snap := append([]byte{0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00}, tcp4()...)
	f = headerOf(testkit.Ethernet(testkit.MACB, testkit.MACA, nil, uint16(len(snap)), snap), startEthernet, false)
	require.Equal(t, uint16(0x0800), f.EthType)
	wantTCP4(t, f, "SNAP")

	// An 802.3 frame without SNAP (spanning tree): MACs only.
	f = headerOf(testkit.Ethernet(testkit.MACB, testkit.MACA, nil, 38, []byte{0x42, 0x42, 0x03, 0, 0}), startEthernet, false)
	require.Equal(t, FieldSrcMAC|FieldDstMAC, f.Known)
}

func TestPacketHeaderIPv4(t *testing.T) {
	// Options (IHL 6): the transport header comes after them.
	p := tcp4()
	withOpts := append([]byte{0x46}, p[1:20]...)
	withOpts = append(withOpts, 1, 1, 1, 0) // NOP NOP NOP EOL
	withOpts = append(withOpts, p[20:]...)
	wantTCP4(t, headerOf(withOpts, startIPv4, false), "options")
	wantTCP4(t, headerOf(withOpts, startIP, false), "by version nibble")

	// A first fragment (MF, offset 0) has its ports; a later one has none.
	first := append([]byte(nil), p...)
	first[6] = 0x20
	wantTCP4(t, headerOf(first, startIPv4, false), "first fragment")
	later := append([]byte(nil), p...)
	later[6], later[7] = 0x00, 0xb9 // offset 185*8
	f := headerOf(later, startIPv4, false)
	require.Equal(t, headerL3Fields, f.Known)
	require.Equal(t, uint8(protoTCP), f.Proto)

	// An IHL below 5 is no header to find ports after.
	bad := append([]byte{0x44}, p[1:]...)
	require.Equal(t, headerL3Fields, headerOf(bad, startIPv4, false).Known)
	// Not version 4.
	require.Zero(t, headerOf(append([]byte{0x65}, p[1:]...), startIPv4, false).Known)

	// UDP, SCTP: ports; ICMP: type and code.
	f = headerOf(testkit.IPv4(phSrc, phDst, protoUDP, 0, testkit.UDP(53, 5353, nil)), startIPv4, false)
	require.Equal(t, [2]uint16{53, 5353}, [2]uint16{f.SrcPort, f.DstPort})
	require.False(t, f.Known.Has(FieldTCPFlags))
	f = headerOf(testkit.IPv4(phSrc, phDst, protoSCTP, 0, []byte{0x0b, 0xb8, 0x0b, 0xb9, 0, 0, 0, 0}), startIPv4, false)
	require.Equal(t, [2]uint16{3000, 3001}, [2]uint16{f.SrcPort, f.DstPort})
	f = headerOf(testkit.IPv4(phSrc, phDst, protoICMP, 0, testkit.ICMP(3, 13)), startIPv4, false)
	require.Equal(t, [2]uint8{3, 13}, [2]uint8{f.ICMPType, f.ICMPCode})
	require.Zero(t, f.SrcPort)
}

// ipv6Ext returns an extension header of 8*(1+n) bytes.
func ipv6Ext(next uint8, n int) []byte {
	b := make([]byte, 8*(1+n))
	b[0], b[1] = next, byte(n)
	return b
}

func TestPacketHeaderIPv6(t *testing.T) {
	tcp := testkit.TCP(50000, 22, 0x02, nil)
	// Hop-by-hop, routing, destination options, then TCP.
	ext := append(append(append(ipv6Ext(43, 0), ipv6Ext(60, 1)...), ipv6Ext(protoTCP, 0)...), tcp...)
	ext[8+2] = 0 // routing type
	f := headerOf(testkit.IPv6(phSrc6, phDst6, 0, 0x2e, ext), startIPv6, false)
	require.Equal(t, uint8(6), f.IPVersion)
	require.Equal(t, uint8(0x2e), f.ToS)
	require.Equal(t, [2]netip.Addr{phSrc6, phDst6}, [2]netip.Addr{f.SrcAddr, f.DstAddr})
	require.Equal(t, uint8(protoTCP), f.Proto, "the upper-layer protocol")
	require.Equal(t, [2]uint16{50000, 22}, [2]uint16{f.SrcPort, f.DstPort})
	require.Equal(t, uint8(0x02), f.TCPFlags)

	// Authentication header: (len+2)*4 bytes.
	ah := make([]byte, 16)
	ah[0], ah[1] = protoUDP, 2
	f = headerOf(testkit.IPv6(phSrc6, phDst6, 51, 0, append(ah, testkit.UDP(500, 4500, nil)...)), startIPv6, false)
	require.Equal(t, [3]uint16{protoUDP, 500, 4500}, [3]uint16{uint16(f.Proto), f.SrcPort, f.DstPort})

	// Fragments: the first has ports, a later one none.
	frag := func(offset uint16) []byte {
		h := []byte{protoUDP, 0, byte(offset >> 5), byte(offset<<3) | 1, 0, 0, 0, 9}
		return testkit.IPv6(phSrc6, phDst6, 44, 0, append(h, testkit.UDP(1000, 2000, nil)...))
	}
	f = headerOf(frag(0), startIPv6, false)
	require.Equal(t, [3]uint16{protoUDP, 1000, 2000}, [3]uint16{uint16(f.Proto), f.SrcPort, f.DstPort})
	f = headerOf(frag(100), startIPv6, false)
	require.Equal(t, uint8(protoUDP), f.Proto)
	require.False(t, f.Known.Has(FieldSrcPort))

	// ESP and no-next-header: the protocol, nothing after.
	f = headerOf(testkit.IPv6(phSrc6, phDst6, 50, 0, make([]byte, 16)), startIP, false)
	require.Equal(t, uint8(50), f.Proto)
	require.Equal(t, headerL3Fields, f.Known)

	// More extension headers than the parser reads: no transport.
	var chain []byte
	for range maxIPv6Extensions + 1 {
		chain = append(chain, ipv6Ext(60, 0)...)
	}
	f = headerOf(testkit.IPv6(phSrc6, phDst6, 60, 0, append(chain, tcp...)), startIPv6, false)
	require.False(t, f.Known.Has(FieldSrcPort))
}

// TestPacketHeaderTruncated: a header cut at any length fills what it
// holds, with the values of the whole header, and never more.
func TestPacketHeaderTruncated(t *testing.T) {
	mpls := []byte{0x00, 0x3e, 0x81, 0x40}
	frames := map[string][]byte{
		"vlan+mpls+ipv4+tcp": testkit.Ethernet(testkit.MACB, testkit.MACA, []uint16{9}, etherTypeMPLS, append(mpls, tcp4()...)),
		"ipv6+hbh+udp": testkit.Ethernet(testkit.MACB, testkit.MACA, nil, etherTypeIPv6,
			testkit.IPv6(phSrc6, phDst6, 0, 0x10, append(ipv6Ext(protoUDP, 0), testkit.UDP(1, 2, nil)...))),
		"ipv4+icmp": testkit.Ethernet(testkit.MACB, testkit.MACA, nil, etherTypeIPv4, testkit.IPv4(phSrc, phDst, protoICMP, 0, testkit.ICMP(8, 0))),
	}
	for name, frame := range frames {
		full := headerOf(frame, startEthernet, false)
		prev := FlowFields(0)
		for n := 0; n <= len(frame); n++ {
			f := headerOf(frame[:n], startEthernet, false)
			require.Equal(t, f.Known, f.Known&full.Known, "%s cut at %d: more than the whole", name, n)
			require.Equal(t, prev, prev&f.Known, "%s cut at %d: less than a shorter cut", name, n)
			prev = f.Known
			g := full
			g.Known = f.Known
			zeroUnknownHeaderFields(&g)
			require.Equal(t, g, f, "%s cut at %d", name, n)
		}
		require.Equal(t, full.Known, prev)
	}
}

// zeroUnknownHeaderFields zeroes the header fields f does not know.
func zeroUnknownHeaderFields(f *Flow) {
	k := f.Known
	z := func(bit FlowFields, clear func()) {
		if k&bit == 0 {
			clear()
		}
	}
	z(FieldSrcMAC, func() { f.SrcMAC = MAC{} })
	z(FieldDstMAC, func() { f.DstMAC = MAC{} })
	z(FieldVLAN, func() { f.VLAN = 0 })
	z(FieldEthType, func() { f.EthType = 0 })
	z(FieldMPLSLabel, func() { f.MPLSLabel = 0 })
	z(FieldIPVersion, func() { f.IPVersion = 0 })
	z(FieldSrcAddr, func() { f.SrcAddr = netip.Addr{} })
	z(FieldDstAddr, func() { f.DstAddr = netip.Addr{} })
	z(FieldToS, func() { f.ToS = 0 })
	z(FieldProto, func() { f.Proto = 0 })
	z(FieldSrcPort, func() { f.SrcPort = 0 })
	z(FieldDstPort, func() { f.DstPort = 0 })
	z(FieldTCPFlags, func() { f.TCPFlags = 0 })
	z(FieldICMPType, func() { f.ICMPType = 0 })
	z(FieldICMPCode, func() { f.ICMPCode = 0 })
}

// tunnelCase is a tunnelled frame and what its outer and inner headers
// hold.
type tunnelCase struct {
	name       string
	frame      []byte
	outerProto uint8
	outerPorts [2]uint16 // 0, 0 for none
	innerL2    bool      // the tunnel carries Ethernet
}

func tunnelCases() []tunnelCase {
	outer := func(proto uint8, payload []byte) []byte {
		return testkit.Ethernet(testkit.MACB, testkit.MACA, []uint16{10}, etherTypeIPv4, testkit.IPv4(phTunS, phTunD, proto, 0, payload))
	}
	innerEth := func(vlans []uint16) []byte {
		return testkit.Ethernet(phInDst, phInner, vlans, etherTypeIPv4, tcp4())
	}
	gre := func(flags uint16, proto uint16, extra int, payload []byte) []byte {
		b := []byte{byte(flags >> 8), byte(flags), byte(proto >> 8), byte(proto)}
		return append(append(b, make([]byte, extra)...), payload...)
	}
	vxlan := append([]byte{0x08, 0, 0, 0, 0, 0, 0x64, 0}, innerEth([]uint16{20})...)
	geneve := append([]byte{0x02, 0, 0x65, 0x58, 0, 0, 0x64, 0, 1, 2, 3, 4, 5, 6, 7, 8}, innerEth(nil)...)
	mplsUDP := append([]byte{0x00, 0x07, 0xd1, 0x40}, tcp4()...) // label 125, bottom
	erspan := append(make([]byte, 8), innerEth(nil)...)
	return []tunnelCase{
		{"ipip", outer(protoIPIP, tcp4()), protoIPIP, [2]uint16{}, false},
		{"6in4", outer(protoIPv6, testkit.IPv6(phSrc6, phDst6, protoTCP, 0, testkit.TCP(40001, 443, 0x18, nil))), protoIPv6, [2]uint16{}, false},
		{"gre-ipv4-key-seq", outer(protoGRE, gre(0x3000, etherTypeIPv4, 8, tcp4())), protoGRE, [2]uint16{}, false},
		{"gre-teb", outer(protoGRE, gre(0, etherTypeTEB, 0, innerEth(nil))), protoGRE, [2]uint16{}, true},
		{"gre-erspan2", outer(protoGRE, gre(0x1000, etherTypeERSPAN2, 4, erspan)), protoGRE, [2]uint16{}, true},
		{"vxlan", outer(protoUDP, testkit.UDP(49152, portVXLAN, vxlan)), protoUDP, [2]uint16{49152, portVXLAN}, true},
		{"geneve-options", outer(protoUDP, testkit.UDP(49153, portGeneve, geneve)), protoUDP, [2]uint16{49153, portGeneve}, true},
		{"mpls-over-udp", outer(protoUDP, testkit.UDP(49154, portMPLSOverUD, mplsUDP)), protoUDP, [2]uint16{49154, portMPLSOverUD}, false},
	}
}

// TestPacketHeaderTunnels: by default the outer headers; with decap the
// inner packet's, and its frame's when the tunnel carries Ethernet.
func TestPacketHeaderTunnels(t *testing.T) {
	for _, c := range tunnelCases() {
		t.Run(c.name, func(t *testing.T) {
			f := headerOf(c.frame, startEthernet, false)
			require.Equal(t, phTunS, f.SrcAddr)
			require.Equal(t, phTunD, f.DstAddr)
			require.Equal(t, c.outerProto, f.Proto)
			require.Equal(t, c.outerPorts, [2]uint16{f.SrcPort, f.DstPort})
			require.Equal(t, c.outerPorts != [2]uint16{}, f.Known.Has(FieldSrcPort))
			require.Equal(t, uint16(10), f.VLAN)
			require.Equal(t, MAC(testkit.MACA), f.SrcMAC)

			d := headerOf(c.frame, startEthernet, true)
			if c.name == "6in4" {
				require.Equal(t, [2]netip.Addr{phSrc6, phDst6}, [2]netip.Addr{d.SrcAddr, d.DstAddr})
				require.Equal(t, uint8(6), d.IPVersion)
				require.Equal(t, [2]uint16{40001, 443}, [2]uint16{d.SrcPort, d.DstPort})
			} else {
				wantTCP4(t, d, c.name)
			}
			if c.innerL2 {
				require.Equal(t, MAC(phInner), d.SrcMAC)
				require.Equal(t, MAC(phInDst), d.DstMAC)
				if c.name == "vxlan" {
					require.Equal(t, uint16(20), d.VLAN, "the inner frame's tag")
				} else {
					require.False(t, d.Known.Has(FieldVLAN), "the inner frame has no tag")
				}
			} else {
				require.Equal(t, MAC(testkit.MACA), d.SrcMAC)
				require.Equal(t, uint16(10), d.VLAN)
			}
			if c.name == "mpls-over-udp" {
				require.Equal(t, uint32(125), d.MPLSLabel, "the first label stack met")
			}
		})
	}
}

// TestPacketHeaderDeepEncapsulation: 64 levels of IP in IP end at the
// layer bound, without a panic, with the outer header by default and the
// deepest header reached with decap.
func TestPacketHeaderDeepEncapsulation(t *testing.T) {
	pkt := tcp4()
	for i := range 64 {
		pkt = testkit.IPv4(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), phTunD, protoIPIP, 0, pkt)
	}
	frame := testkit.Ethernet(testkit.MACB, testkit.MACA, nil, etherTypeIPv4, pkt)
	withWatchdog(t, fuzzTimeout, func() {
		f := headerOf(frame, startEthernet, false)
		require.Equal(t, netip.AddrFrom4([4]byte{10, 0, 63, 1}), f.SrcAddr)
		require.Equal(t, uint8(protoIPIP), f.Proto)
		d := headerOf(frame, startEthernet, true)
		require.Equal(t, uint8(protoIPIP), d.Proto, "still a tunnel at the bound")
		require.False(t, d.Known.Has(FieldSrcPort))
		// Ethernet and its EtherType are two layers, then each IP
		// header and what follows it two more: the deepest IP header
		// read is the 15th from the outside (addresses 10.0.63.1 down).
		read := (maxHeaderLayers - 2) / 2
		require.Equal(t, netip.AddrFrom4([4]byte{10, 0, byte(64 - read), 1}), d.SrcAddr)
	})
}

func TestPacketHeaderZeroAllocs(t *testing.T) {
	cases := tunnelCases()
	var f Flow
	n := testing.AllocsPerRun(100, func() {
		for _, c := range cases {
			parsePacketHeader(&f, c.frame, startEthernet, true)
			parsePacketHeader(&f, c.frame, startEthernet, false)
		}
	})
	require.Zero(t, n)
}

// TestSFlowHeaderProtocols: sFlow's header protocols 11 (IPv4), 12 (IPv6)
// and 13 (MPLS) start the parser there; others (802.11, say) leave the
// header unread.
func TestSFlowHeaderProtocols(t *testing.T) {
	ip6 := testkit.IPv6(phSrc6, phDst6, protoUDP, 0, testkit.UDP(7, 8, nil))
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1,
		testkit.SFlowFlowSample(sfHead(1), testkit.SFlowRawHeader(11, 100, 0, tcp4())),
		testkit.SFlowFlowSample(sfHead(2), testkit.SFlowRawHeader(12, 100, 0, ip6)),
		testkit.SFlowFlowSample(sfHead(3), testkit.SFlowRawHeader(13, 100, 0, append([]byte{0, 0x3e, 0x81, 0x40}, tcp4()...))),
		testkit.SFlowFlowSample(sfHead(4), testkit.SFlowRawHeader(15, 100, 0, tcp4())))
	_, flows := sfDecode(t, Config{}, data)
	wantTCP4(t, flows[0], "IPv4 header protocol")
	require.Equal(t, phSrc6, flows[1].SrcAddr)
	require.Equal(t, uint32(1000), flows[2].MPLSLabel)
	wantTCP4(t, flows[2], "MPLS header protocol")
	require.False(t, flows[3].Known.Has(FieldSrcAddr))
	require.Equal(t, uint64(100), flows[3].Bytes)
}
