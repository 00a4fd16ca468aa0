package netflow

import (
	"net/netip"
	"time"
)

// Filling a Flow from a record by its template's plan.

// flowContext is what a record needs besides its bytes to become a Flow.
type flowContext struct {
	exporter   netip.AddrPort
	version    uint16
	domain     uint32
	sequence   uint32
	exportTime time.Time // UTC
	exportNs   int64     // exportTime in ns since 1970
	// headerUptime: uptimes are against the header's sysUptime (v9), not
	// against the exporter's system init time (IPFIX).
	headerUptime bool
	sysUptime    uint32 // v9: uptime at export, ms
	state        *flowState
	// plan, when not nil, replaces the template's plan: the decoder's own,
	// compiled with its Config.FlowElements (mapping.go).
	plan *flowPlan
	// sampling is the Config.Sampling policy of the exporter.
	sampling samplingRule
	// decap is Config.Decapsulate, for packet sections (section.go).
	decap bool
}

// maxPlanSlots bounds flowPlan.uses: one field per destination (two per
// address), two times, the system init time and the sampler ID.
const maxPlanSlots = 2*int(destCount) + 4

// planOf returns the plan that fills the flows of t's records.
func (ctx *flowContext) planOf(t *Template) *flowPlan {
	if ctx.plan != nil {
		return ctx.plan
	}
	return &t.plan
}

// fillFlow fills f from one record of template t.
func fillFlow(f *Flow, t *Template, rec []byte, ctx *flowContext) {
	plan := ctx.planOf(t)
	if plan.fixedOK {
		fillFixedFlow(f, plan, rec[:t.fixedLen], ctx, ctx.samplerOf(plan))
		return
	}
	if t.fixedLen > 0 {
		fillFlowAt(f, plan, t, rec, ctx, nil)
		return
	}
	var offs [maxPlanSlots]int
	if !fieldOffsets(t, plan, rec, offs[:len(plan.uses)]) {
		*f = Flow{Exporter: ctx.exporter, Version: ctx.version, Domain: ctx.domain, Sequence: ctx.sequence, Known: FieldDomain | FieldSequence}
		return
	}
	fillFlowAt(f, plan, t, rec, ctx, offs[:])
}

