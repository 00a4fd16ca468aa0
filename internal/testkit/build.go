package testkit

// Datagram builders for every version. The same logical flows (FlowN) come
// out of every builder, with the same header values, so that a test can
// compare a decode of any version with the flows it encoded.

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// The header values every builder uses, so that the same logical flows come
// out of every version: export at 2023-11-14T22:13:20Z, one hour of uptime.
const (
	UnixSecs  = 1_700_000_000
	SysUptime = 3_600_000
)

// Export is the export time of the built datagrams.
var Export = time.Unix(UnixSecs, 0).UTC()

// TestFlow is one logical flow the builders encode, with values derived
// from its index so that every field of every record differs.
type TestFlow struct {
	Src, Dst, NextHop netip.Addr
	In, Out           uint16
	Packets, Octets   uint32
	First, Last       uint32 // sys uptime ms
	SrcPort, DstPort  uint16
	TCPFlags, Proto   uint8
	ToS               uint8
	SrcAS, DstAS      uint16
	SrcMask, DstMask  uint8
}

// FlowN is the i-th logical flow: addresses 10.1.i.1 -> 10.2.i.2 via
// 10.3.i.3, TCP 40000+i -> 443+i, 1000+i packets, 100000+7i octets, started
// a minute before export.
func FlowN(i int) TestFlow {
	b := byte(i)
	return TestFlow{
		Src:      netip.AddrFrom4([4]byte{10, 1, b, 1}),
		Dst:      netip.AddrFrom4([4]byte{10, 2, b, 2}),
		NextHop:  netip.AddrFrom4([4]byte{10, 3, b, 3}),
		In:       uint16(100 + i),
		Out:      uint16(200 + i),
		Packets:  uint32(1000 + i),
		Octets:   uint32(100000 + 7*i),
		First:    uint32(SysUptime - 60_000 + 10*i),
		Last:     uint32(SysUptime - 1_000 + 10*i),
		SrcPort:  uint16(40000 + i),
		DstPort:  uint16(443 + i),
		TCPFlags: 0x1b,
		Proto:    6,
		ToS:      uint8(i * 4),
		SrcAS:    uint16(64500 + i),
		DstAS:    uint16(64600 + i),
		SrcMask:  24,
		DstMask:  uint8(16 + i%16),
	}
}

// Start is the flow's absolute start time under the builders' headers.
func (f TestFlow) Start() time.Time {
	return Export.Add(-time.Duration(SysUptime-f.First) * time.Millisecond)
}

// End is the flow's absolute end time under the builders' headers.
func (f TestFlow) End() time.Time {
	return Export.Add(-time.Duration(SysUptime-f.Last) * time.Millisecond)
}

var be = binary.BigEndian

// PutV5Layout writes the 48 bytes of a v5 record (bytes 36 and 46-47, pad
// in v5, are left for the caller).
func PutV5Layout(b []byte, f TestFlow) {
	copy(b[0:], f.Src.AsSlice())
	copy(b[4:], f.Dst.AsSlice())
	copy(b[8:], f.NextHop.AsSlice())
	be.PutUint16(b[12:], f.In)
	be.PutUint16(b[14:], f.Out)
	be.PutUint32(b[16:], f.Packets)
	be.PutUint32(b[20:], f.Octets)
	be.PutUint32(b[24:], f.First)
	be.PutUint32(b[28:], f.Last)
	be.PutUint16(b[32:], f.SrcPort)
	be.PutUint16(b[34:], f.DstPort)
	b[37] = f.TCPFlags
	b[38] = f.Proto
	b[39] = f.ToS
	be.PutUint16(b[40:], f.SrcAS)
	be.PutUint16(b[42:], f.DstAS)
	b[44] = f.SrcMask
	b[45] = f.DstMask
}

