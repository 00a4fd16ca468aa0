package netflow

import (
	"slices"
)

// A flowPlan says, for one template, which field fills which Flow field. It
// is compiled once when the template is made, so that filling a Flow is a
// short loop over the chosen fields (or, for a fixed-length template with
// the usual integer widths, straight-line code), not a look-up per field.
type flowPlan struct {
	ops        []planOp   // fields that fill Flow fields, in field order
	fixed      fixedPlan  // the same for a fixed-length template
	fixedOK    bool       // fixed is usable: fixed length, integer widths 1, 2, 4, 8
	fastTimes  bool       // fillFixedTimes reads start and end inline (fastTimeKind)
	timeKind   timeKind   // their kind then
	bothTimes  bool       // fastTimes, and the template has both
	start, end timeOp     // where Start and End come from
	sysInit    fieldRef   // systemInitTimeMilliseconds
	sampler    fieldRef   // the sampler ID (v9 FLOW_SAMPLER_ID, IPFIX selectorId)
	known      FlowFields // fields the plan always fills
	// uses lists the fields whose offsets a variable-length record needs
	// (every field a ref above names), in field order; a ref's slot is its
	// index here.
	uses []int
}

// fieldRef names one field of the template: its index, its offset in a
// fixed-length record, its length, and its slot in flowPlan.uses. ok is
// false for a field the template does not have.
type fieldRef struct {
	field int
	off   int
	len   int
	slot  int
	ok    bool
}

// fixedPlan is the plan of a fixed-length template as straight-line code:
// one location per Flow field, each a well-predicted branch per record
// instead of a loop over ops with a switch.
type fixedPlan struct {
	bytes, packets, proto, tos, tcpFlags loc
	srcPort, dstPort, srcMask, dstMask   loc
	inIf, outIf, srcAS, dstAS, sampling  loc
	srcAddr, dstAddr, nextHop            [2]loc // in field order; see setAddr
	// v4Addrs: each of the three addresses is one IPv4 element or none.
	v4Addrs bool

	// extra locates the fields beyond v5's; nil for a template with none of
	// their elements (most), whose flows have them zeroed.
	extra *fixedExtra
}

// fixedExtra locates the fields beyond v5's in a fixed-length record. They
// come in groups (extraGroups): the fields of a group the template has no
// element of are zeroed without a look at their locations.
type fixedExtra struct {
	groups                                     extraGroups
	srcMAC, dstMAC, vlan, postVLAN, ethType    loc
	direction, endReason, ipVersion, mpls      loc
	inVRF, outVRF                              loc
	bgpNextHop, postNATSrcAddr, postNATDstAddr [2]loc
	postNATSrcPort, postNATDstPort             loc
	v4Addrs                                    bool // as fixedPlan.v4Addrs, for the three addresses above
	// The ICMP elements, IPv4's and IPv6's in field order: the first that
	// is not zero wins (setExtra's rule). A template with both type-code
	// and separate type or code elements has them in icmpMixed instead, in
	// field order, for setExtra.
	icmpTypeCode, icmpType, icmpCode [2]loc
	icmpSingle                       bool // one element each at most
	icmpMixed                        []planOp
}

// extraGroups is a set of groups of the Flow fields beyond v5's.
type extraGroups uint8

const (
	groupLayer2 extraGroups = 1 << iota // MACs, VLANs, EtherType
	groupTags                           // direction, end reason, IP version, MPLS label, VRFs
	groupNAT                            // BGP next hop, post-NAT addresses and ports
	groupICMP                           // ICMP type and code
)

type planOp struct {
	fieldRef
	dest flowDest
}

