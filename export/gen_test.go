package export_test

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
)

// Random flows for the round-trip tests, and what a decoder must give back
// for each: the flow as the version and the writer's settings carry it.

// testExport is the export time of every message of the tests' writers.
var testExport = time.Date(2024, 5, 1, 12, 0, 0, 123_456_789, time.UTC)

// testExporter is the address the tests' messages come from.
var testExporter = netip.MustParseAddrPort("192.0.2.7:4739")

// fixedNow is a clock that does not move.
func fixedNow() time.Time { return testExport }

// v5Known is what every v5 record carries.
const v5Known = netflow.FieldDomain | netflow.FieldSequence | netflow.FieldSrcAddr | netflow.FieldDstAddr |
	netflow.FieldNextHop | netflow.FieldSrcPort | netflow.FieldDstPort | netflow.FieldProto | netflow.FieldToS |
	netflow.FieldTCPFlags | netflow.FieldSrcMask | netflow.FieldDstMask | netflow.FieldPackets | netflow.FieldBytes |
	netflow.FieldStart | netflow.FieldEnd | netflow.FieldInIf | netflow.FieldOutIf | netflow.FieldSrcAS | netflow.FieldDstAS

// v1Known is what every v1 record carries.
const v1Known = netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldNextHop | netflow.FieldSrcPort |
	netflow.FieldDstPort | netflow.FieldProto | netflow.FieldToS | netflow.FieldTCPFlags | netflow.FieldPackets |
	netflow.FieldBytes | netflow.FieldStart | netflow.FieldEnd | netflow.FieldInIf | netflow.FieldOutIf

// allFields are the Flow fields a v9 or IPFIX template can carry.
var allFields = []netflow.FlowFields{
	netflow.FieldSrcAddr, netflow.FieldDstAddr, netflow.FieldNextHop, netflow.FieldSrcPort, netflow.FieldDstPort,
	netflow.FieldProto, netflow.FieldToS, netflow.FieldTCPFlags, netflow.FieldSrcMask, netflow.FieldDstMask,
	netflow.FieldPackets, netflow.FieldBytes, netflow.FieldStart, netflow.FieldEnd, netflow.FieldInIf,
	netflow.FieldOutIf, netflow.FieldSrcAS, netflow.FieldDstAS, netflow.FieldSamplingInterval,
	netflow.FieldSrcMAC, netflow.FieldDstMAC, netflow.FieldVLAN, netflow.FieldPostVLAN, netflow.FieldDirection,
	netflow.FieldEndReason, netflow.FieldBGPNextHop, netflow.FieldICMPType, netflow.FieldICMPCode,
	netflow.FieldIPVersion, netflow.FieldInVRF, netflow.FieldOutVRF, netflow.FieldMPLSLabel, netflow.FieldEthType,
	netflow.FieldPostNATSrcAddr, netflow.FieldPostNATDstAddr, netflow.FieldPostNATSrcPort, netflow.FieldPostNATDstPort,
}

// genOptions says what flows a generator makes.
type genOptions struct {
	version  uint16
	ipv6     bool // some flows IPv6 (v9, IPFIX)
	partial  bool // random subsets of Known (v9, IPFIX)
	domains  int  // flows spread over this many domains (0: Known without FieldDomain)
	sampling bool // some flows with a sampling interval
}