// Header24 writes the 24-byte header of v5, v6 and v7.
func Header24(b []byte, version uint16, n int) {
	be.PutUint16(b[0:], version)
	be.PutUint16(b[2:], uint16(n))
	be.PutUint32(b[4:], SysUptime)
	be.PutUint32(b[8:], UnixSecs)
	be.PutUint32(b[12:], 0)
	be.PutUint32(b[16:], 5000) // flow sequence
	if version != 7 {
		b[20], b[21] = 1, 2 // engine type, engine ID
	}
}

// V1 returns a v1 datagram of n records FlowN(0..n-1).
func V1(n int) []byte {
	b := make([]byte, 16+48*n)
	be.PutUint16(b[0:], 1)
	be.PutUint16(b[2:], uint16(n))
	be.PutUint32(b[4:], SysUptime)
	be.PutUint32(b[8:], UnixSecs)
	for i := range n {
		r := b[16+48*i:]
		f := FlowN(i)
		copy(r[0:], f.Src.AsSlice())
		copy(r[4:], f.Dst.AsSlice())
		copy(r[8:], f.NextHop.AsSlice())
		be.PutUint16(r[12:], f.In)
		be.PutUint16(r[14:], f.Out)
		be.PutUint32(r[16:], f.Packets)
		be.PutUint32(r[20:], f.Octets)
		be.PutUint32(r[24:], f.First)
		be.PutUint32(r[28:], f.Last)
		be.PutUint16(r[32:], f.SrcPort)
		be.PutUint16(r[34:], f.DstPort)
		r[38] = f.Proto
		r[39] = f.ToS
		r[40] = f.TCPFlags
	}
	return b
}

// V5 returns a v5 datagram of n records FlowN(0..n-1), engine 1/2,
// sequence 5000, no sampling.
func V5(n int) []byte {
	b := make([]byte, 24+48*n)
	Header24(b, 5, n)
	for i := range n {
		PutV5Layout(b[24+48*i:], FlowN(i))
	}
	return b
}

// V6 is V5 with 52-byte v6 records: in_encaps i%7, out_encaps
// 8+i%7, peer next hop 10.4.i.4.
func V6(n int) []byte {
	b := make([]byte, 24+52*n)
	Header24(b, 6, n)
	for i := range n {
		r := b[24+52*i:]
		PutV5Layout(r, FlowN(i))
		r[46] = byte(i % 7)
		r[47] = byte(8 + i%7)
		copy(r[48:], []byte{10, 4, byte(i), 4})
	}
	return b
}

// V7 is V5 with 52-byte v7 records: flags i%2, field flags
// 0x100+i, router shortcut 10.5.i.5.
func V7(n int) []byte {
	b := make([]byte, 24+52*n)
	Header24(b, 7, n)
	for i := range n {
		r := b[24+52*i:]
		PutV5Layout(r, FlowN(i))
		r[36] = byte(i % 2)
		be.PutUint16(r[46:], uint16(0x100+i))
		copy(r[48:], []byte{10, 5, byte(i), 5})
	}
	return b
}

// TemplateID is the template ID of the v9 and IPFIX builders.
const TemplateID = 256

// Field is a field specifier for the builders.
type Field struct {
	ID, Length uint16 // element ID (without the enterprise bit) and length
	PEN        uint32 // enterprise number; non-zero sets the enterprise bit (IPFIX)
}

// V9Fields is the 18-field template of V9Template, in v9 types.
var V9Fields = []Field{
	{8, 4, 0}, {12, 4, 0}, {15, 4, 0}, {10, 2, 0}, {14, 2, 0}, {2, 4, 0}, {1, 4, 0},
	{22, 4, 0}, {21, 4, 0}, {7, 2, 0}, {11, 2, 0}, {6, 1, 0}, {4, 1, 0}, {5, 1, 0},
	{16, 2, 0}, {17, 2, 0}, {9, 1, 0}, {13, 1, 0},
}

