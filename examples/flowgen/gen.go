package main

import (
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
)

// The synthetic flows. Every value but the times is a function of the seed
// and the flow's index (a PCG stream per flow), so the same seed gives the
// same flows in any order and with any number of exporters; the times are
// offsets, also from the seed, before the moment the flow is made. Each
// flow carries what its version carries, the way a decoder gives it back:
// milliseconds, ICMP type and code in the destination port (and, for v9
// and IPFIX, in their elements), the sampling interval when one is set.

// generator makes the flows of one run.
type generator struct {
	seed     uint64
	ipv6     float64 // fraction of IPv6 flows (v9, IPFIX)
	sampling uint32  // 1-in-N, 0: none
	pcg      rand.PCG
	r        *rand.Rand // over pcg
}

func newGenerator(seed uint64, ipv6 float64, sampling uint32) *generator {
	g := &generator{seed: seed, ipv6: ipv6, sampling: sampling}
	g.r = rand.New(&g.pcg)
	return g
}

// fixedKnown is what v5 flows know (a decoder adds the domain and
// sequence number from the header).
const fixedKnown = netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldNextHop | netflow.FieldSrcPort |
	netflow.FieldDstPort | netflow.FieldProto | netflow.FieldToS | netflow.FieldTCPFlags | netflow.FieldSrcMask |
	netflow.FieldDstMask | netflow.FieldPackets | netflow.FieldBytes | netflow.FieldStart | netflow.FieldEnd |
	netflow.FieldInIf | netflow.FieldOutIf | netflow.FieldSrcAS | netflow.FieldDstAS

// Well-known destination ports of the TCP and UDP flows.
var (
	tcpPorts = []uint16{80, 443, 443, 443, 22, 25, 993, 8080, 3306, 5432}
	udpPorts = []uint16{53, 53, 123, 443, 161, 514, 4789, 5353}
)

// flow fills f with flow i of the run, ending before now.
func (g *generator) flow(f *netflow.Flow, i uint64, now time.Time) {
	g.pcg.Seed(g.seed, i)
	r := g.r
	v6 := g.ipv6 > 0 && r.Float64() < g.ipv6
	*f = netflow.Flow{Known: fixedKnown}
	if v6 {
		f.SrcAddr = addr6(r, 0x20010db8_00010000)
		f.DstAddr = addr6(r, 0x20010db8_00020000)
		f.NextHop = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 3, 14: byte(r.IntN(4)), 15: 1})
		f.SrcMask, f.DstMask = uint8(48+r.IntN(17)), uint8(48+r.IntN(17))
	} else {
		f.SrcAddr = netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		f.DstAddr = netip.AddrFrom4([4]byte{172, byte(16 + r.IntN(16)), byte(r.IntN(256)), byte(1 + r.IntN(254))})
		f.NextHop = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + r.IntN(4))})
		f.SrcMask, f.DstMask = uint8(16+r.IntN(9)), uint8(16+r.IntN(9))
	}
	switch p := r.IntN(100); {
	case p < 70:
		f.Proto = 6
		f.SrcPort, f.DstPort = uint16(1024+r.IntN(64512)), tcpPorts[r.IntN(len(tcpPorts))]
		f.TCPFlags = []uint8{0x1b, 0x1a, 0x12, 0x02, 0x10, 0x18, 0x19}[r.IntN(7)]
	case p < 95:
		f.Proto = 17
		f.SrcPort, f.DstPort = uint16(1024+r.IntN(64512)), udpPorts[r.IntN(len(udpPorts))]
	default:
		// ICMP: type and code in the destination port, source port 0.
		f.Proto = 1
		types := [][2]uint8{{8, 0}, {0, 0}, {3, 3}, {11, 0}, {3, 1}}
		if v6 {
			f.Proto = 58
			types = [][2]uint8{{128, 0}, {129, 0}, {1, 4}, {3, 0}}
		}
		tc := types[r.IntN(len(types))]
		f.ICMPType, f.ICMPCode = tc[0], tc[1]
		f.DstPort = uint16(tc[0])<<8 | uint16(tc[1])
		f.Known |= netflow.FieldICMPType | netflow.FieldICMPCode
	}
	f.ToS = []uint8{0, 0, 0, 0x28, 0xb8, 0x48}[r.IntN(6)]
	f.Packets = 1 + uint64(r.ExpFloat64()*40)
	f.Bytes = f.Packets * uint64(40+r.IntN(1461))
	f.InIf, f.OutIf = uint32(1+r.IntN(48)), uint32(1+r.IntN(48))
	f.SrcAS, f.DstAS = uint32(64512+r.IntN(1022)), uint32(64512+r.IntN(1022))
	end := now.Add(-time.Duration(r.IntN(5000)) * time.Millisecond)
	f.End = end.Truncate(time.Millisecond)
	f.Start = end.Add(-time.Duration(r.IntN(120_000)) * time.Millisecond).Truncate(time.Millisecond)
	if g.sampling != 0 {
		f.SamplingInterval = g.sampling
		f.Known |= netflow.FieldSamplingInterval
	}
}

// addr6 returns a random address of the /64 prefix hi.
func addr6(r *rand.Rand, hi uint64) netip.Addr {
	var b [16]byte
	lo := r.Uint64() | 1
	for i := range 8 {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	return netip.AddrFrom16(b)
}