// fillFixedFlow fills f from a record of a fixed-length template whose plan
// is fixedOK. It gives what fillFlowAt gives with the template's offsets,
// faster: every field is stored once, straight-line, without zeroing f
// first, and s was worked out once for the record's set.
func fillFixedFlow(f *Flow, plan *flowPlan, rec []byte, ctx *flowContext, s setSampler) {
	p := &plan.fixed
	f.Exporter = ctx.exporter
	f.Version = ctx.version
	f.ExportProtocol = ExportNetFlow
	f.Domain = ctx.domain
	f.Sequence = ctx.sequence
	f.Agent = netip.Addr{}
	if p.v4Addrs {
		f.SrcAddr = readAddr4(rec, p.srcAddr[0])
		f.DstAddr = readAddr4(rec, p.dstAddr[0])
		f.NextHop = readAddr4(rec, p.nextHop[0])
	} else {
		f.SrcAddr = readAddr(rec, &p.srcAddr)
		f.DstAddr = readAddr(rec, &p.dstAddr)
		f.NextHop = readAddr(rec, &p.nextHop)
	}
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
	f.Known = FieldDomain | FieldSequence | plan.known
	if p.sampling.n != 0 && f.SamplingInterval == 0 {
		f.Known &^= FieldSamplingInterval
	}
	if p.extra == nil {
		clearExtra(f)
	} else {
		// The fields beyond v5's, by group (fixedExtra), written out here:
		// a call costs what a group does.
		x := p.extra
		if x.groups&groupLayer2 != 0 {
			f.SrcMAC = readMAC(rec, x.srcMAC)
			f.DstMAC = readMAC(rec, x.dstMAC)
			f.VLAN = uint16(readUint(rec, x.vlan))
			f.PostVLAN = uint16(readUint(rec, x.postVLAN))
			f.EthType = uint16(readUint(rec, x.ethType))
		} else {
			clearLayer2(f)
		}
		if x.groups&groupTags != 0 {
			f.Direction = uint8(readUint(rec, x.direction))
			f.EndReason = uint8(readUint(rec, x.endReason))
			f.IPVersion = uint8(readUint(rec, x.ipVersion))
			f.MPLSLabel = 0
			if l := x.mpls; l.n != 0 {
				f.MPLSLabel = mplsLabel(rec[l.off : l.off+l.n])
			}
			f.InVRF = uint32(readUint(rec, x.inVRF))
			f.OutVRF = uint32(readUint(rec, x.outVRF))
		} else {
			clearTags(f)
		}
		if x.groups&groupNAT != 0 {
			if x.v4Addrs {
				f.BGPNextHop = readAddr4(rec, x.bgpNextHop[0])
				f.PostNATSrcAddr = readAddr4(rec, x.postNATSrcAddr[0])
				f.PostNATDstAddr = readAddr4(rec, x.postNATDstAddr[0])
			} else {
				f.BGPNextHop = readAddr(rec, &x.bgpNextHop)
				f.PostNATSrcAddr = readAddr(rec, &x.postNATSrcAddr)
				f.PostNATDstAddr = readAddr(rec, &x.postNATDstAddr)
			}
			f.PostNATSrcPort = uint16(readUint(rec, x.postNATSrcPort))
			f.PostNATDstPort = uint16(readUint(rec, x.postNATDstPort))
		} else {
			clearNAT(f)
		}
		f.ICMPType, f.ICMPCode = 0, 0
		switch {
		case x.groups&groupICMP == 0:
		case x.icmpMixed != nil:
			for i := range x.icmpMixed {
				op := &x.icmpMixed[i]
				setExtra(f, op.dest, rec[op.off:op.off+op.len])
			}
		case x.icmpSingle:
			v := readUint(rec, x.icmpTypeCode[0])
			f.ICMPType = uint8(v>>8) | uint8(readUint(rec, x.icmpType[0]))
			f.ICMPCode = uint8(v) | uint8(readUint(rec, x.icmpCode[0]))
		default:
			v := readPair(rec, x.icmpTypeCode, 0xffff)
			f.ICMPType = uint8(v>>8) | uint8(readPair(rec, x.icmpType, 0xff))
			f.ICMPCode = uint8(v) | uint8(readPair(rec, x.icmpCode, 0xff))
		}
	}
	// The commonest times inline: both v9 uptimes, or both milliseconds.
	switch st, en := &plan.start, &plan.end; {
	// uptimeClock.at and milliTime are written out: calls to them are not
	// inlined.
	case plan.bothTimes && st.kind == timeUptime && ctx.headerUptime:
		c := uptimeClock{exportNs: ctx.exportNs, uptime: ctx.sysUptime}
		f.Start = time.Unix(0, c.unixNano(uint32(readUint(rec, st.loc())))).UTC()
		f.End = time.Unix(0, c.unixNano(uint32(readUint(rec, en.loc())))).UTC()
		f.Known |= FieldStart | FieldEnd
	case plan.bothTimes && st.kind == timeMillis:
		if ms := readUint(rec, st.loc()); ms <= maxUnixMilli {
			f.Start = time.UnixMilli(int64(ms)).UTC()
			f.Known |= FieldStart
		} else {
			f.Start = time.Time{}
		}
		if ms := readUint(rec, en.loc()); ms <= maxUnixMilli {
			f.End = time.UnixMilli(int64(ms)).UTC()
			f.Known |= FieldEnd
		} else {
			f.End = time.Time{}
		}
	default:
		fillFixedTimes(f, plan, rec, ctx)
	}
	finishICMP(f)
	if s.active() || ctx.sampling.active {
		s.apply(f, plan, rec, ctx, nil)
	}
}

