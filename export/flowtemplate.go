package export

import (
	"math"
	"net/netip"
	"slices"
	"time"

	"github.com/flowkit/netflow"
)

// FlowTemplate is a v9 or IPFIX data template compiled to encode Flow
// values: for each field of the template, the Flow value that fills it and
// how. A FlowTemplate is immutable and safe for concurrent use.
type FlowTemplate struct {
	t   *netflow.Template
	ops []fieldOp
	// recordLen is the length of every record (the template has no
	// variable-length field).
	recordLen int
	// sampler: the template has a sampler ID field (samplerId 48 or
	// selectorId 302), which the writer fills from its sampler table.
	sampler bool
	// uptime: the template has a time element counted from the
	// exporter's boot.
	uptime bool
	// sysInit: the template carries systemInitTimeMilliseconds itself.
	sysInit bool
}

// fieldOp is how one field of a record is written.
type fieldOp struct {
	off  uint16 // offset in the record
	src  source
	time timeKind
	n    uint16 // field length
	// family is what an address field takes: 4 or 16; 0 for others. A
	// field whose address is of the other family is written as zeros when
	// the template has an element of that family for the same value
	// (dual), and refused otherwise.
	family uint8
	dual   bool
}

// Context is what the encoding of a record depends on besides its flow.
type Context struct {
	// ExportTime is the export time of the message the record goes in, as
	// its header has it (v9 and IPFIX headers: whole seconds). Delta times
	// count back from it, and v9 uptimes from the header's uptime, which
	// is ExportTime - Boot.
	ExportTime time.Time
	// Boot is the exporter's boot time: uptimes count from it (IPFIX
	// flowStartSysUpTime counts from systemInitTimeMilliseconds, which the
	// exporter announces as Boot).
	Boot time.Time
	// SamplerID is the value of a samplerId (48) or selectorId (302) field.
	SamplerID uint64
}

// clock is a Context in the units the encoder uses.
type clock struct {
	version  uint16
	exportNs int64
	exportMs int64
	bootMs   int64
}

func (c *Context) clock(version uint16) clock {
	return clock{version: version, exportNs: c.ExportTime.UnixNano(), exportMs: c.ExportTime.UnixMilli(), bootMs: c.Boot.UnixMilli()}
}

// NewFlowTemplate compiles t, a v9 or IPFIX data template, for encoding
// Flow values. Every field must be one a Flow fills (the elements the
// decoder reads into Flow, exporterIPv4Address, exporterIPv6Address and
// exporterTransportPort from Flow.Exporter, systemInitTimeMilliseconds
// from Context.Boot, samplerId or selectorId from Context.SamplerID,
// paddingOctets), or an element that mappings map into a Flow field; the
// length must suit the value (4 or 16 bytes for an address as its element
// says, 6 for a MAC, 3 to 8 for an MPLS label stack section, 8 for the NTP
// times, 1 to 8 for integers). It fails with netflow.ErrMalformed
// otherwise; options templates and variable-length fields are written with
// Writer.WriteRecords instead.
func NewFlowTemplate(t *netflow.Template, mappings []netflow.FlowMapping) (*FlowTemplate, error) {
	if err := checkTemplate(t); err != nil {
		return nil, err
	}
	if t.Options {
		return nil, malformedErr("template %d is an options template: not filled from flows", t.ID)
	}
	ft := &FlowTemplate{t: t, ops: make([]fieldOp, len(t.Fields))}
	families := map[source]uint8{}
	for i, f := range t.Fields {
		e, ok := elementOf(f, t.Version, mappings)
		if !ok {
			return nil, malformedErr("template %d field %d: element %s is not filled from a Flow", t.ID, i, fieldName(f))
		}
		if f.Length == netflow.VariableLength || !e.lengthOK(f.Length, f.PEN != 0) {
			return nil, malformedErr("template %d field %d: element %s of length %d", t.ID, i, fieldName(f), f.Length)
		}
		op := fieldOp{off: uint16(ft.recordLen), src: e.src, time: e.time, n: f.Length}
		if isAddrSource(e.src) {
			op.family = 4
			if f.Length == 16 {
				op.family = 16
			}
			families[e.src] |= op.family
		}
		ft.ops[i] = op
		ft.recordLen += int(f.Length)
		switch {
		case e.src == srcSamplerID:
			ft.sampler = true
		case e.src == srcSystemInit:
			ft.sysInit = true
		case e.time == timeUptime:
			ft.uptime = true
		}
	}
	for i := range ft.ops {
		if op := &ft.ops[i]; op.family != 0 {
			op.dual = families[op.src] == 4|16
		}
	}
	return ft, nil
}

