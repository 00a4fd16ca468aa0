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

// compileSection finds the first packet section of t (of the preferred
// kind) and the header fields it fills.
func (p *flowPlan) compileSection(t *Template) {
	for _, e := range sectionElements {
		for i, f := range t.Fields {
			if f.PEN != 0 || f.ID != e.id {
				continue
			}
			fields := headerFields &^ p.known
			if e.start == startTransport {
				fields &= headerL4Fields
			}
			if fields == 0 {
				return // the template has every field the section could give
			}
			p.section = fieldRef{field: i, len: int(f.Length), ok: true}
			if t.fixedLen > 0 {
				p.section.off = t.offsets[i]
			}
			p.sectionStart, p.sectionFields = e.start, fields
			return
		}
	}
}

// fillFromSection parses the record's packet section and gives f the
// fields of the plan's sectionFields that the header holds.
func fillFromSection(f *Flow, plan *flowPlan, t *Template, rec []byte, ctx *flowContext) {
	b, ok := sectionBytes(plan, t, rec)
	if !ok {
		return
	}
	var h Flow
	if plan.sectionStart == startTransport {
		if f.Known&FieldProto == 0 {
			return
		}
		h.Proto, h.Known = f.Proto, FieldProto
	}
	parsePacketHeader(&h, b, plan.sectionStart, ctx.decap)
	mergeHeaderFields(f, &h, h.Known&plan.sectionFields)
}

// sectionBytes returns the bytes of the plan's packet section in rec.
func sectionBytes(plan *flowPlan, t *Template, rec []byte) ([]byte, bool) {
	r := &plan.section
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