// fillFixedTimes fills Start and End of a fixed-length record. The common
// encodings are read inline: none, milliseconds, v9 uptimes and IPFIX
// uptimes, each time by itself or with the other of the same kind.
func fillFixedTimes(f *Flow, plan *flowPlan, rec []byte, ctx *flowContext) {
	st, en := &plan.start, &plan.end
	switch {
	case !plan.fastTimes:
		f.Start, f.End = time.Time{}, time.Time{} // setTimes sets only what it reads
		setTimes(f, plan, rec, ctx, nil)
	case plan.timeKind == timeNone:
		f.Start, f.End = time.Time{}, time.Time{}
	case plan.timeKind == timeUptime && ctx.headerUptime:
		c := uptimeClock{exportNs: ctx.exportNs, uptime: ctx.sysUptime}
		if st.kind != timeNone {
			f.Start = c.at(uint32(readUint(rec, st.loc())))
			f.Known |= FieldStart
		} else {
			f.Start = time.Time{}
		}
		if en.kind != timeNone {
			f.End = c.at(uint32(readUint(rec, en.loc())))
			f.Known |= FieldEnd
		} else {
			f.End = time.Time{}
		}
	default:
		// Milliseconds since 1970, or IPFIX uptimes against the system
		// init time (as readTime reads them). milliTime gives the zero Time
		// with ok false: nothing stale stays.
		var base uint64
		mask := ^uint64(0)
		if plan.timeKind == timeUptime {
			if base, mask = systemInit(plan, rec, ctx, nil), 0xffffffff; base == 0 {
				f.Start, f.End = time.Time{}, time.Time{}
				return
			}
		}
		var ok bool
		if st.kind != timeNone {
			if f.Start, ok = milliTime(base + readUint(rec, st.loc())&mask); ok {
				f.Known |= FieldStart
			}
		} else {
			f.Start = time.Time{}
		}
		if en.kind != timeNone {
			if f.End, ok = milliTime(base + readUint(rec, en.loc())&mask); ok {
				f.Known |= FieldEnd
			}
		} else {
			f.End = time.Time{}
		}
	}
}

// loc returns where r sits in a fixed-length record.
func (r *fieldRef) loc() loc { return loc{off: uint16(r.off), n: uint16(r.len)} }

// at returns r's bytes in rec: at its fixed offset, or at offs[r.slot] for a
// variable-length record.
func (r *fieldRef) at(rec []byte, offs []int) []byte {
	off := r.off
	if offs != nil {
		off = offs[r.slot]
	}
	return rec[off : off+r.len]
}

// readAddr reads the address at l[0], or at l[1] if l[0]'s is unspecified
// (setAddr's rule); the zero Addr if there is none.
func readAddr(rec []byte, l *[2]loc) netip.Addr {
	if l[0].n == 0 {
		return netip.Addr{}
	}
	a := addrOf(rec[l[0].off : l[0].off+l[0].n])
	if l[1].n != 0 && a.IsUnspecified() {
		a = addrOf(rec[l[1].off : l[1].off+l[1].n])
	}
	return a
}

// readAddr4 reads the IPv4 address at l, the zero Addr if l is empty: the
// inlined readAddr of a plan whose addresses are v4Addrs.
func readAddr4(rec []byte, l loc) netip.Addr {
	if l.n == 0 {
		return netip.Addr{}
	}
	return netip.AddrFrom4([4]byte(rec[l.off:]))
}

// fillFlowAt fills f from a record whose planned fields sit at offs (by
// slot), or at the template's fixed offsets when offs is nil.
func fillFlowAt(f *Flow, plan *flowPlan, t *Template, rec []byte, ctx *flowContext, offs []int) {
	*f = Flow{
		Exporter: ctx.exporter,
		Version:  ctx.version,
		Domain:   ctx.domain,
		Sequence: ctx.sequence,
		Known:    FieldDomain | FieldSequence | plan.known,
	}
	var section *planOp // read once the record's own fields are in (section.go)
	for i := range plan.ops {
		op := &plan.ops[i]
		b := op.at(rec, offs)
		switch op.dest {
		case destSection:
			section = op
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
		default:
			setExtra(f, op.dest, b)
		}
	}
	if section != nil {
		fillFromSection(f, section, plan, t, rec, ctx)
	}
	setTimes(f, plan, rec, ctx, offs)
	finishICMP(f)
	ctx.samplerOf(plan).apply(f, plan, rec, ctx, offs)
}