// elementOf returns what fills field f of a template of version: a
// mapping's Flow field first, then the built-in elements.
func elementOf(f netflow.TemplateField, version uint16, mappings []netflow.FlowMapping) (element, bool) {
	for _, m := range mappings {
		if m.PEN == f.PEN && m.ID == f.ID {
			if s, ok := fieldSources[m.Field]; ok {
				return element{src: s}, true
			}
		}
	}
	if f.PEN != 0 {
		return element{}, false
	}
	e, ok := ianaElements[f.ID]
	return e, ok
}

// fieldName names a field for errors.
func fieldName(f netflow.TemplateField) string {
	if f.PEN == 0 {
		if info, ok := netflow.LookupIANA(f.ID); ok {
			return info.Name
		}
		return itoa(uint64(f.ID))
	}
	return itoa(uint64(f.PEN)) + "." + itoa(uint64(f.ID))
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		if v /= 10; v == 0 {
			return string(b[i:])
		}
	}
}

// Template returns the template.
func (ft *FlowTemplate) Template() *netflow.Template { return ft.t }

// RecordLen returns the length of each record.
func (ft *FlowTemplate) RecordLen() int { return ft.recordLen }

// AppendRecord appends f as one data record of the template, with the
// times and sampler ID of c. Fields of the template that f does not know
// are written as zeros. Nothing is appended when it fails with ErrRange: a
// value wider than its field, an address of a family the template has no
// element for, a time its element cannot express (before 1970, an NTP time
// after 2036, an uptime more than 24.8 days from a v9 message's export
// time or outside 2^32 ms after an IPFIX exporter's boot, a delta after
// the export time).
func (ft *FlowTemplate) AppendRecord(dst []byte, f *netflow.Flow, c *Context) ([]byte, error) {
	clk := c.clock(ft.t.Version)
	return ft.appendRecord(dst, f, &clk, c.SamplerID)
}

func (ft *FlowTemplate) appendRecord(dst []byte, f *netflow.Flow, c *clock, sampler uint64) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, ft.recordLen)[:start+ft.recordLen]
	rec := dst[start:]
	if err := ft.putRecord(rec, f, c, sampler); err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// putRecord writes f into rec, a record's bytes, each field at its
