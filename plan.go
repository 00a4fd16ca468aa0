package netflow

import (
	"encoding/binary"
	"math"
	"net/netip"
	"slices"
	"time"
)

// A flowPlan says, for one template, which field fills which Flow field. It
// is compiled once when the template is made, so that filling a Flow is a
// short loop over the chosen fields, not a lookup per field.
type flowPlan struct {
	ops        []planOp   // fields that fill Flow fields, in field order
	fixed      fixedPlan  // the same for a fixed-length template
	fixedOK    bool       // fixed is usable: fixed length, integer widths 1, 2, 4, 8
	fastTimes  bool       // start and end are both uptimes or both ms, widths 1, 2, 4, 8
	start, end timeOp     // where Start and End come from
	sysInit    int        // index of systemInitTimeMilliseconds, -1 if none
	sampler    int        // index of the sampler ID field, -1 if none
	known      FlowFields // fields the plan always fills
}

// fixedPlan is the plan of a fixed-length template as straight-line code:
// one location per Flow field, each a well-predicted branch per record
// instead of a loop over ops with a switch.
type fixedPlan struct {
	bytes, packets, proto, tos, tcpFlags loc
	srcPort, dstPort, srcMask, dstMask   loc
	inIf, outIf, srcAS, dstAS, sampling  loc
	srcAddr, dstAddr, nextHop            [2]loc // in field order; see setAddr
}

// addrSlot returns the two locations of an address destination, nil for
// any other destination.
func (p *fixedPlan) addrSlot(d flowDest) *[2]loc {
	switch d {
	case destSrcAddr:
		return &p.srcAddr
	case destDstAddr:
		return &p.dstAddr
	case destNextHop:
		return &p.nextHop
	}
	return nil
}

// slot returns the location of an integer destination.
func (p *fixedPlan) slot(d flowDest) *loc {
	return [destCount]*loc{
		destBytes: &p.bytes, destPackets: &p.packets, destProto: &p.proto, destToS: &p.tos,
		destTCPFlags: &p.tcpFlags, destSrcPort: &p.srcPort, destDstPort: &p.dstPort,
		destSrcMask: &p.srcMask, destDstMask: &p.dstMask, destInIf: &p.inIf, destOutIf: &p.outIf,
		destSrcAS: &p.srcAS, destDstAS: &p.dstAS, destSamplingInterval: &p.sampling,
	}[d]
}

// loc is where a field sits in a fixed-length record; n == 0: absent.
type loc struct {
	off uint16
	n   uint16
}

type planOp struct {
	off   int // offset in a fixed-length record
	len   int
	field int // index in Template.Fields
	dest  flowDest
}

// timeOp is the field a time comes from and how to read it.
type timeOp struct {
	field int
	off   int // offset in a fixed-length record
	len   int
	kind  timeKind
}

type timeKind uint8

const (
	timeNone timeKind = iota
	timeSeconds
	timeMillis
	timeMicros // NTP format
	timeNanos  // NTP format
	timeDeltaMicros
	timeUptime
)

// flowDest is a Flow field a plan op fills.
type flowDest uint8

const (
	destNone flowDest = iota
	destBytes
	destPackets
	destProto
	destToS
	destTCPFlags
	destSrcPort
	destDstPort
	destSrcAddr
	destDstAddr
	destNextHop
	destSrcMask
	destDstMask
	destInIf
	destOutIf
	destSrcAS
	destDstAS
	destSamplingInterval
	destCount
)

// destCandidates lists, per destination, the IANA elements (and v9 types,
// which share IDs 1-127) that may fill it, best first. An exporter that sends
// only a later candidate (the post- counters, NSEL initiator counts, total
// counts) still fills the field.
var destCandidates = [destCount][]uint16{
	destBytes:            {1, 85, 23, 231, 352},
	destPackets:          {2, 86, 24, 298, 353},
	destProto:            {4},
	destToS:              {5, 55},
	destTCPFlags:         {6},
	destSrcPort:          {7, 180, 182},
	destDstPort:          {11, 181, 183},
	destSrcAddr:          {8, 27},
	destDstAddr:          {12, 28},
	destNextHop:          {15, 62, 18, 63},
	destSrcMask:          {9, 29},
	destDstMask:          {13, 30},
	destInIf:             {10, 252},
	destOutIf:            {14, 253},
	destSrcAS:            {16},
	destDstAS:            {17},
	destSamplingInterval: {34, 50},
}