// randomFlow returns a flow whose every field the version can carry,
// with times within the hour before testExport.
func randomFlow(r *rand.Rand, o genOptions) netflow.Flow {
	fixed := o.version < 9
	v6 := !fixed && o.ipv6 && r.IntN(3) == 0
	addr := func() netip.Addr {
		if v6 || (!fixed && o.ipv6 && r.IntN(8) == 0) {
			var b [16]byte
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			b[0] = 0x20
			return netip.AddrFrom16(b)
		}
		return netip.AddrFrom4([4]byte{byte(r.IntN(223) + 1), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())})
	}
	u := func(bits int) uint64 {
		if bits == 64 {
			return r.Uint64()
		}
		return r.Uint64() & (1<<bits - 1)
	}
	start := testExport.Add(-time.Duration(r.Int64N(int64(time.Hour))))
	end := start.Add(time.Duration(r.Int64N(int64(testExport.Sub(start)))))
	f := netflow.Flow{
		SrcAddr: addr(), DstAddr: addr(), NextHop: addr(),
		SrcPort: uint16(u(16)), DstPort: uint16(u(16)),
		Proto: []uint8{6, 17, 1, 58, 47, uint8(u(8))}[r.IntN(6)], ToS: uint8(u(8)), TCPFlags: uint8(u(8)),
		SrcMask: uint8(r.IntN(33)), DstMask: uint8(r.IntN(33)),
		Start: start, End: end,
	}
	if r.IntN(2) == 0 {
		f.SrcPort = 0 // ICMP flows in the Cisco convention
	}
	if fixed {
		f.Packets, f.Bytes = u(32), u(32)
		f.InIf, f.OutIf = uint32(u(16)), uint32(u(16))
		f.SrcAS, f.DstAS = uint32(u(16)), uint32(u(16))
		f.Known = v5Known &^ (netflow.FieldDomain | netflow.FieldSequence)
		if o.domains > 0 {
			f.Domain = uint32(r.IntN(o.domains))
			f.Known |= netflow.FieldDomain
		}
		if o.sampling && r.IntN(2) == 0 {
			f.SamplingInterval = uint32(1 + r.IntN(0x3fff))
			f.Known |= netflow.FieldSamplingInterval
		}
		return f
	}
	f.Packets, f.Bytes = u(64), u(64)
	f.InIf, f.OutIf, f.SrcAS, f.DstAS = uint32(u(32)), uint32(u(32)), uint32(u(32)), uint32(u(32))
	f.SrcMAC = netflow.MAC{byte(u(8)), 1, 2, 3, 4, byte(u(8))}
	f.DstMAC = netflow.MAC{byte(u(8)), 5, 6, 7, 8, byte(u(8))}
	f.VLAN, f.PostVLAN, f.EthType = uint16(u(12)), uint16(u(12)), []uint16{0x800, 0x86dd}[r.IntN(2)]
	f.Direction, f.EndReason, f.IPVersion = uint8(r.IntN(2)), uint8(1+r.IntN(5)), []uint8{4, 6}[r.IntN(2)]
	f.ICMPType, f.ICMPCode = uint8(u(8)), uint8(u(8))
	f.MPLSLabel = uint32(u(20))
	f.InVRF, f.OutVRF = uint32(u(32)), uint32(u(32))
	f.BGPNextHop, f.PostNATSrcAddr, f.PostNATDstAddr = addr(), addr(), addr()
	f.PostNATSrcPort, f.PostNATDstPort = uint16(u(16)), uint16(u(16))
	if o.sampling && r.IntN(2) == 0 {
		f.SamplingInterval = uint32(1 + r.IntN(1000)) // fewer than the 4096 samplers a writer keeps
	}
	for _, k := range allFields {
		if !o.partial || r.IntN(4) != 0 {
			f.Known |= k
		}
	}
	if f.SamplingInterval == 0 {
		f.Known &^= netflow.FieldSamplingInterval
	}
	if o.domains > 0 {
		f.Domain = uint32(r.IntN(o.domains)) * 1000
		f.Known |= netflow.FieldDomain
	}
	zeroUnknown(&f)
	return f
}

