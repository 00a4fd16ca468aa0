package netflow

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The JSON encoding of a Flow is one object with these keys, in this order:
// exporter and version always, then each key of flowKeys whose field Known
// has, then "fields" when a record is given (AppendJSONWithFields). The
// "JSON output" section of docs/flow.md documents the schema and
// testdata/json/schema.golden holds it; TestJSONSchema checks both.
//
// Adding a Flow field to the encoding is one line in flowKeys.
var flowKeys = [...]flowKey{
	uintKey("domain", FieldDomain, func(f *Flow) uint64 { return uint64(f.Domain) }),
	uintKey("sequence", FieldSequence, func(f *Flow) uint64 { return uint64(f.Sequence) }),
	addrKey("src_addr", FieldSrcAddr, func(f *Flow) netip.Addr { return f.SrcAddr }),
	addrKey("dst_addr", FieldDstAddr, func(f *Flow) netip.Addr { return f.DstAddr }),
	addrKey("next_hop", FieldNextHop, func(f *Flow) netip.Addr { return f.NextHop }),
	uintKey("src_port", FieldSrcPort, func(f *Flow) uint64 { return uint64(f.SrcPort) }),
	uintKey("dst_port", FieldDstPort, func(f *Flow) uint64 { return uint64(f.DstPort) }),
	uintKey("proto", FieldProto, func(f *Flow) uint64 { return uint64(f.Proto) }),
	uintKey("tos", FieldToS, func(f *Flow) uint64 { return uint64(f.ToS) }),
	uintKey("tcp_flags", FieldTCPFlags, func(f *Flow) uint64 { return uint64(f.TCPFlags) }),
	uintKey("packets", FieldPackets, func(f *Flow) uint64 { return f.Packets }),
	uintKey("bytes", FieldBytes, func(f *Flow) uint64 { return f.Bytes }),
	timeKey("start", FieldStart, func(f *Flow) time.Time { return f.Start }),
	timeKey("end", FieldEnd, func(f *Flow) time.Time { return f.End }),
	uintKey("in_if", FieldInIf, func(f *Flow) uint64 { return uint64(f.InIf) }),
	uintKey("out_if", FieldOutIf, func(f *Flow) uint64 { return uint64(f.OutIf) }),
	uintKey("src_as", FieldSrcAS, func(f *Flow) uint64 { return uint64(f.SrcAS) }),
	uintKey("dst_as", FieldDstAS, func(f *Flow) uint64 { return uint64(f.DstAS) }),
	uintKey("src_mask", FieldSrcMask, func(f *Flow) uint64 { return uint64(f.SrcMask) }),
	uintKey("dst_mask", FieldDstMask, func(f *Flow) uint64 { return uint64(f.DstMask) }),
	uintKey("sampling_interval", FieldSamplingInterval, func(f *Flow) uint64 { return uint64(f.SamplingInterval) }),
	boolKey("scaled", FieldScaled),
	macKey("src_mac", FieldSrcMAC, func(f *Flow) [6]byte { return f.SrcMAC }),
	macKey("dst_mac", FieldDstMAC, func(f *Flow) [6]byte { return f.DstMAC }),
	uintKey("vlan", FieldVLAN, func(f *Flow) uint64 { return uint64(f.VLAN) }),
	uintKey("post_vlan", FieldPostVLAN, func(f *Flow) uint64 { return uint64(f.PostVLAN) }),
	uintKey("direction", FieldDirection, func(f *Flow) uint64 { return uint64(f.Direction) }),
	uintKey("end_reason", FieldEndReason, func(f *Flow) uint64 { return uint64(f.EndReason) }),
	addrKey("bgp_next_hop", FieldBGPNextHop, func(f *Flow) netip.Addr { return f.BGPNextHop }),
	uintKey("icmp_type", FieldICMPType, func(f *Flow) uint64 { return uint64(f.ICMPType) }),
	uintKey("icmp_code", FieldICMPCode, func(f *Flow) uint64 { return uint64(f.ICMPCode) }),
	uintKey("ip_version", FieldIPVersion, func(f *Flow) uint64 { return uint64(f.IPVersion) }),
	uintKey("in_vrf", FieldInVRF, func(f *Flow) uint64 { return uint64(f.InVRF) }),
	uintKey("out_vrf", FieldOutVRF, func(f *Flow) uint64 { return uint64(f.OutVRF) }),
	uintKey("mpls_label", FieldMPLSLabel, func(f *Flow) uint64 { return uint64(f.MPLSLabel) }),
	uintKey("eth_type", FieldEthType, func(f *Flow) uint64 { return uint64(f.EthType) }),
	addrKey("post_nat_src_addr", FieldPostNATSrcAddr, func(f *Flow) netip.Addr { return f.PostNATSrcAddr }),
	addrKey("post_nat_dst_addr", FieldPostNATDstAddr, func(f *Flow) netip.Addr { return f.PostNATDstAddr }),
	uintKey("post_nat_src_port", FieldPostNATSrcPort, func(f *Flow) uint64 { return uint64(f.PostNATSrcPort) }),
	uintKey("post_nat_dst_port", FieldPostNATDstPort, func(f *Flow) uint64 { return uint64(f.PostNATDstPort) }),
}

// jsonKind is the JSON type of a flow key's value.
type jsonKind uint8

const (
	kindUint jsonKind = iota // a JSON number, an unsigned integer
	kindAddr                 // a JSON string, an IPv4 or IPv6 address
	kindTime                 // a JSON string, a time in JSONTimeLayout
	kindMAC                  // a JSON string, a MAC address aa:bb:cc:dd:ee:ff
	kindTrue                 // the JSON value true: the key's presence is the fact
)