var destKnown = [destCount]FlowFields{
	destBytes: FieldBytes, destPackets: FieldPackets, destProto: FieldProto, destToS: FieldToS,
	destTCPFlags: FieldTCPFlags, destSrcPort: FieldSrcPort, destDstPort: FieldDstPort,
	destSrcAddr: FieldSrcAddr, destDstAddr: FieldDstAddr, destNextHop: FieldNextHop,
	destSrcMask: FieldSrcMask, destDstMask: FieldDstMask, destInIf: FieldInIf, destOutIf: FieldOutIf,
	destSrcAS: FieldSrcAS, destDstAS: FieldDstAS, destSamplingInterval: FieldSamplingInterval,
}

// startSources and endSources list the elements a flow's start and end may
// come from, best first: absolute times, then deltas before the export
// time, then uptimes (v9: against the header's uptime; IPFIX: against the
// system init time from the record or the exporter's options data).
var (
	startSources = []struct {
		id   uint16
		kind timeKind
	}{{152, timeMillis}, {154, timeMicros}, {156, timeNanos}, {150, timeSeconds}, {158, timeDeltaMicros}, {22, timeUptime}}
	endSources = []struct {
		id   uint16
		kind timeKind
	}{{153, timeMillis}, {155, timeMicros}, {157, timeNanos}, {151, timeSeconds}, {159, timeDeltaMicros}, {21, timeUptime}}
)

// fieldLengthOK reports whether a field of length n can fill dest.
func fieldLengthOK(d flowDest, n uint16, id uint16) bool {
	switch d {
	case destSrcAddr, destDstAddr, destNextHop:
		if id == 27 || id == 28 || id == 62 || id == 63 {
			return n == 16
		}
		return n == 4
	}
	return n >= 1 && n <= 8
}

func timeLengthOK(k timeKind, n uint16) bool {
	if k == timeMicros || k == timeNanos {
		return n == 8
	}
	return n >= 1 && n <= 8
}

func compilePlan(t *Template) flowPlan {
	p := flowPlan{sampler: -1, sysInit: -1}
	if t.Options {
		return p
	}
	// First occurrence of each (enterprise-free) ID, in field order.
	first := make(map[uint16]int, len(t.Fields))
	for i, f := range t.Fields {
		if f.PEN != 0 || f.Length == VariableLength || (t.fixedLen == 0 && i >= maxPlanFields) {
			continue
		}
		if _, ok := first[f.ID]; !ok {
			first[f.ID] = i
		}
		if (f.ID == 48 || f.ID == 302) && p.sampler < 0 && f.Length <= 8 {
			p.sampler = i
		}
		if f.ID == 160 && p.sysInit < 0 && f.Length <= 8 {
			p.sysInit = i
		}
	}
	off := func(i int) int {
		if t.fixedLen > 0 {
			return t.offsets[i]
		}
		return 0
	}
	for d := flowDest(1); d < destCount; d++ {
		for _, id := range destCandidates[d] {
			i, ok := first[id]
			if !ok || !fieldLengthOK(d, t.Fields[i].Length, id) {
				continue
			}
			p.ops = append(p.ops, planOp{off: off(i), len: int(t.Fields[i].Length), field: i, dest: d})
			p.known |= destKnown[d]
			if !isAddrDest(d) {
				break
			}
			// A template may carry the IPv4 and the IPv6 element of an
			// address (Procera does) and fill one per record: both are
			// compiled, and the first address that is not unspecified
			// wins (see setAddr).
		}
	}
	slices.SortFunc(p.ops, func(a, b planOp) int { return a.field - b.field })
	if t.fixedLen > 0 {
		p.fixedOK = true
		for _, op := range p.ops {
			if !isAddrDest(op.dest) && op.len != 1 && op.len != 2 && op.len != 4 && op.len != 8 {
				p.fixedOK = false
			}
			l := loc{off: uint16(op.off), n: uint16(op.len)}
			if pair := p.fixed.addrSlot(op.dest); pair != nil {
				if pair[0].n == 0 {
					pair[0] = l
				} else if pair[1].n == 0 {
					pair[1] = l
				}
			} else {
				*p.fixed.slot(op.dest) = l
			}
		}
	}
	pick := func(sources []struct {
		id   uint16
		kind timeKind
	}) timeOp {
		for _, s := range sources {
			if i, ok := first[s.id]; ok && timeLengthOK(s.kind, t.Fields[i].Length) {
				return timeOp{field: i, off: off(i), len: int(t.Fields[i].Length), kind: s.kind}
			}
		}
		return timeOp{}
	}
	p.start, p.end = pick(startSources), pick(endSources)
	std := func(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }
	p.fastTimes = p.start.kind == p.end.kind && (p.start.kind == timeUptime || p.start.kind == timeMillis) &&
		std(p.start.len) && std(p.end.len)
	return p
}