// IPFIXFields is the same template in IPFIX IEs, with
// flowStartMilliseconds/flowEndMilliseconds (152/153) for the uptimes and
// 4-byte interfaces and AS numbers.
var IPFIXFields = []Field{
	{8, 4, 0}, {12, 4, 0}, {15, 4, 0}, {10, 4, 0}, {14, 4, 0}, {2, 8, 0}, {1, 8, 0},
	{152, 8, 0}, {153, 8, 0}, {7, 2, 0}, {11, 2, 0}, {6, 1, 0}, {4, 1, 0}, {5, 1, 0},
	{16, 4, 0}, {17, 4, 0}, {9, 1, 0}, {13, 1, 0},
}

// PutField writes field id of flow f in length bytes.
func PutField(b []byte, id, length uint16, f TestFlow) int {
	var v uint64
	switch id {
	case 8:
		return copy(b, f.Src.AsSlice())
	case 12:
		return copy(b, f.Dst.AsSlice())
	case 15:
		return copy(b, f.NextHop.AsSlice())
	case 10:
		v = uint64(f.In)
	case 14:
		v = uint64(f.Out)
	case 2:
		v = uint64(f.Packets)
	case 1:
		v = uint64(f.Octets)
	case 22:
		v = uint64(f.First)
	case 21:
		v = uint64(f.Last)
	case 152:
		v = uint64(f.Start().UnixMilli())
	case 153:
		v = uint64(f.End().UnixMilli())
	case 7:
		v = uint64(f.SrcPort)
	case 11:
		v = uint64(f.DstPort)
	case 6:
		v = uint64(f.TCPFlags)
	case 4:
		v = uint64(f.Proto)
	case 5:
		v = uint64(f.ToS)
	case 16:
		v = uint64(f.SrcAS)
	case 17:
		v = uint64(f.DstAS)
	case 9:
		v = uint64(f.SrcMask)
	case 13:
		v = uint64(f.DstMask)
	}
	for i := int(length) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return int(length)
}

// FlowRecords encodes FlowN(0..n-1) with fields.
func FlowRecords(fields []Field, n int) []byte {
	var out []byte
	rec := make([]byte, 0, 64)
	for i := range n {
		rec = rec[:0]
		for _, fl := range fields {
			l := len(rec)
			rec = append(rec, make([]byte, fl.Length)...)
			PutField(rec[l:], fl.ID, fl.Length, FlowN(i))
		}
		out = append(out, rec...)
	}
	return out
}

// set returns a v9 flowset or IPFIX set: id, length, body, zero padding to
// a multiple of 4 (pad) or none.
func Set(id uint16, body []byte, pad bool) []byte {
	n := 4 + len(body)
	if pad {
		n = (n + 3) &^ 3
	}
	b := make([]byte, n)
	be.PutUint16(b, id)
	be.PutUint16(b[2:], uint16(n))
	copy(b[4:], body)
	return b
}

// TemplateRecord returns a (v9 or IPFIX) template record. A field with a
// non-zero pen gets the enterprise bit and the PEN (IPFIX).
func TemplateRecord(id uint16, fields ...Field) []byte {
	b := be.AppendUint16(nil, id)
	b = be.AppendUint16(b, uint16(len(fields)))
	for _, f := range fields {
		if f.PEN != 0 {
			b = be.AppendUint16(b, f.ID|0x8000)
			b = be.AppendUint16(b, f.Length)
			b = be.AppendUint32(b, f.PEN)
			continue
		}
		b = be.AppendUint16(b, f.ID)
		b = be.AppendUint16(b, f.Length)
	}
	return b
}

// V9Packet returns a v9 datagram of the builders' header, source ID
// sourceID, sequence seq and the given flowsets. The header count is the
// number of flowsets (exporters disagree; the decoder ignores it).
func V9Packet(sourceID, seq uint32, flowsets ...[]byte) []byte {
	b := make([]byte, 20)
	be.PutUint16(b[0:], 9)
	be.PutUint16(b[2:], uint16(len(flowsets)))
	be.PutUint32(b[4:], SysUptime)
	be.PutUint32(b[8:], UnixSecs)
	be.PutUint32(b[12:], seq)
	be.PutUint32(b[16:], sourceID)
	for _, fs := range flowsets {
		b = append(b, fs...)
	}
	return b
}