// setTimes fills Start and End from the plan's time sources.
func setTimes(f *Flow, plan *flowPlan, rec []byte, ctx *flowContext, offs []int) {
	if plan.start.kind != timeNone {
		if ts, ok := readTime(&plan.start, plan, rec, offs, ctx); ok {
			f.Start, f.Known = ts, f.Known|FieldStart
		}
	}
	if plan.end.kind != timeNone {
		if ts, ok := readTime(&plan.end, plan, rec, offs, ctx); ok {
			f.End, f.Known = ts, f.Known|FieldEnd
		}
	}
}

// setSampler is how the records of one data set get the sampling
// interval of the exporter's options data when they carry none: one
// interval for the set, or (perRecord) the interval of each record's
// sampler ID.
type setSampler struct {
	interval  uint32
	perRecord bool
}

// active reports whether apply has an interval to give.
func (s setSampler) active() bool { return s.interval != 0 || s.perRecord }

// samplerOf returns the setSampler of the set ctx belongs to.
func (ctx *flowContext) samplerOf(plan *flowPlan) setSampler {
	switch {
	case ctx.state == nil:
		return setSampler{}
	case plan.sampler.ok:
		return setSampler{perRecord: true}
	}
	return setSampler{interval: ctx.state.samplingInterval(0, false)}
}

// apply gives f the exporter's sampling interval from options data when
// the record does not carry one, then applies the Config.Sampling policy.
func (s setSampler) apply(f *Flow, plan *flowPlan, rec []byte, ctx *flowContext, offs []int) {
	if f.Known&FieldSamplingInterval == 0 {
		iv := s.interval
		if s.perRecord {
			iv = ctx.state.samplingInterval(beUint(plan.sampler.at(rec, offs)), true)
		}
		if iv != 0 {
			f.SamplingInterval = iv
			f.Known |= FieldSamplingInterval
		}
	}
	if ctx.sampling.active {
		ctx.sampling.apply(f)
	}
}

// readTime reads a time field of a record. ok is false for a time that
// cannot be right (see wire.go).
func readTime(op *timeOp, plan *flowPlan, rec []byte, offs []int, ctx *flowContext) (time.Time, bool) {
	b := op.at(rec, offs)
	switch op.kind {
	case timeSeconds:
		return secondsTime(beUint(b))
	case timeMillis:
		return milliTime(beUint(b))
	case timeMicros:
		return ntpTime(b, true)
	case timeNanos:
		return ntpTime(b, false)
	case timeDeltaMicros:
		return beforeExport(ctx.exportNs, beUint(b))
	case timeUptime:
		ms := uint32(beUint(b))
		if ctx.headerUptime {
			return uptimeClock{exportNs: ctx.exportNs, uptime: ctx.sysUptime}.at(ms), true
		}
		init := systemInit(plan, rec, ctx, offs)
		if init == 0 {
			return time.Time{}, false
		}
		return milliTime(init + uint64(ms))
	}
	return time.Time{}, false
}

// systemInit returns the exporter's system init time (ms since 1970) that
// IPFIX uptimes count from: the record's, or its options data's; 0 if
// neither gave one.
func systemInit(plan *flowPlan, rec []byte, ctx *flowContext, offs []int) uint64 {
	if plan.sysInit.ok {
		return beUint(plan.sysInit.at(rec, offs))
	}
	if ctx.state != nil {
		return ctx.state.systemInit
	}
	return 0
}

// fieldOffsets fills offs with the offset of each field of a
// variable-length record that the plan uses (offs[i] for field
// t.plan.uses[i]). It returns false if the record is shorter than its fields
// say.
func fieldOffsets(t *Template, plan *flowPlan, rec []byte, offs []int) bool {
	uses := plan.uses
	off, next := 0, 0
	for i, f := range t.Fields {
		if next == len(uses) {
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
		if off+n > len(rec) {
			return false
		}
		if uses[next] == i {
			offs[next] = off
			next++
		}
		off += n
	}
	return true
}

// setAddr stores the address in b unless *a already holds one that is not
// unspecified: of a template's IPv4 and IPv6 elements for one address, the
// one a record fills wins, and the first if it fills both.
func setAddr(a *netip.Addr, b []byte) {
	if !a.IsValid() || a.IsUnspecified() {
		*a = addrOf(b)
	}
}
