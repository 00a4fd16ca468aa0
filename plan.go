package netflow

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"
)

// A flowPlan says, for one template, which field fills which Flow field. It
// is compiled once when the template is made, so that filling a Flow is a
// short loop over the chosen fields, not a lookup per field.
type flowPlan struct {
	ops     []planOp
	known   FlowFields // fields the plan always fills
	sampler int        // index of the sampler ID field, -1 if none
}

type planOp struct {
	field int // index in Template.Fields
	dest  flowDest
}

// flowDest is a destination in Flow, or a time input resolved afterwards.
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
	destStartUptime // ms of sys uptime
	destEndUptime
	destStartSeconds
	destEndSeconds
	destStartMillis
	destEndMillis
	destStartMicros // NTP format
	destEndMicros
	destStartNanos // NTP format
	destEndNanos
	destStartDeltaMicros // µs before export time
	destEndDeltaMicros
	destSamplingInterval
	destSystemInit // systemInitTimeMilliseconds in the record itself
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
	destStartUptime:      {22},
	destEndUptime:        {21},
	destStartSeconds:     {150},
	destEndSeconds:       {151},
	destStartMillis:      {152},
	destEndMillis:        {153},
	destStartMicros:      {154},
	destEndMicros:        {155},
	destStartNanos:       {156},
	destEndNanos:         {157},
	destStartDeltaMicros: {158},
	destEndDeltaMicros:   {159},
	destSamplingInterval: {34, 50},
	destSystemInit:       {160},
}

var destKnown = [destCount]FlowFields{
	destBytes: FieldBytes, destPackets: FieldPackets, destProto: FieldProto, destToS: FieldToS,
	destTCPFlags: FieldTCPFlags, destSrcPort: FieldSrcPort, destDstPort: FieldDstPort,
	destSrcAddr: FieldSrcAddr, destDstAddr: FieldDstAddr, destNextHop: FieldNextHop,
	destSrcMask: FieldSrcMask, destDstMask: FieldDstMask, destInIf: FieldInIf, destOutIf: FieldOutIf,
	destSrcAS: FieldSrcAS, destDstAS: FieldDstAS, destSamplingInterval: FieldSamplingInterval,
}

// fieldLengthOK reports whether a field of length n can fill dest.
func fieldLengthOK(d flowDest, n uint16, id uint16) bool {
	switch d {
	case destSrcAddr, destDstAddr, destNextHop:
		if id == 27 || id == 28 || id == 62 || id == 63 {
			return n == 16
		}
		return n == 4
	case destStartMicros, destEndMicros, destStartNanos, destEndNanos:
		return n == 8
	}
	return n >= 1 && n <= 8
}

func compilePlan(t *Template) flowPlan {
	p := flowPlan{sampler: -1}
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
	}
	// The address family of the source address decides which of a pair of
	// v4/v6 elements wins when a template carries both.
	for d := flowDest(1); d < destCount; d++ {
		for _, id := range destCandidates[d] {
			i, ok := first[id]
			if !ok || !fieldLengthOK(d, t.Fields[i].Length, id) {
				continue
			}
			p.ops = append(p.ops, planOp{field: i, dest: d})
			p.known |= destKnown[d]
			break
		}
	}
	return p
}

// flowContext is what a record needs besides its bytes to become a Flow.
type flowContext struct {
	exporter   netip.AddrPort
	version    uint16
	domain     uint32
	sequence   uint32
	exportTime time.Time // UTC
	sysUptime  uint32    // v9: uptime at export, ms
	state      *flowState
}

// timeInputs collects the time fields of a record before they are turned
// into Start and End.
type timeInputs struct {
	have                 [destCount]bool
	startUp, endUp       uint32
	start, end           time.Time
	startDelta, endDelta uint64
	systemInit           uint64
}