// timeOp is the field a time comes from and how to read it.
type timeOp struct {
	fieldRef
	kind timeKind
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

// elementKey names an information element: IANA's (PEN 0, which the v9
// field types 1-127 share) or an enterprise's.
type elementKey struct {
	pen uint32
	id  uint16
}

func iana(ids ...uint16) []elementKey {
	keys := make([]elementKey, len(ids))
	for i, id := range ids {
		keys[i] = elementKey{id: id}
	}
	return keys
}

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
	// The destinations from here on are the fields beyond v5's
	// (flowfields.go); the fixed path fills them by group (extraGroups).
	destSrcMAC
	destDstMAC
	destVLAN
	destPostVLAN
	destEthType
	destDirection
	destEndReason
	destIPVersion
	destICMPTypeCode // type<<8 | code
	destICMPType
	destICMPCode
	destMPLSLabel
	destInVRF
	destOutVRF
	destBGPNextHop
	destPostNATSrcAddr
	destPostNATDstAddr
	destPostNATSrcPort
	destPostNATDstPort
	// destSection is a packet section (section.go), whose header fills
	// the header fields the template has no element for. Its op comes
	// last in ops, and its length is 0 for a variable-length field.
	destSection
	destCount
)

// destCandidates lists, per destination, the elements that may fill it, best
// first. An exporter that sends only a later candidate (the post- counters,
// NSEL initiator counts, total counts) still fills the field.
var destCandidates = [destCount][]elementKey{
	destBytes:            iana(ieOctetDeltaCount, iePostOctetDeltaCount, ieOctetTotalCount, ieInitiatorOctets, ieLayer2OctetDeltaCount),
	destPackets:          iana(iePacketDeltaCount, iePostPacketDeltaCount, iePacketTotalCount, ieInitiatorPackets),
	destProto:            iana(ieProtocolIdentifier),
	destToS:              iana(ieIpClassOfService, iePostIpClassOfService),
	destTCPFlags:         iana(ieTcpControlBits),
	destSrcPort:          iana(ieSourceTransportPort, ieUdpSourcePort, ieTcpSourcePort),
	destDstPort:          iana(ieDestinationTransportPort, ieUdpDestinationPort, ieTcpDestinationPort),
	destSrcAddr:          iana(ieSourceIPv4Address, ieSourceIPv6Address),
	destDstAddr:          iana(ieDestinationIPv4Address, ieDestinationIPv6Address),
	destNextHop:          iana(ieIpNextHopIPv4Address, ieIpNextHopIPv6Address),
	destSrcMask:          iana(ieSourceIPv4PrefixLength, ieSourceIPv6PrefixLength),
	destDstMask:          iana(ieDestinationIPv4PrefixLength, ieDestinationIPv6PrefixLength),
	destInIf:             iana(ieIngressInterface, ieIngressPhysicalInterface),
	destOutIf:            iana(ieEgressInterface, ieEgressPhysicalInterface),
	destSrcAS:            iana(ieBgpSourceAsNumber),
	destDstAS:            iana(ieBgpDestinationAsNumber),
	destSamplingInterval: iana(ieSamplingInterval, ieSamplerRandomInterval),
	destSrcMAC:           iana(ieSourceMacAddress, iePostSourceMacAddress),
	destDstMAC:           iana(ieDestinationMacAddress, iePostDestinationMacAddress),
	destVLAN:             iana(ieVlanId, ieDot1qVlanId),
	destPostVLAN:         iana(iePostVlanId, iePostDot1qVlanId),
	destEthType:          iana(ieEthernetType),
	destDirection:        iana(ieFlowDirection),
	destEndReason:        iana(ieFlowEndReason),
	destIPVersion:        iana(ieIpVersion),
	destICMPTypeCode:     iana(ieIcmpTypeCodeIPv4, ieIcmpTypeCodeIPv6),
	destICMPType:         iana(ieIcmpTypeIPv4, ieIcmpTypeIPv6),
	destICMPCode:         iana(ieIcmpCodeIPv4, ieIcmpCodeIPv6),
	destMPLSLabel:        iana(ieMplsTopLabelStackSection),
	destInVRF:            iana(ieIngressVRFID),
	destOutVRF:           iana(ieEgressVRFID),
	destBGPNextHop:       iana(ieBgpNextHopIPv4Address, ieBgpNextHopIPv6Address),
	destPostNATSrcAddr:   iana(iePostNATSourceIPv4Address, iePostNATSourceIPv6Address, v9XlateSrcAddrIPv4),
	destPostNATDstAddr:   iana(iePostNATDestinationIPv4Address, iePostNATDestinationIPv6Address, v9XlateDstAddrIPv4),
	destPostNATSrcPort:   iana(iePostNAPTSourceTransportPort, v9XlateSrcPort),
	destPostNATDstPort:   iana(iePostNAPTDestinationTransportPort, v9XlateDstPort),
}

