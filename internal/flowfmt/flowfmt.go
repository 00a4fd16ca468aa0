// Package flowfmt formats decoded flows and options records for the
// example programs: JSON Lines objects with a stable key order, and
// fixed-width table rows for people to read.
//
// Every function appends to a caller-owned byte slice and returns it, so a
// program can reuse one line buffer; none appends a trailing newline.
package flowfmt

import (
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/flowkit/netflow"
)

// TimeLayout is how times are written in JSON: RFC 3339 in UTC with all
// nine fractional digits, so that lines sort and compare as text.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FlowKeys lists the JSON keys of a flow object in the order AppendFlowJSON
// writes them. Only exporter and version are always present; the others
// appear when the flow's Known mask has them, and fields when a record is
// given.
var FlowKeys = []string{
	"exporter", "version", "domain", "sequence",
	"src_addr", "dst_addr", "next_hop", "src_port", "dst_port",
	"proto", "tos", "tcp_flags", "packets", "bytes", "start", "end",
	"in_if", "out_if", "src_as", "dst_as", "src_mask", "dst_mask",
	"sampling_interval", "fields",
}

// AppendFlowJSON appends f as one JSON object. Keys follow FlowKeys; a key
// is left out when f.Known does not have its field. rec, the v9 or IPFIX
// record the flow came from, adds a "fields" object with every value of the
// record (see AppendFieldsJSON); nil adds none.
func AppendFlowJSON(dst []byte, f *netflow.Flow, rec *netflow.Record) []byte {
	k := f.Known
	dst = append(dst, `{"exporter":`...)
	dst = AppendJSONString(dst, f.Exporter.String())
	dst = appendUintKey(dst, "version", uint64(f.Version))
	if k.Has(netflow.FieldDomain) {
		dst = appendUintKey(dst, "domain", uint64(f.Domain))
	}
	if k.Has(netflow.FieldSequence) {
		dst = appendUintKey(dst, "sequence", uint64(f.Sequence))
	}
	if k.Has(netflow.FieldSrcAddr) {
		dst = appendAddrKey(dst, "src_addr", f.SrcAddr)
	}
	if k.Has(netflow.FieldDstAddr) {
		dst = appendAddrKey(dst, "dst_addr", f.DstAddr)
	}
	if k.Has(netflow.FieldNextHop) {
		dst = appendAddrKey(dst, "next_hop", f.NextHop)
	}
	if k.Has(netflow.FieldSrcPort) {
		dst = appendUintKey(dst, "src_port", uint64(f.SrcPort))
	}
	if k.Has(netflow.FieldDstPort) {
		dst = appendUintKey(dst, "dst_port", uint64(f.DstPort))
	}
	if k.Has(netflow.FieldProto) {
		dst = appendUintKey(dst, "proto", uint64(f.Proto))
	}
	if k.Has(netflow.FieldToS) {
		dst = appendUintKey(dst, "tos", uint64(f.ToS))
	}
	if k.Has(netflow.FieldTCPFlags) {
		dst = appendUintKey(dst, "tcp_flags", uint64(f.TCPFlags))
	}
	if k.Has(netflow.FieldPackets) {
		dst = appendUintKey(dst, "packets", f.Packets)
	}
	if k.Has(netflow.FieldBytes) {
		dst = appendUintKey(dst, "bytes", f.Bytes)
	}
	if k.Has(netflow.FieldStart) {
		dst = appendTimeKey(dst, "start", f.Start)
	}
	if k.Has(netflow.FieldEnd) {
		dst = appendTimeKey(dst, "end", f.End)
	}
	if k.Has(netflow.FieldInIf) {
		dst = appendUintKey(dst, "in_if", uint64(f.InIf))
	}
	if k.Has(netflow.FieldOutIf) {
		dst = appendUintKey(dst, "out_if", uint64(f.OutIf))
	}
	if k.Has(netflow.FieldSrcAS) {
		dst = appendUintKey(dst, "src_as", uint64(f.SrcAS))
	}
	if k.Has(netflow.FieldDstAS) {
		dst = appendUintKey(dst, "dst_as", uint64(f.DstAS))
	}
	if k.Has(netflow.FieldSrcMask) {
		dst = appendUintKey(dst, "src_mask", uint64(f.SrcMask))
	}
	if k.Has(netflow.FieldDstMask) {
		dst = appendUintKey(dst, "dst_mask", uint64(f.DstMask))
	}
	if k.Has(netflow.FieldSamplingInterval) {
		dst = appendUintKey(dst, "sampling_interval", uint64(f.SamplingInterval))
	}
	if rec != nil {
		dst = append(dst, `,"fields":`...)
		dst = AppendFieldsJSON(dst, rec)
	}
	return append(dst, '}')
}

// AppendOptionsJSON appends an options data record as one JSON object with
// the keys options (always true), exporter, version, domain, template_id and
// fields, in that order.
func AppendOptionsJSON(dst []byte, exporter netip.AddrPort, version uint16, domain uint32, rec *netflow.Record) []byte {
	dst = append(dst, `{"options":true,"exporter":`...)
	dst = AppendJSONString(dst, exporter.String())
	dst = appendUintKey(dst, "version", uint64(version))
	dst = appendUintKey(dst, "domain", uint64(domain))
	dst = appendUintKey(dst, "template_id", uint64(rec.Template.ID))
	dst = append(dst, `,"fields":`...)
	dst = AppendFieldsJSON(dst, rec)
	return append(dst, '}')
}

// AppendFieldsJSON appends the values of rec as a JSON object in template
// order: element name (Value.Name) to value text (Value.String). A name
// that occurs again in the same record gets "#2", "#3", ... appended, so
// that no key repeats.
func AppendFieldsJSON(dst []byte, rec *netflow.Record) []byte {
	dst = append(dst, '{')
	first := true
	forEachField(rec, func(name, value string) {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendJSONString(dst, name)
		dst = append(dst, ':')
		dst = AppendJSONString(dst, value)
	})
	return append(dst, '}')
}

// forEachField calls fn with the unique name and the text of every value of
// rec.
func forEachField(rec *netflow.Record, fn func(name, value string)) {
	var seen []string
	for v := range rec.All() {
		name := v.Name()
		n := 1
		for _, s := range seen {
			if s == name {
				n++
			}
		}
		seen = append(seen, name)
		if n > 1 {
			name += "#" + strconv.Itoa(n)
		}
		fn(name, v.String())
	}
}

// AppendJSONString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 replaced by U+FFFD.
func AppendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

func appendKey(dst []byte, key string) []byte {
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

func appendUintKey(dst []byte, key string, n uint64) []byte {
	return strconv.AppendUint(appendKey(dst, key), n, 10)
}

func appendAddrKey(dst []byte, key string, a netip.Addr) []byte {
	dst = append(appendKey(dst, key), '"')
	dst = a.AppendTo(dst)
	return append(dst, '"')
}

func appendTimeKey(dst []byte, key string, t time.Time) []byte {
	dst = append(appendKey(dst, key), '"')
	dst = t.UTC().AppendFormat(dst, TimeLayout)
	return append(dst, '"')
}
