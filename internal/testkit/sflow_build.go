package testkit

// sFlow v5 datagram builders (sflow.org "sFlow Version 5": XDR, every item
// big-endian and padded to 4 bytes), and builders of the packets a raw
// packet header record samples (Ethernet, 802.1Q, MPLS, IPv4, IPv6, TCP,
// UDP, ICMP, tunnels). Tests state what they put in and compare the decode
// with it.

import (
	"encoding/binary"
	"net/netip"
)

// SFlowStructure returns an sFlow opaque structure: its data format
// (enterprise<<12 | format), its length and data, padded to 4 bytes.
func SFlowStructure(format uint32, data []byte) []byte {
	b := be.AppendUint32(nil, format)
	b = be.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// SFlowAddress returns an XDR address: type 1 and 4 bytes, type 2 and 16
// bytes, or type 0 for the zero Addr.
func SFlowAddress(a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return be.AppendUint32(nil, 0)
	case a.Is4():
		return append(be.AppendUint32(nil, 1), a.AsSlice()...)
	}
	return append(be.AppendUint32(nil, 2), a.AsSlice()...)
}

// SFlowDatagram returns an sFlow v5 datagram of the given sample
// structures (SFlowFlowSample, SFlowCounterSample, SFlowStructure), whose
// header announces len(samples) samples.
func SFlowDatagram(agent netip.Addr, subAgent, sequence, uptime uint32, samples ...[]byte) []byte {
	b := be.AppendUint32(nil, 5)
	b = append(b, SFlowAddress(agent)...)
	b = be.AppendUint32(b, subAgent)
	b = be.AppendUint32(b, sequence)
	b = be.AppendUint32(b, uptime)
	b = be.AppendUint32(b, uint32(len(samples)))
	for _, s := range samples {
		b = append(b, s...)
	}
	return b
}

// SFlowSampleHead is what a flow sample carries besides its records. In
// and Out are the compact interfaces (format<<30 | value); an expanded
// sample (SFlowExpandedFlowSample) writes format and value apart.
type SFlowSampleHead struct {
	Sequence, SourceType, SourceIndex uint32
	SamplingRate, SamplePool, Drops   uint32
	InFormat, In, OutFormat, Out      uint32
}

// SFlowFlowSample returns a compact flow sample (format 1) of the records.
func SFlowFlowSample(h SFlowSampleHead, records ...[]byte) []byte {
	b := be.AppendUint32(nil, h.Sequence)
	b = be.AppendUint32(b, h.SourceType<<24|h.SourceIndex&0xffffff)
	b = be.AppendUint32(b, h.SamplingRate)
	b = be.AppendUint32(b, h.SamplePool)
	b = be.AppendUint32(b, h.Drops)
	b = be.AppendUint32(b, h.InFormat<<30|h.In&0x3fffffff)
	b = be.AppendUint32(b, h.OutFormat<<30|h.Out&0x3fffffff)
	b = be.AppendUint32(b, uint32(len(records)))
	for _, r := range records {
		b = append(b, r...)
	}
	return SFlowStructure(1, b)
}

// SFlowExpandedFlowSample returns an expanded flow sample (format 3).
func SFlowExpandedFlowSample(h SFlowSampleHead, records ...[]byte) []byte {
	b := be.AppendUint32(nil, h.Sequence)
	b = be.AppendUint32(b, h.SourceType)
	b = be.AppendUint32(b, h.SourceIndex)
	b = be.AppendUint32(b, h.SamplingRate)
	b = be.AppendUint32(b, h.SamplePool)
	b = be.AppendUint32(b, h.Drops)
	b = be.AppendUint32(b, h.InFormat)
	b = be.AppendUint32(b, h.In)
	b = be.AppendUint32(b, h.OutFormat)
	b = be.AppendUint32(b, h.Out)
	b = be.AppendUint32(b, uint32(len(records)))
	for _, r := range records {
		b = append(b, r...)
	}
	return SFlowStructure(3, b)
}