// flowContext is what a record needs besides its bytes to become a Flow.
type flowContext struct {
	exporter   netip.AddrPort
	version    uint16
	domain     uint32
	sequence   uint32
	exportTime time.Time // UTC
	exportNs   int64     // exportTime in ns since 1970
	sysUptime  uint32    // v9: uptime at export, ms
	state      *flowState
}

// fillFlow fills f from one record of template t.
func fillFlow(f *Flow, t *Template, rec []byte, ctx *flowContext) {
	if t.plan.fixedOK {
		fillFixedFlow(f, t, rec, ctx)
		return
	}
	if t.fixedLen > 0 {
		fillFlowAt(f, t, rec, ctx, nil)
		return
	}
	var offs [maxPlanFields]int
	if !fieldOffsets(t, rec, offs[:]) {
		*f = Flow{Exporter: ctx.exporter, Version: ctx.version, Domain: ctx.domain, Sequence: ctx.sequence, Known: FieldDomain | FieldSequence}
		return
	}
	fillFlowAt(f, t, rec, ctx, offs[:])
}

// fillFixedFlow fills f from a record of a fixed-length template. It gives
// what fillFlowAt gives with the template's offsets, faster: every field is
// stored once, straight-line, without zeroing f first.
func fillFixedFlow(f *Flow, t *Template, rec []byte, ctx *flowContext) {
	p := &t.plan.fixed
	rec = rec[:t.fixedLen]
	f.Exporter = ctx.exporter
	f.Version = ctx.version
	f.Domain = ctx.domain
	f.Sequence = ctx.sequence
	f.SrcAddr = readAddr(rec, p.srcAddr)
	f.DstAddr = readAddr(rec, p.dstAddr)
	f.NextHop = readAddr(rec, p.nextHop)
	f.SrcPort = uint16(readUint(rec, p.srcPort))
	f.DstPort = uint16(readUint(rec, p.dstPort))
	f.Proto = uint8(readUint(rec, p.proto))
	f.ToS = uint8(readUint(rec, p.tos))
	f.TCPFlags = uint8(readUint(rec, p.tcpFlags))
	f.SrcMask = uint8(readUint(rec, p.srcMask))
	f.DstMask = uint8(readUint(rec, p.dstMask))
	f.Packets = readUint(rec, p.packets)
	f.Bytes = readUint(rec, p.bytes)
	f.InIf = uint32(readUint(rec, p.inIf))
	f.OutIf = uint32(readUint(rec, p.outIf))
	f.SrcAS = uint32(readUint(rec, p.srcAS))
	f.DstAS = uint32(readUint(rec, p.dstAS))
	f.SamplingInterval = uint32(readUint(rec, p.sampling))
	f.Known = FieldDomain | FieldSequence | t.plan.known
	if p.sampling.n != 0 && f.SamplingInterval == 0 {
		f.Known &^= FieldSamplingInterval
	}
	// The common time encodings, inline: v9 uptimes and IPFIX milliseconds.
	switch st, en := &t.plan.start, &t.plan.end; {
	case !t.plan.fastTimes:
		f.Start, f.End = time.Time{}, time.Time{}
		setTimes(f, t, rec, ctx, nil)
	case st.kind == timeUptime && ctx.version == 9:
		c := uptimeClock{exportNs: ctx.exportNs, uptime: ctx.sysUptime}
		f.Start = c.at(uint32(readUint(rec, loc{off: uint16(st.off), n: uint16(st.len)})))
		f.End = c.at(uint32(readUint(rec, loc{off: uint16(en.off), n: uint16(en.len)})))
		f.Known |= FieldStart | FieldEnd
	case st.kind == timeMillis:
		f.Start = time.UnixMilli(int64(readUint(rec, loc{off: uint16(st.off), n: uint16(st.len)}))).UTC()
		f.End = time.UnixMilli(int64(readUint(rec, loc{off: uint16(en.off), n: uint16(en.len)}))).UTC()
		f.Known |= FieldStart | FieldEnd
	default:
		f.Start, f.End = time.Time{}, time.Time{}
		setTimes(f, t, rec, ctx, nil)
	}
	setSampling(f, t, rec, ctx)
}