// V9Template returns a v9 datagram (source ID 1) defining template 256
// of the 18 fields of V9Fields.
func V9Template() []byte {
	return V9Packet(1, 1, Set(0, TemplateRecord(TemplateID, V9Fields...), false))
}

// V9Data returns a v9 datagram (source ID 1) with one data flowset of n
// records of template 256 (FlowN(0..n-1)).
func V9Data(n int) []byte {
	return V9Packet(1, 2, Set(TemplateID, FlowRecords(V9Fields, n), true))
}

// V9 returns V9Template's template and V9Data's data in one
// datagram.
func V9(n int) []byte {
	return V9Packet(1, 2,
		Set(0, TemplateRecord(TemplateID, V9Fields...), false),
		Set(TemplateID, FlowRecords(V9Fields, n), true))
}

// IPFIXTemplate returns an IPFIX message (domain 1) defining template
// 256 of IPFIXFields.
func IPFIXTemplate() []byte {
	return IPFIXMessage(1, 0, Set(2, TemplateRecord(TemplateID, IPFIXFields...), false))
}

// IPFIXData returns an IPFIX message (domain 1) with one data set of n
// records of template 256.
func IPFIXData(n int) []byte {
	return IPFIXMessage(1, 0, Set(TemplateID, FlowRecords(IPFIXFields, n), false))
}

// IPFIX returns IPFIXTemplate's template and IPFIXData's data
// in one message.
func IPFIX(n int) []byte {
	return IPFIXMessage(1, 0,
		Set(2, TemplateRecord(TemplateID, IPFIXFields...), false),
		Set(TemplateID, FlowRecords(IPFIXFields, n), false))
}

// V9OptionsTemplate returns a v9 options template record (RFC 3954 section
// 6.1): scope fields (their IDs are scope types) and option fields, the
// scope and option lengths in bytes.
func V9OptionsTemplate(id uint16, scope, opts []Field) []byte {
	b := be.AppendUint16(nil, id)
	b = be.AppendUint16(b, uint16(4*len(scope)))
	b = be.AppendUint16(b, uint16(4*len(opts)))
	for _, f := range append(append([]Field(nil), scope...), opts...) {
		b = be.AppendUint16(b, f.ID)
		b = be.AppendUint16(b, f.Length)
	}
	return b
}

// IPFIXOptionsTemplate returns an IPFIX options template record (RFC 7011
// section 3.4.2.2) whose first scopeCount fields are scope fields; fields
// with a PEN get the enterprise bit.
func IPFIXOptionsTemplate(id uint16, scopeCount int, fields ...Field) []byte {
	b := TemplateRecord(id, fields...)
	return append(b[:4], append(be.AppendUint16(nil, uint16(scopeCount)), b[4:]...)...)
}

// UintBytes encodes v big-endian in n bytes.
func UintBytes(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := n - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return b
}

// FixedText pads s with NULs to n bytes.
func FixedText(s string, n int) []byte {
	b := make([]byte, n)
	copy(b, s)
	return b
}

// VarText encodes s as an IPFIX variable-length field in the one-byte
// length form (RFC 7011 section 7); s must be shorter than 255 bytes.
func VarText(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// FlowRecordsWith encodes FlowN(0..n-1) with fields, each record followed
// by tail(i).
func FlowRecordsWith(fields []Field, n int, tail func(i int) []byte) []byte {
	all := FlowRecords(fields, n)
	size := len(all) / max(n, 1)
	var out []byte
	for i := range n {
		out = append(out, all[i*size:(i+1)*size]...)
		out = append(out, tail(i)...)
	}
	return out
}