// Cisco ASA's NSEL v9 field types for the translated addresses and ports
// (NF_F_XLATE_*, ie_vendor.go): IDs no IPFIX element without an enterprise
// number can have.
const (
	v9XlateSrcAddrIPv4 uint16 = 40001
	v9XlateDstAddrIPv4 uint16 = 40002
	v9XlateSrcPort     uint16 = 40003
	v9XlateDstPort     uint16 = 40004
)

var destKnown = [destCount]FlowFields{
	destBytes: FieldBytes, destPackets: FieldPackets, destProto: FieldProto, destToS: FieldToS,
	destTCPFlags: FieldTCPFlags, destSrcPort: FieldSrcPort, destDstPort: FieldDstPort,
	destSrcAddr: FieldSrcAddr, destDstAddr: FieldDstAddr, destNextHop: FieldNextHop,
	destSrcMask: FieldSrcMask, destDstMask: FieldDstMask, destInIf: FieldInIf, destOutIf: FieldOutIf,
	destSrcAS: FieldSrcAS, destDstAS: FieldDstAS, destSamplingInterval: FieldSamplingInterval,
	destSrcMAC: FieldSrcMAC, destDstMAC: FieldDstMAC, destVLAN: FieldVLAN, destPostVLAN: FieldPostVLAN,
	destEthType: FieldEthType, destDirection: FieldDirection, destEndReason: FieldEndReason,
	destIPVersion: FieldIPVersion, destICMPTypeCode: FieldICMPType | FieldICMPCode,
	destICMPType: FieldICMPType, destICMPCode: FieldICMPCode, destMPLSLabel: FieldMPLSLabel,
	destInVRF: FieldInVRF, destOutVRF: FieldOutVRF, destBGPNextHop: FieldBGPNextHop,
	destPostNATSrcAddr: FieldPostNATSrcAddr, destPostNATDstAddr: FieldPostNATDstAddr,
	destPostNATSrcPort: FieldPostNATSrcPort, destPostNATDstPort: FieldPostNATDstPort,
}

// timeSource is an element a flow's start or end may come from.
type timeSource struct {
	id   uint16
	kind timeKind
}

// startSources and endSources list the elements a flow's start and end may
// come from, best first: absolute times, then deltas before the export
// time, then uptimes (v9: against the header's uptime; IPFIX: against the
// system init time from the record or the exporter's options data).
var (
	startSources = []timeSource{
		{ieFlowStartMilliseconds, timeMillis}, {ieFlowStartMicroseconds, timeMicros},
		{ieFlowStartNanoseconds, timeNanos}, {ieFlowStartSeconds, timeSeconds},
		{ieFlowStartDeltaMicroseconds, timeDeltaMicros}, {ieFlowStartSysUpTime, timeUptime},
	}
	endSources = []timeSource{
		{ieFlowEndMilliseconds, timeMillis}, {ieFlowEndMicroseconds, timeMicros},
		{ieFlowEndNanoseconds, timeNanos}, {ieFlowEndSeconds, timeSeconds},
		{ieFlowEndDeltaMicroseconds, timeDeltaMicros}, {ieFlowEndSysUpTime, timeUptime},
	}
)