// flowKey is one optional key of a flow's JSON object: its name, the Known
// bit that makes it present, and how to read its value from a Flow (one of
// the getters, by kind).
type flowKey struct {
	name   string
	prefix string // `,"name":`
	field  FlowFields
	kind   jsonKind
	uint   func(*Flow) uint64
	addr   func(*Flow) netip.Addr
	time   func(*Flow) time.Time
	mac    func(*Flow) [6]byte
}

func newFlowKey(name string, field FlowFields, kind jsonKind) flowKey {
	return flowKey{name: name, prefix: `,"` + name + `":`, field: field, kind: kind}
}

// uintKey is a key whose value is an unsigned integer.
func uintKey(name string, field FlowFields, get func(*Flow) uint64) flowKey {
	k := newFlowKey(name, field, kindUint)
	k.uint = get
	return k
}

// addrKey is a key whose value is an address.
func addrKey(name string, field FlowFields, get func(*Flow) netip.Addr) flowKey {
	k := newFlowKey(name, field, kindAddr)
	k.addr = get
	return k
}

// timeKey is a key whose value is a time.
func timeKey(name string, field FlowFields, get func(*Flow) time.Time) flowKey {
	k := newFlowKey(name, field, kindTime)
	k.time = get
	return k
}

// boolKey is a key that is present, with the value true, when its field is
// known.
func boolKey(name string, field FlowFields) flowKey {
	return newFlowKey(name, field, kindTrue)
}

// macKey is a key whose value is a MAC address.
func macKey(name string, field FlowFields, get func(*Flow) [6]byte) flowKey {
	k := newFlowKey(name, field, kindMAC)
	k.mac = get
	return k
}

// appendValue appends the key's value of f, in JSON when quote is true and
// as bare text (for String) when it is false.
func (k *flowKey) appendValue(dst []byte, f *Flow, quote bool) []byte {
	switch k.kind {
	case kindUint:
		return appendUint(dst, k.uint(f))
	case kindAddr:
		if quote {
			return appendAddrString(dst, k.addr(f))
		}
		if a := k.addr(f); a.IsValid() {
			return a.AppendTo(dst)
		}
		return dst
	case kindTime:
		if quote {
			return appendTimeString(dst, k.time(f))
		}
		b := appendTimeString(dst, k.time(f))
		// Drop the quotes: the layout has no character that needs escaping.
		copy(b[len(dst):], b[len(dst)+1:len(b)-1])
		return b[:len(b)-2]
	case kindTrue:
		return append(dst, "true"...)
	case kindMAC:
		b := appendMACString(dst, k.mac(f))
		if !quote {
			copy(b[len(dst):], b[len(dst)+1:len(b)-1])
			b = b[:len(b)-2]
		}
		return b
	}
	return dst
}

// AppendJSON appends f as one JSON object (the schema: the "JSON output"
// section of docs/flow.md in the repository): "exporter" and "version" always, then every
// other key only when f.Known has its field, in a fixed order. Numbers are
// JSON numbers, addresses and times (RFC 3339, UTC, nanoseconds) strings.
// It allocates nothing beyond growing dst, and appends no newline.
func (f *Flow) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"exporter":"`...)
	if f.Exporter.IsValid() {
		dst = f.Exporter.AppendTo(dst)
	}
	dst = append(dst, `","version":`...)
	dst = appendUint(dst, uint64(f.Version))
	known := f.Known
	for i := range flowKeys {
		k := &flowKeys[i]
		if known&k.field == 0 {
			continue
		}
		dst = append(dst, k.prefix...)
		dst = k.appendValue(dst, f, true)
	}
	return append(dst, '}')
}

// AppendJSONWithFields appends f as AppendJSON does, with one more key last:
// "fields", the object rec.AppendFieldsJSON writes, for the v9 or IPFIX
// record f was made from. A nil rec adds no key.
func (f *Flow) AppendJSONWithFields(dst []byte, rec *Record) []byte {
	dst = f.AppendJSON(dst)
	if rec == nil {
		return dst
	}
	dst = append(dst[:len(dst)-1], `,"fields":`...)
	dst = rec.AppendFieldsJSON(dst)
	return append(dst, '}')
}

// MarshalJSON returns what AppendJSON appends, so that json.Marshal of a
// Flow gives the same bytes.
func (f Flow) MarshalJSON() ([]byte, error) {
	return f.AppendJSON(make([]byte, 0, 512)), nil
}

// String returns the keys and values of AppendJSON as key=value pairs
// separated by spaces, without quotes: unknown fields are left out.
func (f Flow) String() string {
	b := make([]byte, 0, 256)
	b = append(b, "exporter="...)
	if f.Exporter.IsValid() {
		b = f.Exporter.AppendTo(b)
	}
	b = append(b, " version="...)
	b = strconv.AppendUint(b, uint64(f.Version), 10)
	for i := range flowKeys {
		k := &flowKeys[i]
		if f.Known&k.field == 0 {
			continue
		}
		b = append(b, ' ')
		b = append(b, k.name...)
		b = append(b, '=')
		b = k.appendValue(b, &f, false)
	}
	return string(b)
}

// String returns the JSON keys of the fields in s, in the order of the
// encoding, separated by '|' ("src_addr|dst_addr|packets"); a bit that
// names no field is written as a hexadecimal number, and the empty set as
// "0".
func (s FlowFields) String() string {
	if s == 0 {
		return "0"
	}
	var b strings.Builder
	for i := range flowKeys {
		if k := &flowKeys[i]; s&k.field != 0 {
			if b.Len() > 0 {
				b.WriteByte('|')
			}
			b.WriteString(k.name)
			s &^= k.field
		}
	}
	if s != 0 {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString("0x")
		b.WriteString(strconv.FormatUint(uint64(s), 16))
	}
	return b.String()
}