// zeroUnknown zeroes the fields f does not know.
func zeroUnknown(f *netflow.Flow) {
	k := f.Known
	clearIf := func(bit netflow.FlowFields, clear func()) {
		if k&bit == 0 {
			clear()
		}
	}
	clearIf(netflow.FieldSrcAddr, func() { f.SrcAddr = netip.Addr{} })
	clearIf(netflow.FieldDstAddr, func() { f.DstAddr = netip.Addr{} })
	clearIf(netflow.FieldNextHop, func() { f.NextHop = netip.Addr{} })
	clearIf(netflow.FieldSrcPort, func() { f.SrcPort = 0 })
	clearIf(netflow.FieldDstPort, func() { f.DstPort = 0 })
	clearIf(netflow.FieldProto, func() { f.Proto = 0 })
	clearIf(netflow.FieldToS, func() { f.ToS = 0 })
	clearIf(netflow.FieldTCPFlags, func() { f.TCPFlags = 0 })
	clearIf(netflow.FieldSrcMask, func() { f.SrcMask = 0 })
	clearIf(netflow.FieldDstMask, func() { f.DstMask = 0 })
	clearIf(netflow.FieldPackets, func() { f.Packets = 0 })
	clearIf(netflow.FieldBytes, func() { f.Bytes = 0 })
	clearIf(netflow.FieldStart, func() { f.Start = time.Time{} })
	clearIf(netflow.FieldEnd, func() { f.End = time.Time{} })
	clearIf(netflow.FieldInIf, func() { f.InIf = 0 })
	clearIf(netflow.FieldOutIf, func() { f.OutIf = 0 })
	clearIf(netflow.FieldSrcAS, func() { f.SrcAS = 0 })
	clearIf(netflow.FieldDstAS, func() { f.DstAS = 0 })
	clearIf(netflow.FieldSamplingInterval, func() { f.SamplingInterval = 0 })
	clearIf(netflow.FieldSrcMAC, func() { f.SrcMAC = netflow.MAC{} })
	clearIf(netflow.FieldDstMAC, func() { f.DstMAC = netflow.MAC{} })
	clearIf(netflow.FieldVLAN, func() { f.VLAN = 0 })
	clearIf(netflow.FieldPostVLAN, func() { f.PostVLAN = 0 })
	clearIf(netflow.FieldEthType, func() { f.EthType = 0 })
	clearIf(netflow.FieldDirection, func() { f.Direction = 0 })
	clearIf(netflow.FieldEndReason, func() { f.EndReason = 0 })
	clearIf(netflow.FieldIPVersion, func() { f.IPVersion = 0 })
	clearIf(netflow.FieldICMPType, func() { f.ICMPType = 0 })
	clearIf(netflow.FieldICMPCode, func() { f.ICMPCode = 0 })
	clearIf(netflow.FieldMPLSLabel, func() { f.MPLSLabel = 0 })
	clearIf(netflow.FieldInVRF, func() { f.InVRF = 0 })
	clearIf(netflow.FieldOutVRF, func() { f.OutVRF = 0 })
	clearIf(netflow.FieldBGPNextHop, func() { f.BGPNextHop = netip.Addr{} })
	clearIf(netflow.FieldPostNATSrcAddr, func() { f.PostNATSrcAddr = netip.Addr{} })
	clearIf(netflow.FieldPostNATDstAddr, func() { f.PostNATDstAddr = netip.Addr{} })
	clearIf(netflow.FieldPostNATSrcPort, func() { f.PostNATSrcPort = 0 })
	clearIf(netflow.FieldPostNATDstPort, func() { f.PostNATDstPort = 0 })
}

// resolution returns the resolution of a writer's times.
func resolution(version uint16, tf export.TimeFormat) time.Duration {
	switch {
	case version < 9, tf == export.TimeUptime, tf == export.TimeMillis, tf == export.TimeDefault:
		return time.Millisecond
	case tf == export.TimeSeconds:
		return time.Second
	case tf == export.TimeMicros, tf == export.TimeDeltaMicros:
		return time.Microsecond
	}
	return time.Nanosecond
}