// readUint reads the unsigned integer at l: 1, 2, 4 or 8 bytes (a template
// with other widths keeps the ops path, see fixedOK).
func readUint(rec []byte, l loc) uint64 {
	switch l.n {
	case 0:
		return 0
	case 4:
		return uint64(binary.BigEndian.Uint32(rec[l.off:]))
	case 1:
		return uint64(rec[l.off])
	case 2:
		return uint64(binary.BigEndian.Uint16(rec[l.off:]))
	}
	return binary.BigEndian.Uint64(rec[l.off:])
}

// readAddr reads the address at l[0], or at l[1] if l[0]'s is unspecified
// (setAddr's rule); the zero Addr if there is none.
func readAddr(rec []byte, l [2]loc) netip.Addr {
	if l[0].n == 0 {
		return netip.Addr{}
	}
	a := addrOf(rec[l[0].off : l[0].off+l[0].n])
	if l[1].n != 0 && a.IsUnspecified() {
		a = addrOf(rec[l[1].off : l[1].off+l[1].n])
	}
	return a
}

// fillFlowAt fills f from a record whose field offsets are offs, or the
// template's fixed offsets when offs is nil.
func fillFlowAt(f *Flow, t *Template, rec []byte, ctx *flowContext, offs []int) {
	*f = Flow{
		Exporter: ctx.exporter,
		Version:  ctx.version,
		Domain:   ctx.domain,
		Sequence: ctx.sequence,
		Known:    FieldDomain | FieldSequence | t.plan.known,
	}
	plan := &t.plan
	for i := range plan.ops {
		op := &plan.ops[i]
		off := op.off
		if offs != nil {
			off = offs[op.field]
		}
		b := rec[off : off+op.len]
		switch op.dest {
		case destBytes:
			f.Bytes = beUint(b)
		case destPackets:
			f.Packets = beUint(b)
		case destProto:
			f.Proto = uint8(beUint(b))
		case destToS:
			f.ToS = uint8(beUint(b))
		case destTCPFlags:
			f.TCPFlags = uint8(beUint(b))
		case destSrcPort:
			f.SrcPort = uint16(beUint(b))
		case destDstPort:
			f.DstPort = uint16(beUint(b))
		case destSrcAddr:
			setAddr(&f.SrcAddr, b)
		case destDstAddr:
			setAddr(&f.DstAddr, b)
		case destNextHop:
			setAddr(&f.NextHop, b)
		case destSrcMask:
			f.SrcMask = uint8(beUint(b))
		case destDstMask:
			f.DstMask = uint8(beUint(b))
		case destInIf:
			f.InIf = uint32(beUint(b))
		case destOutIf:
			f.OutIf = uint32(beUint(b))
		case destSrcAS:
			f.SrcAS = uint32(beUint(b))
		case destDstAS:
			f.DstAS = uint32(beUint(b))
		case destSamplingInterval:
			if f.SamplingInterval = uint32(beUint(b)); f.SamplingInterval == 0 {
				f.Known &^= FieldSamplingInterval
			}
		}
	}
	finishFlow(f, t, rec, ctx, offs)
}

// finishFlow fills the times and the sampling interval of f.
func finishFlow(f *Flow, t *Template, rec []byte, ctx *flowContext, offs []int) {
	setTimes(f, t, rec, ctx, offs)
	setSampling(f, t, rec, ctx)
}

// setTimes fills Start and End from the plan's time sources.
func setTimes(f *Flow, t *Template, rec []byte, ctx *flowContext, offs []int) {
	plan := &t.plan
	if plan.start.kind != timeNone {
		if ts, ok := readTime(&plan.start, t, rec, offs, ctx); ok {
			f.Start, f.Known = ts, f.Known|FieldStart
		}
	}
	if plan.end.kind != timeNone {
		if ts, ok := readTime(&plan.end, t, rec, offs, ctx); ok {
			f.End, f.Known = ts, f.Known|FieldEnd
		}
	}
}

// setSampling applies the exporter's sampling interval from options data
// when the record does not carry one.
func setSampling(f *Flow, t *Template, rec []byte, ctx *flowContext) {
	if f.Known&FieldSamplingInterval != 0 || ctx.state == nil {
		return
	}
	var id uint64
	hasID := false
	if t.plan.sampler >= 0 {
		id, hasID = fieldUint(t, rec, t.plan.sampler)
	}
	if iv := ctx.state.samplingInterval(id, hasID); iv != 0 {
		f.SamplingInterval = iv
		f.Known |= FieldSamplingInterval
	}
}