// offset.
func (ft *FlowTemplate) putRecord(rec []byte, f *netflow.Flow, c *clock, sampler uint64) error {
	for i := range ft.ops {
		op := &ft.ops[i]
		b := rec[op.off : op.off+op.n]
		var v uint64
		switch op.src {
		case srcBytes:
			v = f.Bytes
		case srcPackets:
			v = f.Packets
		case srcProto:
			v = uint64(f.Proto)
		case srcToS:
			v = uint64(f.ToS)
		case srcTCPFlags:
			v = uint64(f.TCPFlags)
		case srcSrcPort:
			v = uint64(f.SrcPort)
		case srcDstPort:
			v = uint64(f.DstPort)
		case srcSrcMask:
			v = uint64(f.SrcMask)
		case srcDstMask:
			v = uint64(f.DstMask)
		case srcInIf:
			v = uint64(f.InIf)
		case srcOutIf:
			v = uint64(f.OutIf)
		case srcSrcAS:
			v = uint64(f.SrcAS)
		case srcDstAS:
			v = uint64(f.DstAS)
		case srcSamplingInterval:
			v = uint64(f.SamplingInterval)
		case srcSamplerID:
			v = sampler
		case srcVLAN:
			v = uint64(f.VLAN)
		case srcPostVLAN:
			v = uint64(f.PostVLAN)
		case srcEthType:
			v = uint64(f.EthType)
		case srcDirection:
			v = uint64(f.Direction)
		case srcEndReason:
			v = uint64(f.EndReason)
		case srcIPVersion:
			v = uint64(f.IPVersion)
		case srcICMPTypeCode:
			v = uint64(f.ICMPType)<<8 | uint64(f.ICMPCode)
		case srcICMPType:
			v = uint64(f.ICMPType)
		case srcICMPCode:
			v = uint64(f.ICMPCode)
		case srcInVRF:
			v = uint64(f.InVRF)
		case srcOutVRF:
			v = uint64(f.OutVRF)
		case srcPostNATSrcPort:
			v = uint64(f.PostNATSrcPort)
		case srcPostNATDstPort:
			v = uint64(f.PostNATDstPort)
		case srcExporterPort:
			v = uint64(f.Exporter.Port())
		case srcSystemInit:
			if c.bootMs < 0 {
				return rangeErr("system init time %d ms: before 1970", c.bootMs)
			}
			v = uint64(c.bootMs)
		case srcSrcAddr, srcDstAddr, srcNextHop, srcBGPNextHop, srcPostNATSrcAddr, srcPostNATDstAddr, srcExporterAddr:
			a, known := flowAddr(f, op.src)
			if known && !a.IsValid() {
				return rangeErr("an address Known has that is not valid (template %d field %d)", ft.t.ID, i)
			}
			if err := putAddrField(b, op, a); err != nil {
				return err
			}
			continue
		case srcSrcMAC:
			copy(b, f.SrcMAC[:])
			continue
		case srcDstMAC:
			copy(b, f.DstMAC[:])
			continue
		case srcMPLSLabel:
			if f.MPLSLabel > 0xfffff {
				return rangeErr("MPLS label %d: 20 bits", f.MPLSLabel)
			}
			// Label, traffic class 0, bottom of stack.
			b[0], b[1], b[2] = byte(f.MPLSLabel>>12), byte(f.MPLSLabel>>4), byte(f.MPLSLabel<<4)|1
			clear(b[3:])
			continue
		case srcStart, srcEnd:
			if err := putTime(b, op, f, c); err != nil {
				return err
			}
			continue
		case srcZero:
			clear(b)
			continue
		}
		if op.n < 8 && v>>(8*op.n) != 0 {
			return rangeErr("%d in a field of %d bytes (template %d field %d)", v, op.n, ft.t.ID, i)
		}
		putUint(b, v)
	}
	return nil
}

// putUint writes v into b, big-endian, in len(b) bytes (1 to 8; v fits).
func putUint(b []byte, v uint64) {
	switch len(b) {
	case 1:
		b[0] = byte(v)
	case 2:
		be.PutUint16(b, uint16(v))
	case 4:
		be.PutUint32(b, uint32(v))
	case 8:
		be.PutUint64(b, v)
	default:
		for i := len(b) - 1; i >= 0; i-- {
			b[i] = byte(v)
			v >>= 8
		}
	}
}

// flowAddr returns the address src names, and whether f's Known has it.
func flowAddr(f *netflow.Flow, src source) (netip.Addr, bool) {
	switch src {
	case srcSrcAddr:
		return f.SrcAddr, f.Known&netflow.FieldSrcAddr != 0
	case srcDstAddr:
		return f.DstAddr, f.Known&netflow.FieldDstAddr != 0
	case srcNextHop:
		return f.NextHop, f.Known&netflow.FieldNextHop != 0
	case srcBGPNextHop:
		return f.BGPNextHop, f.Known&netflow.FieldBGPNextHop != 0
	case srcPostNATSrcAddr:
		return f.PostNATSrcAddr, f.Known&netflow.FieldPostNATSrcAddr != 0
	case srcPostNATDstAddr:
		return f.PostNATDstAddr, f.Known&netflow.FieldPostNATDstAddr != 0
	}
	return f.Exporter.Addr(), false
}