// isIPv6Element reports whether an address element is 16 bytes long.
func isIPv6Element(k elementKey) bool {
	if k.pen != 0 {
		return false
	}
	switch k.id {
	case ieSourceIPv6Address, ieDestinationIPv6Address, ieIpNextHopIPv6Address, ieBgpNextHopIPv6Address,
		iePostNATSourceIPv6Address, iePostNATDestinationIPv6Address:
		return true
	}
	return false
}

// fieldLengthOK reports whether a field of length n can fill dest.
func fieldLengthOK(d flowDest, n uint16, k elementKey) bool {
	switch {
	case isAddrDest(d) && k.pen != 0:
		return n == 4 || n == 16 // an enterprise element mapped in (mapping.go)
	case isAddrDest(d) && isIPv6Element(k):
		return n == 16
	case isAddrDest(d):
		return n == 4
	case d == destSrcMAC || d == destDstMAC:
		return n == 6
	case d == destMPLSLabel:
		return n >= 3 && n <= 8 // the label is the first 20 bits
	}
	return n >= 1 && n <= 8
}

func timeLengthOK(k timeKind, n uint16) bool {
	if k == timeMicros || k == timeNanos {
		return n == 8
	}
	return n >= 1 && n <= 8
}

func isAddrDest(d flowDest) bool {
	switch d {
	case destSrcAddr, destDstAddr, destNextHop, destBGPNextHop, destPostNATSrcAddr, destPostNATDstAddr:
		return true
	}
	return false
}

// isPairDest reports whether every candidate of d is compiled, not just the
// first the template has: the IPv4 and IPv6 elements of an address, and of
// the ICMP type and code. The first value that is not zero (unspecified)
// wins.
func isPairDest(d flowDest) bool {
	return isAddrDest(d) || d == destICMPTypeCode || d == destICMPType || d == destICMPCode
}

func compilePlan(t *Template) flowPlan { return compilePlanWith(t, nil) }

// compilePlanWith compiles t's plan with the caller's mapped elements
// (mapping.go) as the first candidates of their destinations.
func compilePlanWith(t *Template, mapped *[destCount][]elementKey) flowPlan {
	p := flowPlan{}
	if t.Options {
		return p
	}
	// First occurrence of each element of a fixed length, in field order.
	first := make(map[elementKey]int, len(t.Fields))
	for i, f := range t.Fields {
		if f.Length == VariableLength {
			continue
		}
		k := elementKey{pen: f.PEN, id: f.ID}
		if _, ok := first[k]; !ok {
			first[k] = i
		}
	}
	ref := func(i int) fieldRef {
		r := fieldRef{field: i, len: int(t.Fields[i].Length), ok: true}
		if t.fixedLen > 0 {
			r.off = t.offsets[i]
		}
		return r
	}
	for d := flowDest(1); d < destCount; d++ {
		cands := destCandidates[d]
		if mapped != nil && len(mapped[d]) > 0 {
			cands = append(slices.Clip(mapped[d]), cands...)
		}
		n, nMapped := 0, 0
		if mapped != nil {
			nMapped = len(mapped[d])
		}
		for j, k := range cands {
			i, ok := first[k]
			if !ok || !fieldLengthOK(d, t.Fields[i].Length, k) {
				continue
			}
			p.ops = append(p.ops, planOp{fieldRef: ref(i), dest: d})
			p.known |= destKnown[d]
			// A mapped element that the template has is the only source.
			if n++; !isPairDest(d) || n == 2 || j < nMapped {
				break
			}
			// A template may carry the IPv4 and the IPv6 element of an
			// address (Procera does) and fill one per record: both are
			// compiled, and the first address that is not unspecified
			// wins (see setAddr).
		}
	}
	slices.SortFunc(p.ops, func(a, b planOp) int { return a.field - b.field })
	for _, id := range []uint16{ieSamplerId, ieSelectorId} {
		if i, ok := first[elementKey{id: id}]; ok && !p.sampler.ok && t.Fields[i].Length <= 8 {
			p.sampler = ref(i)
		}
	}
	if i, ok := first[elementKey{id: ieSystemInitTimeMilliseconds}]; ok && t.Fields[i].Length <= 8 {
		p.sysInit = ref(i)
	}
	pick := func(sources []timeSource) timeOp {
		for _, s := range sources {
			if i, ok := first[elementKey{id: s.id}]; ok && timeLengthOK(s.kind, t.Fields[i].Length) {
				return timeOp{fieldRef: ref(i), kind: s.kind}
			}
		}
		return timeOp{}
	}
	p.start, p.end = pick(startSources), pick(endSources)
	p.compileSection(t)
	p.assignSlots()
	if t.fixedLen > 0 {
		p.compileFixed()
		// A template with a packet section fills its flows on the
		// general path: the fixed path stays as it is for the others.
		p.fixedOK = p.fixedOK && !p.hasSection()
	}
	p.timeKind, p.fastTimes = fastTimeKind(p.start, p.end)
	p.bothTimes = p.fastTimes && p.start.kind != timeNone && p.end.kind != timeNone
	return p
}