// readTime reads a time field of a record.
func readTime(op *timeOp, t *Template, rec []byte, offs []int, ctx *flowContext) (time.Time, bool) {
	off := op.off
	if offs != nil {
		off = offs[op.field]
	}
	b := rec[off : off+op.len]
	switch op.kind {
	case timeSeconds:
		return time.Unix(int64(beUint(b)), 0).UTC(), true
	case timeMillis:
		return time.UnixMilli(int64(beUint(b))).UTC(), true
	case timeMicros:
		return ntpTime(b, true), true
	case timeNanos:
		return ntpTime(b, false), true
	case timeDeltaMicros:
		return ctx.exportTime.Add(-time.Duration(beUint(b)) * time.Microsecond), true
	case timeUptime:
		ms := uint32(beUint(b))
		if ctx.version == 9 {
			return uptimeClock{exportNs: ctx.exportNs, uptime: ctx.sysUptime}.at(ms), true
		}
		var init uint64
		if t.plan.sysInit >= 0 {
			init, _ = fieldUint(t, rec, t.plan.sysInit)
		} else if ctx.state != nil {
			init = ctx.state.systemInit
		}
		if init == 0 || init > math.MaxInt64/2 {
			return time.Time{}, false
		}
		return time.UnixMilli(int64(init) + int64(ms)).UTC(), true
	}
	return time.Time{}, false
}

// maxPlanFields bounds the offsets a variable-length template's plan looks
// up; fields beyond it are not used for Flow (they stay in Record values).
const maxPlanFields = 128

// fieldOffsets fills offs with the offset of each of the first
// len(offs) fields of a variable-length record. It returns false if the
// record is shorter than its fields say.
func fieldOffsets(t *Template, rec []byte, offs []int) bool {
	off := 0
	for i, f := range t.Fields {
		if i >= len(offs) {
			break
		}
		n := int(f.Length)
		if f.Length == VariableLength {
			var hdr int
			var ok bool
			n, hdr, ok = varLength(rec[off:])
			if !ok {
				return false
			}
			off += hdr
		}
		offs[i] = off
		off += n
		if off > len(rec) {
			return false
		}
	}
	return true
}

// varLength reads the length prefix of a variable-length field: one byte,
// or 255 followed by two bytes. It returns the content length and the
// prefix length.
func varLength(b []byte) (n, hdr int, ok bool) {
	if len(b) < 1 {
		return 0, 0, false
	}
	if b[0] < 255 {
		return int(b[0]), 1, true
	}
	if len(b) < 3 {
		return 0, 0, false
	}
	return int(binary.BigEndian.Uint16(b[1:])), 3, true
}

// fieldUint reads field i of a record as an unsigned integer.
func fieldUint(t *Template, rec []byte, i int) (uint64, bool) {
	if t.fixedLen == 0 || t.Fields[i].Length > 8 {
		return 0, false
	}
	off := t.offsets[i]
	return beUint(rec[off : off+int(t.Fields[i].Length)]), true
}

// beUint reads a big-endian unsigned integer of 1 to 8 bytes (reduced-size
// encoding); longer input reads its last 8 bytes.
func beUint(b []byte) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	if len(b) > 8 {
		b = b[len(b)-8:]
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

func isAddrDest(d flowDest) bool {
	return d == destSrcAddr || d == destDstAddr || d == destNextHop
}

// setAddr stores the address in b unless *a already holds one that is not
// unspecified: of a template's IPv4 and IPv6 elements for one address, the
// one a record fills wins, and the first if it fills both.
func setAddr(a *netip.Addr, b []byte) {
	if !a.IsValid() || a.IsUnspecified() {
		*a = addrOf(b)
	}
}

// addrOf reads a 4- or 16-byte address.
func addrOf(b []byte) netip.Addr {
	if len(b) == 16 {
		return netip.AddrFrom16([16]byte(b))
	}
	return netip.AddrFrom4([4]byte(b))
}

// ntpEpochOffset is the seconds from 1900-01-01 (NTP era 0) to 1970-01-01.
const ntpEpochOffset = 2208988800

// ntpTime decodes the RFC 7011 dateTimeMicroseconds / dateTimeNanoseconds
// encoding: NTP seconds since 1900 and a 32-bit binary fraction. For
// microseconds the fraction's low 11 bits are to be ignored.
func ntpTime(b []byte, micro bool) time.Time {
	secs := int64(binary.BigEndian.Uint32(b)) - ntpEpochOffset
	frac := uint64(binary.BigEndian.Uint32(b[4:]))
	if micro {
		frac &^= 0x7ff
	}
	ns := int64((frac * 1e9) >> 32)
	return time.Unix(secs, ns).UTC()
}
