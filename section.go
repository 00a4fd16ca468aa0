package netflow

// IPFIX packet sections: dataLinkFrameSection (315), ipHeaderPacketSection
// (313) and ipPayloadPacketSection (314) carry the first bytes of a
// packet, as an sFlow raw packet header does. Exporters send them (Cisco's
// and Juniper's packet sampling, some probes) in place of the address and
// port elements. A template with one of them gets the header's fields
// through the sampled-header parser (packetheader.go), for each field the
// template has no element for: a template with sourceIPv4Address keeps
// its own. Config.Decapsulate applies as for sFlow.
//
// ipPayloadPacketSection begins after the IP header: only the transport
// header's fields (ports, TCP flags, ICMP type and code) come from it, and
// only when the record's protocolIdentifier says which transport it is.
// mplsPayloadPacketSection (317) and the other sections are not read.

// sectionElements are the packet sections read, in order of preference,
// with the layer each begins with.
var sectionElements = [...]struct {
	id    uint16
	start headerLayer
}{
	{ieDataLinkFrameSection, startEthernet},
	{ieIpHeaderPacketSection, startIP},
	{ieIpPayloadPacketSection, startTransport},
}

// compileSection appends to p.ops the first packet section of t (of the
// preferred kind), if the template lacks an element for some header field
// it gives: an op of destSection, last in ops, whose length is 0 for a
// variable-length field (sectionBytes finds it in the record).
func (p *flowPlan) compileSection(t *Template) {
	for _, e := range sectionElements {
		for i, f := range t.Fields {
			if f.PEN != 0 || f.ID != e.id {
				continue
			}
			if sectionFields(p.known, sectionStart(f.ID)) == 0 {
				return // the template has every field the section could give
			}
			op := planOp{fieldRef: fieldRef{field: i, ok: true}, dest: destSection}
			if f.Length != VariableLength {
				op.len = int(f.Length)
			}
			if t.fixedLen > 0 {
				op.off = t.offsets[i]
			}
			p.ops = append(p.ops, op)
			return
		}
	}
}

// hasSection reports whether the plan reads a packet section.
func (p *flowPlan) hasSection() bool {
	return len(p.ops) > 0 && p.ops[len(p.ops)-1].dest == destSection
}

// sectionStart returns the layer a packet section element begins with.
func sectionStart(id uint16) headerLayer {
	for _, e := range sectionElements {
		if e.id == id {
			return e.start
		}
	}
	return layerNone
}

// sectionFields returns the header fields a section beginning with start
// gives a template whose plan fills known.
func sectionFields(known FlowFields, start headerLayer) FlowFields {
	fields := headerFields &^ known
	if start == startTransport {
		fields &= headerL4Fields
	}
	return fields
}

// fillFromSection parses the packet section of op in rec and gives f the
// header fields the template lacks that the header holds.
func fillFromSection(f *Flow, op *planOp, plan *flowPlan, t *Template, rec []byte, ctx *flowContext) {
	b, ok := sectionBytes(op, t, rec)
	if !ok {
		return
	}
	start := sectionStart(t.Fields[op.field].ID)
	var h Flow
	if start == startTransport {
		if f.Known&FieldProto == 0 {
			return
		}
		h.Proto, h.Known = f.Proto, FieldProto
	}
	parsePacketHeader(&h, b, start, ctx.decap)
	mergeHeaderFields(f, &h, h.Known&sectionFields(plan.known, start))
}

// sectionBytes returns the bytes of the packet section of op in rec.
func sectionBytes(op *planOp, t *Template, rec []byte) ([]byte, bool) {
	r := &op.fieldRef
	if t.fixedLen > 0 {
		return rec[r.off : r.off+r.len], true
	}
	off := 0
	for i, f := range t.Fields {
		n := int(f.Length)
		if f.Length == VariableLength {
			var hdr int
			var ok bool
			if n, hdr, ok = varLength(rec[off:]); !ok {
				return nil, false
			}
			off += hdr
		}
		if off+n > len(rec) {
			return nil, false
		}
		if i == r.field {
			return rec[off : off+n], true
		}
		off += n
	}
	return nil, false
}

// mergeHeaderFields copies the fields of h in mask into f.
func mergeHeaderFields(f, h *Flow, mask FlowFields) {
	if mask&headerL2Fields != 0 {
		if mask&FieldSrcMAC != 0 {
			f.SrcMAC = h.SrcMAC
		}
		if mask&FieldDstMAC != 0 {
			f.DstMAC = h.DstMAC
		}
		if mask&FieldVLAN != 0 {
			f.VLAN = h.VLAN
		}
		if mask&FieldEthType != 0 {
			f.EthType = h.EthType
		}
	}
	if mask&FieldMPLSLabel != 0 {
		f.MPLSLabel = h.MPLSLabel
	}
	if mask&headerL3Fields != 0 {
		if mask&FieldIPVersion != 0 {
			f.IPVersion = h.IPVersion
		}
		if mask&FieldSrcAddr != 0 {
			f.SrcAddr = h.SrcAddr
		}
		if mask&FieldDstAddr != 0 {
			f.DstAddr = h.DstAddr
		}
		if mask&FieldToS != 0 {
			f.ToS = h.ToS
		}
		if mask&FieldProto != 0 {
			f.Proto = h.Proto
		}
	}
	if mask&headerL4Fields != 0 {
		if mask&FieldSrcPort != 0 {
			f.SrcPort = h.SrcPort
		}
		if mask&FieldDstPort != 0 {
			f.DstPort = h.DstPort
		}
		if mask&FieldTCPFlags != 0 {
			f.TCPFlags = h.TCPFlags
		}
		if mask&FieldICMPType != 0 {
			f.ICMPType = h.ICMPType
		}
		if mask&FieldICMPCode != 0 {
			f.ICMPCode = h.ICMPCode
		}
	}
	f.Known |= mask
}
