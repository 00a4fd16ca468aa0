package netflow

import (
	"encoding/hex"
	"net/netip"
)

// The Flow fields beyond v5's (issue 14): how a plan's ops fill them
// (setExtra; fillFixedFlow reads them by group for a fixed-length template),
// and where the fixed formats' ICMP flows carry their type and code.
//
// ICMP type and code: a v9 or IPFIX record that carries icmpTypeCodeIPv4
// (32), icmpTypeCodeIPv6 (139), icmpTypeIPv4/IPv6 (176, 178) or
// icmpCodeIPv4/IPv6 (177, 179) gives them from there, for ICMP and ICMPv6
// flows only (a template may carry the elements for every flow: a TCP flow
// has no ICMP type). A record without those elements, of any version
// (v1, v5, v6 and v7 have no other place), gives them from its destination
// port when it is an ICMP or ICMPv6 flow whose source port is 0: type<<8 |
// code, the convention of Cisco and of softflowd. fprobe puts the type in
// the source port and the code in the destination port instead; that
// cannot be told apart from exporters that put the ICMP identifier in a
// port, so such flows (source port not 0) leave ICMPType and ICMPCode
// unknown. An echo reply (type 0, code 0) is 0 in both conventions.

// MAC is a 48-bit MAC address.
type MAC [6]byte

// String returns the address as six colon-separated lower-case hex bytes.
func (m MAC) String() string {
	var b [17]byte
	for i := range m {
		if i > 0 {
			b[3*i-1] = ':'
		}
		hex.Encode(b[3*i:3*i+2], m[i:i+1])
	}
	return string(b[:])
}

// icmpFields are the Known bits of the ICMP type and code.
const icmpFields = FieldICMPType | FieldICMPCode

// clearExtra zeroes the fields beyond v5's, for the paths that do not zero
// the whole Flow. One statement per field: a tuple assignment of arrays
// goes through temporaries.
func clearExtra(f *Flow) {
	clearLayer2(f)
	clearTags(f)
	clearNAT(f)
}

// clearLayer2, clearTags and clearNAT zero the fields of one group
// (extraGroups); clearTags also the ICMP type and code, which sit among the
// tags in Flow: stores in field order combine into fewer, wider ones.
func clearLayer2(f *Flow) {
	f.SrcMAC = MAC{}
	f.DstMAC = MAC{}
	f.VLAN = 0
	f.PostVLAN = 0
	f.EthType = 0
}

func clearTags(f *Flow) {
	f.Direction = 0
	f.EndReason = 0
	f.IPVersion = 0
	f.ICMPType = 0
	f.ICMPCode = 0
	f.MPLSLabel = 0
	f.InVRF = 0
	f.OutVRF = 0
}

func clearNAT(f *Flow) {
	f.BGPNextHop = netip.Addr{}
	f.PostNATSrcAddr = netip.Addr{}
	f.PostNATDstAddr = netip.Addr{}
	f.PostNATSrcPort = 0
	f.PostNATDstPort = 0
}

// readPair reads the integer at l[0], or at l[1] if l[0]'s is zero, both
// cut to mask (the width of the field they fill).
func readPair(rec []byte, l [2]loc, mask uint64) uint64 {
	v := readUint(rec, l[0]) & mask
	if v == 0 && l[1].n != 0 {
		v = readUint(rec, l[1]) & mask
	}
	return v
}

// readMAC reads the MAC address at l, the zero MAC if l is empty.
func readMAC(rec []byte, l loc) MAC {
	if l.n == 0 {
		return MAC{}
	}
	return MAC(rec[l.off : l.off+6])
}

// mplsLabel returns the label of an mplsTopLabelStackSection: label (20
// bits), traffic class (3), bottom of stack (1).
func mplsLabel(b []byte) uint32 {
	return uint32(b[0])<<12 | uint32(b[1])<<4 | uint32(b[2])>>4
}

// setExtra fills the field of an extra destination from b, whose length
// fieldLengthOK checked.
func setExtra(f *Flow, d flowDest, b []byte) {
	switch d {
	case destSrcMAC:
		f.SrcMAC = MAC(b)
	case destDstMAC:
		f.DstMAC = MAC(b)
	case destVLAN:
		f.VLAN = uint16(beUint(b))
	case destPostVLAN:
		f.PostVLAN = uint16(beUint(b))
	case destEthType:
		f.EthType = uint16(beUint(b))
	case destDirection:
		f.Direction = uint8(beUint(b))
	case destEndReason:
		f.EndReason = uint8(beUint(b))
	case destIPVersion:
		f.IPVersion = uint8(beUint(b))
	case destICMPTypeCode:
		// Of a template's IPv4 and IPv6 elements, the one the record
		// fills (not zero) wins.
		if v := uint16(beUint(b)); f.ICMPType == 0 && f.ICMPCode == 0 {
			f.ICMPType, f.ICMPCode = uint8(v>>8), uint8(v)
		}
	case destICMPType:
		if f.ICMPType == 0 {
			f.ICMPType = uint8(beUint(b))
		}
	case destICMPCode:
		if f.ICMPCode == 0 {
			f.ICMPCode = uint8(beUint(b))
		}
	case destMPLSLabel:
		f.MPLSLabel = mplsLabel(b)
	case destInVRF:
		f.InVRF = uint32(beUint(b))
	case destOutVRF:
		f.OutVRF = uint32(beUint(b))
	case destBGPNextHop:
		setAddr(&f.BGPNextHop, b)
	case destPostNATSrcAddr:
		setAddr(&f.PostNATSrcAddr, b)
	case destPostNATDstAddr:
		setAddr(&f.PostNATDstAddr, b)
	case destPostNATSrcPort:
		f.PostNATSrcPort = uint16(beUint(b))
	case destPostNATDstPort:
		f.PostNATDstPort = uint16(beUint(b))
	}
}

// isICMP reports whether a flow is known to be ICMP or ICMPv6.
func isICMP(f *Flow) bool {
	return f.Known&FieldProto != 0 && icmpProto(f.Proto)
}

// icmpProto reports whether p is ICMP or ICMPv6.
func icmpProto(p uint8) bool {
	return p == 1 || p == 58
}

// finishICMP applies the ICMP rules above once the record's fields are in:
// element values stand for ICMP flows only; without elements, an ICMP flow
// with source port 0 gives them from its destination port. Most flows are
// neither ICMP nor carry ICMP elements: that test is inlined.
func finishICMP(f *Flow) {
	if f.Known&icmpFields != 0 || icmpProto(f.Proto) {
		finishICMPFields(f)
	}
}

func finishICMPFields(f *Flow) {
	if f.Known&icmpFields != 0 {
		if f.Known&FieldProto != 0 && !isICMP(f) {
			f.ICMPType, f.ICMPCode = 0, 0
			f.Known &^= icmpFields
		}
		return
	}
	icmpFromPorts(f)
}

// icmpFromPorts sets the ICMP type and code of an ICMP flow from its
// destination port (Cisco's type<<8 | code), if its source port is 0.
func icmpFromPorts(f *Flow) {
	if isICMP(f) && f.Known&(FieldSrcPort|FieldDstPort) == FieldSrcPort|FieldDstPort && f.SrcPort == 0 {
		f.ICMPType, f.ICMPCode = uint8(f.DstPort>>8), uint8(f.DstPort)
		f.Known |= icmpFields
	}
}