// SFlowCounterSample returns a compact counter sample (format 2) of the
// records.
func SFlowCounterSample(sequence, sourceType, sourceIndex uint32, records ...[]byte) []byte {
	b := be.AppendUint32(nil, sequence)
	b = be.AppendUint32(b, sourceType<<24|sourceIndex&0xffffff)
	b = be.AppendUint32(b, uint32(len(records)))
	for _, r := range records {
		b = append(b, r...)
	}
	return SFlowStructure(2, b)
}

// SFlowRawHeader returns a raw packet header record (flow record 1).
func SFlowRawHeader(protocol, frameLength, stripped uint32, header []byte) []byte {
	b := be.AppendUint32(nil, protocol)
	b = be.AppendUint32(b, frameLength)
	b = be.AppendUint32(b, stripped)
	b = be.AppendUint32(b, uint32(len(header)))
	b = append(b, header...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return SFlowStructure(1, b)
}

// SFlowSwitch returns an extended switch record (1001).
func SFlowSwitch(srcVLAN, srcPri, dstVLAN, dstPri uint32) []byte {
	return SFlowStructure(1001, u32s(srcVLAN, srcPri, dstVLAN, dstPri))
}

// SFlowRouter returns an extended router record (1002).
func SFlowRouter(nextHop netip.Addr, srcMask, dstMask uint32) []byte {
	return SFlowStructure(1002, append(SFlowAddress(nextHop), u32s(srcMask, dstMask)...))
}

// SFlowGateway returns an extended gateway record (1003) with one AS_SEQUENCE
// segment holding path (none if empty).
func SFlowGateway(nextHop netip.Addr, as, srcAS, srcPeerAS uint32, path, communities []uint32, localPref uint32) []byte {
	b := append(SFlowAddress(nextHop), u32s(as, srcAS, srcPeerAS)...)
	if len(path) == 0 {
		b = be.AppendUint32(b, 0)
	} else {
		b = append(b, u32s(1, 2, uint32(len(path)))...)
		b = append(b, u32s(path...)...)
	}
	b = be.AppendUint32(b, uint32(len(communities)))
	b = append(b, u32s(communities...)...)
	b = be.AppendUint32(b, localPref)
	return SFlowStructure(1003, b)
}

// SFlowNAT returns an extended NAT record (1007).
func SFlowNAT(src, dst netip.Addr) []byte {
	return SFlowStructure(1007, append(SFlowAddress(src), SFlowAddress(dst)...))
}

// SFlowInterfaceCounters is the generic interface counters record (counter
// record 1) a test builds.
type SFlowInterfaceCounters struct {
	IfIndex, IfType                               uint32
	Speed                                         uint64
	Direction, Status                             uint32
	InOctets                                      uint64
	InUcast, InMcast, InBcast, InDiscards, InErrs uint32
	InUnknown                                     uint32
	OutOctets                                     uint64
	OutUcast, OutMcast, OutBcast, OutDiscards     uint32
	OutErrs, Promiscuous                          uint32
}

// Record returns the counter record.
func (c SFlowInterfaceCounters) Record() []byte {
	b := u32s(c.IfIndex, c.IfType)
	b = be.AppendUint64(b, c.Speed)
	b = append(b, u32s(c.Direction, c.Status)...)
	b = be.AppendUint64(b, c.InOctets)
	b = append(b, u32s(c.InUcast, c.InMcast, c.InBcast, c.InDiscards, c.InErrs, c.InUnknown)...)
	b = be.AppendUint64(b, c.OutOctets)
	b = append(b, u32s(c.OutUcast, c.OutMcast, c.OutBcast, c.OutDiscards, c.OutErrs, c.Promiscuous)...)
	return SFlowStructure(1, b)
}

func u32s(vs ...uint32) []byte {
	var b []byte
	for _, v := range vs {
		b = be.AppendUint32(b, v)
	}
	return b
}

// ---------------------------------------------------------------- packets

// Ethernet returns an Ethernet frame: destination and source MAC, one
// 802.1Q tag per VLAN (outer first; 0x8100 each), the EtherType and the
// payload.
func Ethernet(dst, src [6]byte, vlans []uint16, etherType uint16, payload []byte) []byte {
	b := append(append([]byte(nil), dst[:]...), src[:]...)
	for _, v := range vlans {
		b = be.AppendUint16(b, 0x8100)
		b = be.AppendUint16(b, v)
	}
	b = be.AppendUint16(b, etherType)
	return append(b, payload...)
}

// IPv4 returns an IPv4 packet (20-byte header, checksum left 0).
func IPv4(src, dst netip.Addr, proto, tos uint8, payload []byte) []byte {
	b := []byte{0x45, tos, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(20+len(payload)))
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	return append(b, payload...)
}

// IPv6 returns an IPv6 packet with the given next header.
func IPv6(src, dst netip.Addr, nextHeader, trafficClass uint8, payload []byte) []byte {
	b := []byte{0x60 | trafficClass>>4, trafficClass << 4, 0, 0, 0, 0, nextHeader, 64}
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	return append(b, payload...)
}

// TCP returns a 20-byte TCP header and the payload.
func TCP(srcPort, dstPort uint16, flags uint8, payload []byte) []byte {
	b := be.AppendUint16(nil, srcPort)
	b = be.AppendUint16(b, dstPort)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0)
	return append(b, payload...)
}