// fastTimeKind returns the kind of a plan's times if fillFixedTimes reads
// them inline: each is missing or of one kind, milliseconds or uptimes, in
// a width readUint reads.
func fastTimeKind(start, end timeOp) (timeKind, bool) {
	kind := start.kind
	if kind == timeNone {
		kind = end.kind
	}
	for _, op := range []timeOp{start, end} {
		if op.kind != timeNone && (op.kind != kind || !readUintWidth(op.len)) {
			return kind, false
		}
	}
	return kind, kind == timeNone || kind == timeMillis || kind == timeUptime
}

// assignSlots lists the fields the plan reads in p.uses and gives every
// reference its slot there.
func (p *flowPlan) assignSlots() {
	refs := []*fieldRef{&p.start.fieldRef, &p.end.fieldRef, &p.sysInit, &p.sampler}
	for i := range p.ops {
		refs = append(refs, &p.ops[i].fieldRef)
	}
	for _, r := range refs {
		if r.ok && !slices.Contains(p.uses, r.field) {
			p.uses = append(p.uses, r.field)
		}
	}
	slices.Sort(p.uses)
	for _, r := range refs {
		if r.ok {
			r.slot = slices.Index(p.uses, r.field)
		}
	}
}

// compileFixed fills p.fixed for a fixed-length template. It is usable
// (fixedOK) when every integer field has a width readUint reads.
func (p *flowPlan) compileFixed() {
	p.fixedOK = true
	var x fixedExtra
	var icmp []planOp
	for _, op := range p.ops {
		l := loc{off: uint16(op.off), n: uint16(op.len)}
		switch {
		case isPairDest(op.dest):
			if !isAddrDest(op.dest) {
				icmp = append(icmp, op)
				p.fixedOK = p.fixedOK && readUintWidth(op.len)
			}
			pair := p.fixed.pairSlot(op.dest, &x)
			if pair[0].n == 0 {
				pair[0] = l
			} else if pair[1].n == 0 {
				pair[1] = l
			}
		case op.dest == destSection:
			p.fixedOK = false // read on the general path
			continue
		case op.dest == destSrcMAC || op.dest == destDstMAC || op.dest == destMPLSLabel:
			*p.fixed.slot(op.dest, &x) = l // fieldLengthOK checked their lengths
		default:
			p.fixedOK = p.fixedOK && readUintWidth(op.len)
			*p.fixed.slot(op.dest, &x) = l
		}
		x.groups |= extraGroupOf(op.dest)
	}
	p.fixed.v4Addrs = v4Addrs(&p.fixed.srcAddr, &p.fixed.dstAddr, &p.fixed.nextHop)
	x.v4Addrs = v4Addrs(&x.bgpNextHop, &x.postNATSrcAddr, &x.postNATDstAddr)
	x.icmpSingle = x.icmpTypeCode[1].n == 0 && x.icmpType[1].n == 0 && x.icmpCode[1].n == 0
	if x.icmpTypeCode[0].n != 0 && (x.icmpType[0].n != 0 || x.icmpCode[0].n != 0) {
		x.icmpMixed = icmp
	}
	if x.groups != 0 {
		extra := x // only now on the heap: most templates have none
		p.fixed.extra = &extra
	}
}