// putAddrField writes an address field: the address if it is of the
// field's family, zeros if it is not valid or the template has another
// element of its family for it.
func putAddrField(b []byte, op *fieldOp, a netip.Addr) error {
	switch {
	case op.family == 4 && a.Is4():
		v := a.As4()
		copy(b, v[:])
	case op.family == 16 && a.Is6():
		v := a.As16()
		copy(b, v[:])
	case !a.IsValid() || op.dual:
		clear(b)
	default:
		return rangeErr("address %v in a field of %d bytes", a, op.family)
	}
	return nil
}

// NTP era 0 starts 2208988800 s before 1970 and ends in 2036.
const (
	ntpEpochOffset = 2208988800
	maxNTPSeconds  = math.MaxUint32 - ntpEpochOffset
)

// putTime writes the start or end time of f into b by the element's kind.
// A time f does not know is written as the export time (v1-v7 style), so
// that no field holds a made-up value.
func putTime(b []byte, op *fieldOp, f *netflow.Flow, c *clock) error {
	t, known := f.Start, f.Known&netflow.FieldStart != 0
	what := "start"
	if op.src == srcEnd {
		t, known, what = f.End, f.Known&netflow.FieldEnd != 0, "end"
	}
	ns := c.exportNs
	if known {
		if t.Before(unixEpoch) || t.After(maxUnixNano) {
			return rangeErr("%s %v: not between 1970 and 2262", what, t)
		}
		ns = t.UnixNano()
	}
	var v uint64
	switch op.time {
	case timeSeconds:
		v = uint64(ns / 1e9)
	case timeMillis:
		v = uint64(ns / 1e6)
	case timeMicros, timeNanos:
		secs := ns / 1e9
		if secs > maxNTPSeconds {
			return rangeErr("%s %v: after the NTP era of 2036", what, t)
		}
		sub := uint64(ns % 1e9)
		var frac uint64
		if op.time == timeNanos {
			// The smallest fraction a decoder reads back as sub.
			frac = (sub<<32 + 1e9 - 1) / 1e9
		} else {
			// Microseconds: the low 11 bits of the fraction are to be
			// ignored (RFC 7011 section 6.1.9), so the smallest multiple
			// of 2048 at or above the microsecond.
			us := sub / 1e3
			frac = (us<<32 + 1e6 - 1) / 1e6
			frac = (frac + 0x7ff) &^ 0x7ff
		}
		be.PutUint32(b, uint32(secs+ntpEpochOffset))
		be.PutUint32(b[4:], uint32(frac))
		return nil
	case timeDeltaMicros:
		d := c.exportNs - ns
		if d < 0 {
			return rangeErr("%s %v: after the export time", what, t)
		}
		// Rounded up: the decoder's time is then the flow's, cut to the
		// microsecond.
		v = uint64((d + 999) / 1e3)
	case timeUptime:
		ms := ns / 1e6
		if c.version == 9 {
			// Against the header's uptime: the difference to the export
			// time is read as a signed 32-bit number.
			if d := c.exportMs - ms; d >= 1<<31 || d <= -1<<31 {
				return rangeErr("%s %v: more than 24.8 days from the export time", what, t)
			}
			v = uint64(uint32(ms - c.bootMs))
		} else {
			if d := ms - c.bootMs; d < 0 || d > math.MaxUint32 {
				return rangeErr("%s %v: not within 2^32 ms after the exporter's boot", what, t)
			}
			v = uint64(ms - c.bootMs)
		}
	}
	if op.n < 8 && v>>(8*op.n) != 0 {
		return rangeErr("%s %v: %d in a field of %d bytes", what, t, v, op.n)
	}
	putUint(b, v)
	return nil
}

// maxUnixNano is the last time with an int64 nanosecond count.
var maxUnixNano = time.Unix(0, math.MaxInt64)