// want returns what decoding a message with f from a writer of cfg gives,
// but for Sequence, which the caller checks on its own: the flow as its
// version carries it (RFC 3954, RFC 7011, Cisco's v5 layout), and as the
// decoder documents its rules (ICMP type and code, flowfields.go).
func want(f netflow.Flow, cfg export.Config) netflow.Flow {
	g := f
	g.Exporter, g.Version, g.Sequence = testExporter, cfg.Version, 0
	if g.Known&netflow.FieldDomain == 0 {
		g.Domain = cfg.Domain
	}
	res := resolution(cfg.Version, cfg.TimeFormat)
	g.Start, g.End = g.Start.Truncate(res), g.End.Truncate(res)
	if g.SamplingInterval == 0 {
		// An interval of 0 is no sampling: not sent.
		g.Known &^= netflow.FieldSamplingInterval
	}
	if cfg.Version < 9 {
		export := testExport.Truncate(time.Millisecond)
		if g.Known&netflow.FieldStart == 0 {
			g.Start = export
		}
		if g.Known&netflow.FieldEnd == 0 {
			g.End = export
		}
		for _, a := range []*netip.Addr{&g.SrcAddr, &g.DstAddr, &g.NextHop} {
			if !a.IsValid() {
				*a = netip.IPv4Unspecified()
			}
		}
		if (g.Proto == 1 || g.Proto == 58) && g.Known&(netflow.FieldICMPType|netflow.FieldICMPCode) != 0 && g.SrcPort == 0 && g.DstPort == 0 {
			g.DstPort = uint16(g.ICMPType)<<8 | uint16(g.ICMPCode)
		}
		sampling := g.Known & netflow.FieldSamplingInterval
		g.Known = v5Known | sampling
		// Fields beyond the fixed formats are not carried.
		keep := g
		g = netflow.Flow{
			Exporter: keep.Exporter, Version: keep.Version, Domain: keep.Domain,
			SrcAddr: keep.SrcAddr, DstAddr: keep.DstAddr, NextHop: keep.NextHop, SrcPort: keep.SrcPort, DstPort: keep.DstPort,
			Proto: keep.Proto, ToS: keep.ToS, TCPFlags: keep.TCPFlags, SrcMask: keep.SrcMask, DstMask: keep.DstMask,
			Packets: keep.Packets, Bytes: keep.Bytes, Start: keep.Start, End: keep.End, InIf: keep.InIf, OutIf: keep.OutIf,
			SrcAS: keep.SrcAS, DstAS: keep.DstAS, SamplingInterval: keep.SamplingInterval, Known: keep.Known,
		}
		switch cfg.Version {
		case 1:
			g.Known, g.Domain = v1Known, 0
			g.SrcAS, g.DstAS, g.SrcMask, g.DstMask, g.SamplingInterval = 0, 0, 0, 0, 0
		case 7:
			g.Known &^= netflow.FieldDomain | netflow.FieldSamplingInterval
			g.Domain, g.SamplingInterval = 0, 0
		}
		icmpFromPorts(&g)
		return g
	}
	g.Known |= netflow.FieldDomain | netflow.FieldSequence
	const icmp = netflow.FieldICMPType | netflow.FieldICMPCode
	if g.Known&icmp != 0 {
		// ICMP elements stand for ICMP flows only.
		if g.Known&netflow.FieldProto != 0 && g.Proto != 1 && g.Proto != 58 {
			g.ICMPType, g.ICMPCode = 0, 0
			g.Known &^= icmp
		}
	} else {
		icmpFromPorts(&g)
	}
	return g
}

// icmpFromPorts is the decoder's rule for an ICMP flow without ICMP
// elements: its type and code are in the destination port when the source
// port is 0.
func icmpFromPorts(g *netflow.Flow) {
	const ports = netflow.FieldSrcPort | netflow.FieldDstPort
	if g.Known&netflow.FieldProto != 0 && (g.Proto == 1 || g.Proto == 58) && g.Known&ports == ports && g.SrcPort == 0 {
		g.ICMPType, g.ICMPCode = uint8(g.DstPort>>8), uint8(g.DstPort)
		g.Known |= netflow.FieldICMPType | netflow.FieldICMPCode
	}
}