// v4Addrs reports whether each address is one IPv4 element or none.
func v4Addrs(addrs ...*[2]loc) bool {
	for _, a := range addrs {
		if a[1].n != 0 || (a[0].n != 0 && a[0].n != 4) {
			return false
		}
	}
	return true
}

// readUintWidth reports whether readUint reads an integer field of n bytes.
func readUintWidth(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }

// extraGroupOf returns the group of an extra destination, 0 for the others.
func extraGroupOf(d flowDest) extraGroups {
	switch d {
	case destSrcMAC, destDstMAC, destVLAN, destPostVLAN, destEthType:
		return groupLayer2
	case destDirection, destEndReason, destIPVersion, destMPLSLabel, destInVRF, destOutVRF:
		return groupTags
	case destBGPNextHop, destPostNATSrcAddr, destPostNATDstAddr, destPostNATSrcPort, destPostNATDstPort:
		return groupNAT
	case destICMPTypeCode, destICMPType, destICMPCode:
		return groupICMP
	}
	return 0
}

// pairSlot returns the two locations of an address or ICMP destination
// (in p, or in x for the extra ones), nil for any other destination.
func (p *fixedPlan) pairSlot(d flowDest, x *fixedExtra) *[2]loc {
	switch d {
	case destSrcAddr:
		return &p.srcAddr
	case destDstAddr:
		return &p.dstAddr
	case destNextHop:
		return &p.nextHop
	case destBGPNextHop:
		return &x.bgpNextHop
	case destPostNATSrcAddr:
		return &x.postNATSrcAddr
	case destPostNATDstAddr:
		return &x.postNATDstAddr
	case destICMPTypeCode:
		return &x.icmpTypeCode
	case destICMPType:
		return &x.icmpType
	case destICMPCode:
		return &x.icmpCode
	}
	return nil
}

// slot returns the location of an integer, MAC or MPLS destination (in p,
// or in x for the extra ones).
func (p *fixedPlan) slot(d flowDest, x *fixedExtra) *loc {
	switch d {
	case destBytes:
		return &p.bytes
	case destPackets:
		return &p.packets
	case destProto:
		return &p.proto
	case destToS:
		return &p.tos
	case destTCPFlags:
		return &p.tcpFlags
	case destSrcPort:
		return &p.srcPort
	case destDstPort:
		return &p.dstPort
	case destSrcMask:
		return &p.srcMask
	case destDstMask:
		return &p.dstMask
	case destInIf:
		return &p.inIf
	case destOutIf:
		return &p.outIf
	case destSrcAS:
		return &p.srcAS
	case destDstAS:
		return &p.dstAS
	case destSamplingInterval:
		return &p.sampling
	case destSrcMAC:
		return &x.srcMAC
	case destDstMAC:
		return &x.dstMAC
	case destVLAN:
		return &x.vlan
	case destPostVLAN:
		return &x.postVLAN
	case destEthType:
		return &x.ethType
	case destDirection:
		return &x.direction
	case destEndReason:
		return &x.endReason
	case destIPVersion:
		return &x.ipVersion
	case destMPLSLabel:
		return &x.mpls
	case destInVRF:
		return &x.inVRF
	case destOutVRF:
		return &x.outVRF
	case destPostNATSrcPort:
		return &x.postNATSrcPort
	case destPostNATDstPort:
		return &x.postNATDstPort
	}
	panic("netflow: no fixed slot for destination")
}
