package flowfmt

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/flowkit/netflow"
)

// TableTimeLayout is how times are written in table rows: UTC, to the
// millisecond.
const TableTimeLayout = "2006-01-02 15:04:05.000"

// Unknown stands in a table row for a value that the flow does not carry.
const Unknown = "-"

// column is one column of the table: its title, its minimum width and
// whether values are aligned right. A longer value widens its row only.
type column struct {
	title string
	width int
	right bool
}

var columns = []column{
	{"VER", 3, false},
	{"START", len(TableTimeLayout), false},
	{"DURATION", 9, true},
	{"PROTO", 5, false},
	{"SRC", 21, false},
	{"DST", 21, false},
	{"PACKETS", 9, true},
	{"BYTES", 12, true},
	{"FLAGS", 8, false},
	{"IN", 5, true},
	{"OUT", 5, true},
	{"EXPORTER", 0, false},
}

// AppendTableHeader appends the title line of the table that
// AppendFlowRow writes rows of.
func AppendTableHeader(dst []byte) []byte {
	for i, c := range columns {
		dst = appendCell(dst, i, c.title)
	}
	return dst
}

// AppendFlowRow appends f as one table row: version ("sf5" for sFlow v5),
// start time, duration,
// protocol, source and destination address:port, packets, bytes, TCP flags,
// input and output interface, exporter. A value f.Known lacks is written
// as Unknown.
func AppendFlowRow(dst []byte, f *netflow.Flow) []byte {
	k := f.Known
	var tmp [64]byte
	cell := func(i int, b []byte) { dst = appendCell(dst, i, string(b)) }

	if f.ExportProtocol == netflow.ExportSFlow {
		dst = appendCell(dst, 0, "sf5") // not NetFlow v5
	} else {
		dst = appendCell(dst, 0, strconv.Itoa(int(f.Version)))
	}
	if k.Has(netflow.FieldStart) {
		cell(1, f.Start.UTC().AppendFormat(tmp[:0], TableTimeLayout))
	} else {
		dst = appendCell(dst, 1, Unknown)
	}
	if k.Has(netflow.FieldStart | netflow.FieldEnd) {
		dst = appendCell(dst, 2, FormatDuration(f.End.Sub(f.Start)))
	} else {
		dst = appendCell(dst, 2, Unknown)
	}
	if k.Has(netflow.FieldProto) {
		dst = appendCell(dst, 3, netflow.ProtoName(f.Proto))
	} else {
		dst = appendCell(dst, 3, Unknown)
	}
	cell(4, appendEndpoint(tmp[:0], f.SrcAddr, f.SrcPort, k.Has(netflow.FieldSrcAddr), k.Has(netflow.FieldSrcPort)))
	cell(5, appendEndpoint(tmp[:0], f.DstAddr, f.DstPort, k.Has(netflow.FieldDstAddr), k.Has(netflow.FieldDstPort)))
	dst = appendCell(dst, 6, uintOr(f.Packets, k.Has(netflow.FieldPackets)))
	dst = appendCell(dst, 7, uintOr(f.Bytes, k.Has(netflow.FieldBytes)))
	if k.Has(netflow.FieldTCPFlags) {
		dst = appendCell(dst, 8, netflow.FormatTCPFlags(f.TCPFlags))
	} else {
		dst = appendCell(dst, 8, Unknown)
	}
	dst = appendCell(dst, 9, uintOr(uint64(f.InIf), k.Has(netflow.FieldInIf)))
	dst = appendCell(dst, 10, uintOr(uint64(f.OutIf), k.Has(netflow.FieldOutIf)))
	cell(11, f.Exporter.AppendTo(tmp[:0]))
	return dst
}

// AppendOptionsRow appends an options data record as one compact line that
// stands out from flow rows:
//
//	# options 9 192.0.2.1:2055 domain 0 template 256: name=value name=value
func AppendOptionsRow(dst []byte, exporter netip.AddrPort, version uint16, domain uint32, rec *netflow.Record) []byte {
	dst = append(dst, "# options "...)
	dst = strconv.AppendUint(dst, uint64(version), 10)
	dst = append(dst, ' ')
	dst = exporter.AppendTo(dst)
	dst = append(dst, " domain "...)
	dst = strconv.AppendUint(dst, uint64(domain), 10)
	dst = append(dst, " template "...)
	dst = strconv.AppendUint(dst, uint64(rec.Template.ID), 10)
	dst = append(dst, ':')
	forEachField(rec, func(name, value string) {
		dst = append(dst, ' ')
		dst = append(dst, name...)
		dst = append(dst, '=')
		dst = strconv.AppendQuote(dst, value)
	})
	return dst
}

// FormatDuration writes d in seconds with millisecond precision ("1.020s").
func FormatDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

func appendEndpoint(dst []byte, a netip.Addr, port uint16, hasAddr, hasPort bool) []byte {
	switch {
	case hasAddr && hasPort:
		return netip.AddrPortFrom(a, port).AppendTo(dst)
	case hasAddr:
		return a.AppendTo(dst)
	case hasPort:
		dst = append(dst, Unknown+":"...)
		return strconv.AppendUint(dst, uint64(port), 10)
	}
	return append(dst, Unknown...)
}

func uintOr(n uint64, known bool) string {
	if !known {
		return Unknown
	}
	return strconv.FormatUint(n, 10)
}

// appendCell appends column i's value, padded to the column's width and
// preceded by a space unless it is the first column.
func appendCell(dst []byte, i int, s string) []byte {
	c := columns[i]
	if i > 0 {
		dst = append(dst, ' ')
	}
	pad := c.width - len(s)
	if c.right {
		for ; pad > 0; pad-- {
			dst = append(dst, ' ')
		}
		return append(dst, s...)
	}
	dst = append(dst, s...)
	if i == len(columns)-1 {
		return dst
	}
	for ; pad > 0; pad-- {
		dst = append(dst, ' ')
	}
	return dst
}
