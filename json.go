package netflow

import (
	"math/bits"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The JSON encoding of a Flow is one object with these keys, in this order:
// exporter and version always, "protocol" for sFlow flows only
// (appendExportProtocol), then each key of flowKeys whose field Known has,
// then "fields" when a record is given (AppendJSONWithFields). The
// "JSON output" section of docs/flow.md documents the schema and
// testdata/json/schema.golden holds it; TestJSONSchema checks both.
//
// Adding a Flow field to the encoding is one line in flowKeys.
var flowKeys = [...]flowKey{
	addrKey("agent", FieldAgent, func(f *Flow) netip.Addr { return f.Agent }), // sFlow only
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
// section of docs/flow.md in the repository): "exporter" and "version"
// always, "protocol": "sflow" for a flow from sFlow (docs/sflow.md), then
// every other key only when f.Known has its field, in a fixed order. Numbers are
// JSON numbers, addresses and times (RFC 3339, UTC, nanoseconds) strings.
// It allocates nothing beyond growing dst, and appends no newline. It
// writes in dst's spare capacity as append does, but may also change up to
// two bytes past what it appends (scratch of its fixed-width stores):
// do not pass a dst whose spare capacity holds bytes you still need.
func (f *Flow) AppendJSON(dst []byte) []byte {
	st := newJSONState()
	b, n := f.putJSON(dst[:cap(dst)], len(dst), &st)
	return b[:n]
}

// putExportProtocol writes the "protocol" key of a flow that is not
// NetFlow or IPFIX, as appendExportProtocol appends it, in the room
// putJSON made for it (flowJSONKey bounds `,"protocol":"ExportProtocol(255)"`).
func (f *Flow) putExportProtocol(b []byte, n int) ([]byte, int) {
	name := f.ExportProtocol.String()
	n = putLit(b, n, `,"protocol":"`)
	n += copy(b[n:], name)
	b[n] = '"'
	return b, n + 1
}

// appendExportProtocol appends the "protocol" key of a flow that is not
// NetFlow or IPFIX: `,"protocol":"sflow"` after "version", so that an sFlow
// flow (version 5 too) is never read as a NetFlow v5 one. NetFlow and
// IPFIX flows have no such key: their JSON is what it was before sFlow.
func appendExportProtocol(dst []byte, f *Flow) []byte {
	if f.ExportProtocol == ExportNetFlow {
		return dst
	}
	dst = append(dst, `,"protocol":"`...)
	dst = append(dst, f.ExportProtocol.String()...)
	return append(dst, '"')
}

// AppendJSONWithFields appends f as AppendJSON does, with one more key last:
// "fields", the object rec.AppendFieldsJSON writes, for the v9 or IPFIX
// record f was made from. A nil rec adds no key. Like AppendJSON, it may
// change up to two bytes of dst's spare capacity past what it appends.
func (f *Flow) AppendJSONWithFields(dst []byte, rec *Record) []byte {
	st := newJSONState()
	b, n := f.putJSON(dst[:cap(dst)], len(dst), &st)
	if rec == nil {
		return b[:n]
	}
	// The room putJSON made covers the key; the record makes its own,
	// and copies the text of a value it shares with the flow (a record's
	// addresses and counters mostly are the flow's) instead of writing
	// it again.
	n = putLit(b, n-1, `,"fields":`)
	b, n = rec.putFieldsJSON(b, n, 0, &st)
	b = jsonRoom(b, n, 1)
	b[n] = '}'
	return b[:n+1]
}

// MarshalJSON returns what AppendJSON appends, so that json.Marshal of a
// Flow gives the same bytes.
func (f Flow) MarshalJSON() ([]byte, error) {
	return f.AppendJSON(nil), nil
}

// flowJSONHead bounds the bytes of a flow object without its optional
// keys: `{"exporter":"[IPv6]:65535","version":65535}` (a zone in an
// address makes room for itself), and `,"fields":`. flowJSONKey bounds one
// optional key with its value (`,"post_nat_src_port":` and an IPv6
// address in quotes, or a time of a year beyond 9999).
const (
	flowJSONHead = 96
	flowJSONKey  = 72
)

// putJSON writes the object AppendJSON appends. The keys are written one
// by one in the order of flowKeys (TestFlowJSONMatchesTable holds them to
// it): a key added to flowKeys is one more if here. An optional key that
// comes before "domain" goes right after "version".
//
// It keeps, in st, where it wrote the values that a record's fields often
// repeat (reuseSlot), for putFieldsJSON. A number is written as putUint
// writes it, spelt out (putSmall under 1000, putUintMore from 1000): the
// compiler does not inline putUint, and a call per number costs more.
func (f *Flow) putJSON(b []byte, n int, st *jsonState) ([]byte, int) {
	known := f.Known
	room := flowJSONHead + bits.OnesCount64(uint64(known))*flowJSONKey
	if f.ExportProtocol != ExportNetFlow {
		room += flowJSONKey // "protocol" (putExportProtocol)
	}
	b = jsonRoom(b, n, room)
	n = putLit(b, n, `{"exporter":"`)
	b, n = putAddrPort(b, n, f.Exporter)
	n = putLit(b, n, `","version":`)
	n = putUint16(b, n, f.Version)
	if f.ExportProtocol != ExportNetFlow {
		b, n = f.putExportProtocol(b, n)
	}
	if known&FieldAgent != 0 {
		n = putLit(b, n, `,"agent":`)
		b, n = putAddr(b, n, f.Agent)
	}
	if known&FieldDomain != 0 {
		n = putLit(b, n, `,"domain":`)
		if v := uint64(f.Domain); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
	}
	if known&FieldSequence != 0 {
		n = putLit(b, n, `,"sequence":`)
		if v := uint64(f.Sequence); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
	}
	if known&FieldSrcAddr != 0 {
		n = putLit(b, n, `,"src_addr":`)
		b, n = st.putKeptAddr(b, n, reuseSrcAddr, f.SrcAddr)
	}
	if known&FieldDstAddr != 0 {
		n = putLit(b, n, `,"dst_addr":`)
		b, n = st.putKeptAddr(b, n, reuseDstAddr, f.DstAddr)
	}
	if known&FieldNextHop != 0 {
		n = putLit(b, n, `,"next_hop":`)
		b, n = st.putKeptAddr(b, n, reuseNextHop, f.NextHop)
	}
	if known&FieldSrcPort != 0 {
		n = putLit(b, n, `,"src_port":`)
		n = putUint16(b, n, f.SrcPort)
	}
	if known&FieldDstPort != 0 {
		n = putLit(b, n, `,"dst_port":`)
		n = putUint16(b, n, f.DstPort)
	}
	if known&FieldProto != 0 {
		n = putLit(b, n, `,"proto":`)
		n = putSmall(b, n, uint16(f.Proto))
	}
	if known&FieldToS != 0 {
		n = putLit(b, n, `,"tos":`)
		n = putSmall(b, n, uint16(f.ToS))
	}
	if known&FieldTCPFlags != 0 {
		n = putLit(b, n, `,"tcp_flags":`)
		n = putSmall(b, n, uint16(f.TCPFlags))
	}
	if known&FieldPackets != 0 {
		n = putLit(b, n, `,"packets":`)
		at := n
		if v := f.Packets; v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
		st.keep(reusePackets, f.Packets, at, n)
	}
	if known&FieldBytes != 0 {
		n = putLit(b, n, `,"bytes":`)
		at := n
		if v := f.Bytes; v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
		st.keep(reuseBytes, f.Bytes, at, n)
	}
	if known&FieldStart != 0 {
		n = putLit(b, n, `,"start":`)
		at, sec, ns := n, f.Start.Unix(), uint32(f.Start.Nanosecond())
		n = putTime(b, n, sec, ns, &st.date)
		st.keepTime(reuseStart, sec, ns, at, n)
	}
	if known&FieldEnd != 0 {
		n = putLit(b, n, `,"end":`)
		at, sec, ns := n, f.End.Unix(), uint32(f.End.Nanosecond())
		n = putTime(b, n, sec, ns, &st.date)
		st.keepTime(reuseEnd, sec, ns, at, n)
	}
	if known&FieldInIf != 0 {
		n = putLit(b, n, `,"in_if":`)
		at := n
		if v := uint64(f.InIf); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
		st.keep(reuseInIf, uint64(f.InIf), at, n)
	}
	if known&FieldOutIf != 0 {
		n = putLit(b, n, `,"out_if":`)
		at := n
		if v := uint64(f.OutIf); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
		st.keep(reuseOutIf, uint64(f.OutIf), at, n)
	}
	if known&FieldSrcAS != 0 {
		n = putLit(b, n, `,"src_as":`)
		at := n
		if v := uint64(f.SrcAS); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
		st.keep(reuseSrcAS, uint64(f.SrcAS), at, n)
	}
	if known&FieldDstAS != 0 {
		n = putLit(b, n, `,"dst_as":`)
		at := n
		if v := uint64(f.DstAS); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
		st.keep(reuseDstAS, uint64(f.DstAS), at, n)
	}
	if known&FieldSrcMask != 0 {
		n = putLit(b, n, `,"src_mask":`)
		n = putSmall(b, n, uint16(f.SrcMask))
	}
	if known&FieldDstMask != 0 {
		n = putLit(b, n, `,"dst_mask":`)
		n = putSmall(b, n, uint16(f.DstMask))
	}
	if known&FieldSamplingInterval != 0 {
		n = putLit(b, n, `,"sampling_interval":`)
		if v := uint64(f.SamplingInterval); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
	}
	if known&FieldScaled != 0 {
		n = putLit(b, n, `,"scaled":true`)
	}
	if known&(FieldSrcMAC|FieldDstMAC|FieldVLAN|FieldPostVLAN|FieldDirection|FieldEndReason|FieldBGPNextHop|
		FieldICMPType|FieldICMPCode|FieldIPVersion|FieldInVRF|FieldOutVRF|FieldMPLSLabel|FieldEthType|
		FieldPostNATSrcAddr|FieldPostNATDstAddr|FieldPostNATSrcPort|FieldPostNATDstPort) != 0 {
		b, n = f.putExtraJSON(b, n)
	}
	b[n] = '}'
	return b, n + 1
}

// putExtraJSON writes the keys of the fields beyond v5's, which only v9
// and IPFIX records carry, in the order of flowKeys.
func (f *Flow) putExtraJSON(b []byte, n int) ([]byte, int) {
	known := f.Known
	if known&FieldSrcMAC != 0 {
		n = putLit(b, n, `,"src_mac":`)
		n = putMAC(b, n, f.SrcMAC)
	}
	if known&FieldDstMAC != 0 {
		n = putLit(b, n, `,"dst_mac":`)
		n = putMAC(b, n, f.DstMAC)
	}
	if known&FieldVLAN != 0 {
		n = putLit(b, n, `,"vlan":`)
		n = putUint16(b, n, f.VLAN)
	}
	if known&FieldPostVLAN != 0 {
		n = putLit(b, n, `,"post_vlan":`)
		n = putUint16(b, n, f.PostVLAN)
	}
	if known&FieldDirection != 0 {
		n = putLit(b, n, `,"direction":`)
		n = putSmall(b, n, uint16(f.Direction))
	}
	if known&FieldEndReason != 0 {
		n = putLit(b, n, `,"end_reason":`)
		n = putSmall(b, n, uint16(f.EndReason))
	}
	if known&FieldBGPNextHop != 0 {
		n = putLit(b, n, `,"bgp_next_hop":`)
		b, n = putAddr(b, n, f.BGPNextHop)
	}
	if known&FieldICMPType != 0 {
		n = putLit(b, n, `,"icmp_type":`)
		n = putSmall(b, n, uint16(f.ICMPType))
	}
	if known&FieldICMPCode != 0 {
		n = putLit(b, n, `,"icmp_code":`)
		n = putSmall(b, n, uint16(f.ICMPCode))
	}
	if known&FieldIPVersion != 0 {
		n = putLit(b, n, `,"ip_version":`)
		n = putSmall(b, n, uint16(f.IPVersion))
	}
	if known&FieldInVRF != 0 {
		n = putLit(b, n, `,"in_vrf":`)
		if v := uint64(f.InVRF); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
	}
	if known&FieldOutVRF != 0 {
		n = putLit(b, n, `,"out_vrf":`)
		if v := uint64(f.OutVRF); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
	}
	if known&FieldMPLSLabel != 0 {
		n = putLit(b, n, `,"mpls_label":`)
		if v := uint64(f.MPLSLabel); v < 1000 {
			n = putSmall(b, n, uint16(v))
		} else {
			n = putUintMore(b, n, v)
		}
	}
	if known&FieldEthType != 0 {
		n = putLit(b, n, `,"eth_type":`)
		n = putUint16(b, n, f.EthType)
	}
	if known&FieldPostNATSrcAddr != 0 {
		n = putLit(b, n, `,"post_nat_src_addr":`)
		b, n = putAddr(b, n, f.PostNATSrcAddr)
	}
	if known&FieldPostNATDstAddr != 0 {
		n = putLit(b, n, `,"post_nat_dst_addr":`)
		b, n = putAddr(b, n, f.PostNATDstAddr)
	}
	if known&FieldPostNATSrcPort != 0 {
		n = putLit(b, n, `,"post_nat_src_port":`)
		n = putUint16(b, n, f.PostNATSrcPort)
	}
	if known&FieldPostNATDstPort != 0 {
		n = putLit(b, n, `,"post_nat_dst_port":`)
		n = putUint16(b, n, f.PostNATDstPort)
	}
	return b, n
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
	if f.ExportProtocol != ExportNetFlow {
		b = append(b, " protocol="...)
		b = append(b, f.ExportProtocol.String()...)
	}
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