// UDP returns a UDP header and the payload.
func UDP(srcPort, dstPort uint16, payload []byte) []byte {
	b := be.AppendUint16(nil, srcPort)
	b = be.AppendUint16(b, dstPort)
	b = be.AppendUint16(b, uint16(8+len(payload)))
	b = be.AppendUint16(b, 0)
	return append(b, payload...)
}

// ICMP returns an ICMP (or ICMPv6) message header of a type and code.
func ICMP(typ, code uint8) []byte { return []byte{typ, code, 0, 0, 0, 1, 0, 1} }

// MAC addresses of the built frames.
var (
	MACA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	MACB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

// SFlowAgent is the agent address of SFlow's datagrams.
var SFlowAgent = netip.MustParseAddr("192.0.2.100")

// SFlowFrame is the frame flow sample i of SFlow samples: FlowN(i) as an
// Ethernet frame (VLAN 100+i on odd i) of IPv4 TCP.
func SFlowFrame(i int) []byte {
	f := FlowN(i)
	var vlans []uint16
	if i%2 == 1 {
		vlans = []uint16{uint16(100 + i)}
	}
	return Ethernet(MACB, MACA, vlans, 0x0800, IPv4(f.Src, f.Dst, f.Proto, f.ToS, TCP(f.SrcPort, f.DstPort, f.TCPFlags, make([]byte, 26))))
}

// SFlow returns an sFlow datagram of n flow samples (FlowN(i) sampled as
// SFlowFrame(i): frame length 1000+i, sampling rate 512, input In, output
// Out, with an extended switch record) and one counter sample.
func SFlow(n int) []byte {
	samples := make([][]byte, 0, n+1)
	for i := range n {
		f := FlowN(i)
		samples = append(samples, SFlowFlowSample(SFlowSampleHead{
			Sequence: uint32(1000 + i), SourceIndex: uint32(f.In), SamplingRate: 512, SamplePool: uint32(512 * (i + 1)),
			In: uint32(f.In), Out: uint32(f.Out),
		}, SFlowRawHeader(1, uint32(1000+i), 4, SFlowFrame(i)), SFlowSwitch(uint32(100+i), 0, uint32(200+i), 0)))
	}
	samples = append(samples, SFlowCounterSample(7, 0, 3, SFlowInterfaceCounters{IfIndex: 3, IfType: 6, Speed: 1e10,
		Direction: 1, Status: 3, InOctets: 123456, InUcast: 789, OutOctets: 654321, OutUcast: 987}.Record()))
	return SFlowDatagram(SFlowAgent, 1, 42, SysUptime, samples...)
}