// fillFlow fills f from one record of template t.
func fillFlow(f *Flow, t *Template, rec []byte, ctx *flowContext) {
	*f = Flow{
		Exporter: ctx.exporter,
		Version:  ctx.version,
		Domain:   ctx.domain,
		Sequence: ctx.sequence,
		Known:    FieldDomain | FieldSequence | t.plan.known,
	}
	var ti timeInputs
	anyTime := false
	if t.fixedLen > 0 {
		for _, op := range t.plan.ops {
			off := t.offsets[op.field]
			b := rec[off : off+int(t.Fields[op.field].Length)]
			anyTime = applyOp(f, op.dest, b, &ti) || anyTime
		}
	} else {
		var offs [maxPlanFields]int
		if !fieldOffsets(t, rec, offs[:]) {
			return
		}
		for _, op := range t.plan.ops {
			off := offs[op.field]
			b := rec[off : off+int(t.Fields[op.field].Length)]
			anyTime = applyOp(f, op.dest, b, &ti) || anyTime
		}
	}
	if anyTime {
		resolveTimes(f, &ti, ctx)
	}
	if f.Known&FieldSamplingInterval == 0 && ctx.state != nil {
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

func applyOp(f *Flow, d flowDest, b []byte, ti *timeInputs) (isTime bool) {
	switch d {
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
		f.SrcAddr = addrOf(b)
	case destDstAddr:
		f.DstAddr = addrOf(b)
	case destNextHop:
		f.NextHop = addrOf(b)
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
		f.SamplingInterval = uint32(beUint(b))
		if f.SamplingInterval == 0 {
			f.Known &^= FieldSamplingInterval
		}
	default:
		ti.have[d] = true
		switch d {
		case destStartUptime:
			ti.startUp = uint32(beUint(b))
		case destEndUptime:
			ti.endUp = uint32(beUint(b))
		case destStartSeconds:
			ti.start = time.Unix(int64(beUint(b)), 0).UTC()
		case destEndSeconds:
			ti.end = time.Unix(int64(beUint(b)), 0).UTC()
		case destStartMillis:
			ti.start = time.UnixMilli(int64(beUint(b))).UTC()
		case destEndMillis:
			ti.end = time.UnixMilli(int64(beUint(b))).UTC()
		case destStartMicros:
			ti.start = ntpTime(b, true)
		case destEndMicros:
			ti.end = ntpTime(b, true)
		case destStartNanos:
			ti.start = ntpTime(b, false)
		case destEndNanos:
			ti.end = ntpTime(b, false)
		case destStartDeltaMicros:
			ti.startDelta = beUint(b)
		case destEndDeltaMicros:
			ti.endDelta = beUint(b)
		case destSystemInit:
			ti.systemInit = beUint(b)
		}
		return true
	}
	return false
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

// resolveTimes turns the collected time inputs into Start and End, best
// source first: absolute times, then deltas before the export time, then
// uptimes (v9: against the header's uptime; IPFIX: against the system init
// time from the record or the exporter's options data).
func resolveTimes(f *Flow, ti *timeInputs, ctx *flowContext) {
	switch {
	case ti.have[destStartSeconds] || ti.have[destStartMillis] || ti.have[destStartMicros] || ti.have[destStartNanos]:
		f.Start, f.Known = ti.start, f.Known|FieldStart
	case ti.have[destStartDeltaMicros]:
		f.Start, f.Known = ctx.exportTime.Add(-time.Duration(ti.startDelta)*time.Microsecond), f.Known|FieldStart
	case ti.have[destStartUptime]:
		if t, ok := uptimeTime(ti.startUp, ti, ctx); ok {
			f.Start, f.Known = t, f.Known|FieldStart
		}
	}
	switch {
	case ti.have[destEndSeconds] || ti.have[destEndMillis] || ti.have[destEndMicros] || ti.have[destEndNanos]:
		f.End, f.Known = ti.end, f.Known|FieldEnd
	case ti.have[destEndDeltaMicros]:
		f.End, f.Known = ctx.exportTime.Add(-time.Duration(ti.endDelta)*time.Microsecond), f.Known|FieldEnd
	case ti.have[destEndUptime]:
		if t, ok := uptimeTime(ti.endUp, ti, ctx); ok {
			f.End, f.Known = t, f.Known|FieldEnd
		}
	}
}

func uptimeTime(ms uint32, ti *timeInputs, ctx *flowContext) (time.Time, bool) {
	if ctx.version == 9 {
		return uptimeClock{export: ctx.exportTime, uptime: ctx.sysUptime}.at(ms), true
	}
	init := ti.systemInit
	if !ti.have[destSystemInit] && ctx.state != nil {
		init = ctx.state.systemInit
	}
	if init == 0 || init > math.MaxInt64/2 {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(init) + int64(ms)).UTC(), true
}
