package netflow

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The straight-line fixed path (fillFixedFlow) must give what the general
// path (fillFlowAt, by the template's offsets or by offsets worked out per
// record) gives, for every template it takes.

// fillPathsAgree fills f's record by the three paths and reports the first
// difference.
func fillPathsAgree(t *Template, rec []byte, ctx *flowContext) error {
	plan := ctx.planOf(t)
	var general, perRecord, fixed Flow
	fillFlowAt(&general, plan, t, rec, ctx, nil)
	var offs [maxPlanSlots]int
	if !fieldOffsets(t, plan, rec, offs[:len(plan.uses)]) {
		return fmt.Errorf("template %d: offsets of a %d-byte record", t.ID, len(rec))
	}
	fillFlowAt(&perRecord, plan, t, rec, ctx, offs[:])
	if perRecord != general {
		return fmt.Errorf("template %d: per-record offsets %+v, fixed offsets %+v", t.ID, perRecord, general)
	}
	if !plan.fixedOK {
		return nil
	}
	fixed = dirtyFlow()
	fillFixedFlow(&fixed, plan, rec, ctx, ctx.samplerOf(plan))
	if fixed != general {
		return fmt.Errorf("template %d: fixed path\n%+v\ngeneral path\n%+v", t.ID, fixed, general)
	}
	return nil
}

// dirtyFlow returns a Flow with every field set, as a reused dst holds.
func dirtyFlow() Flow {
	a := netip.MustParseAddr("203.0.113.9")
	return Flow{
		Exporter: netip.MustParseAddrPort("198.51.100.1:9"), Version: 99, Domain: 9, Sequence: 9,
		SrcAddr: a, DstAddr: a, NextHop: a, SrcPort: 9, DstPort: 9, Proto: 9, ToS: 9, TCPFlags: 9,
		SrcMask: 9, DstMask: 9, Packets: 9, Bytes: 9, Start: time.Unix(9, 9), End: time.Unix(9, 9),
		InIf: 9, OutIf: 9, SrcAS: 9, DstAS: 9, SamplingInterval: 9, SrcMAC: MAC{9}, DstMAC: MAC{9},
		VLAN: 9, PostVLAN: 9, EthType: 9, Direction: 9, EndReason: 9, IPVersion: 9, ICMPType: 9,
		ICMPCode: 9, MPLSLabel: 9, InVRF: 9, OutVRF: 9, BGPNextHop: a, PostNATSrcAddr: a,
		PostNATDstAddr: a, PostNATSrcPort: 9, PostNATDstPort: 9, Known: ^FlowFields(0),
	}
}

// checkFillPaths checks every fixed-length data record of sets (none if
// nil).
func checkFillPaths(sets *Sets) (records int, err error) {
	if sets == nil {
		return 0, nil
	}
	for i := range sets.DataSets {
		ds := &sets.DataSets[i]
		t := ds.Template
		if t.Options || t.fixedLen == 0 {
			continue
		}
		for off := 0; off+t.fixedLen <= len(ds.body); off += t.fixedLen {
			if err := fillPathsAgree(t, ds.body[off:off+t.fixedLen], &ds.ctx); err != nil {
				return records, err
			}
			records++
		}
	}
	return records, nil
}

func TestFillPathsAgreeOnFixtures(t *testing.T) {
	records, withExtra := 0, 0
	eachFixtureSets(t, func(file string, s *Sets) {
		n, err := checkFillPaths(s)
		require.NoError(t, err, file)
		records += n
		for i := range s.DataSets {
			ds := &s.DataSets[i]
			if plan := ds.ctx.planOf(ds.Template); plan.fixedOK && plan.fixed.extra != nil {
				withExtra++
			}
		}
	})
	t.Logf("%d records, %d data sets with elements beyond v5's", records, withExtra)
	require.Greater(t, records, 400)
	require.Greater(t, withExtra, 50)
}

// TestFillPathsAgreeOnEveryElement builds templates of every element a Flow
// field takes, in random order and with IPv4 and IPv6 candidates side by
// side, and fills random records by every path.
func TestFillPathsAgreeOnEveryElement(t *testing.T) {
	t.Parallel()
	var all, odd []TemplateField
	for d := flowDest(1); d < destCount; d++ {
		for _, k := range destCandidates[d] {
			n := uint16(4)
			switch {
			case isAddrDest(d) && isIPv6Element(k):
				n = 16
			case d == destSrcMAC || d == destDstMAC:
				n = 6
			case d == destMPLSLabel:
				n = 3
			case d == destProto || d == destToS || d == destTCPFlags || d == destDirection:
				n = 1
			case d == destSrcPort || d == destDstPort || d == destVLAN:
				n = 2
			case d == destBytes:
				n = 8
			}
			all = append(all, TemplateField{ID: k.id, PEN: k.pen, Length: n})
			// Reduced-size and odd widths, which only the general path
			// reads.
			if !isAddrDest(d) && d != destSrcMAC && d != destDstMAC {
				odd = append(odd, TemplateField{ID: k.id, PEN: k.pen, Length: []uint16{3, 5, 7}[len(odd)%3]})
			}
		}
	}
	for _, s := range append(startSources, endSources...) {
		n := uint16(4)
		if s.kind == timeMicros || s.kind == timeNanos || s.kind == timeMillis {
			n = 8
		}
		all = append(all, TemplateField{ID: s.id, Length: n})
		if n == 4 {
			odd = append(odd, TemplateField{ID: s.id, Length: 8})
		}
	}
	// The system init time and sampler IDs, which times and the sampling
	// interval read.
	all = append(all, TemplateField{ID: ieSystemInitTimeMilliseconds, Length: 8},
		TemplateField{ID: ieSamplerId, Length: 1}, TemplateField{ID: ieSelectorId, Length: 2})
	states := []*flowState{nil, {interval: 7, systemInit: 1_600_000_000_000, samplers: map[uint64]uint32{0: 3, 1: 5, 256: 9}}}
	r := rand.New(rand.NewPCG(14, 14))
	ctx := flowContext{exporter: testExporter, version: 10, domain: 1, sequence: 7,
		exportTime: time.Unix(1_700_000_000, 0).UTC(), exportNs: 1_700_000_000e9, sysUptime: 600_000}
	fixedSeen := 0
	for round := range 20000 {
		pool := all
		if round%4 == 3 { // a round with odd widths too
			pool = append(slices.Clip(all), odd...)
		}
		fields := make([]TemplateField, 0, 16)
		for _, i := range r.Perm(len(pool))[:1+r.IntN(24)] {
			fields = append(fields, pool[i])
		}
		if round%8 == 5 {
			// Uptimes only, of 4 or 8 bytes: the IPFIX uptime fast path.
			fields = slices.DeleteFunc(fields, isTimeField)
			n := uint16(4 << r.IntN(2))
			fields = append(fields, TemplateField{ID: ieFlowStartSysUpTime, Length: n}, TemplateField{ID: ieFlowEndSysUpTime, Length: n})
		}
		version := uint16(10)
		if round%2 == 0 {
			version = 9
		}
		ctx.version, ctx.headerUptime = version, version == 9
		ctx.state = states[round/2%2]
		tpl, err := NewTemplate(version, 256, false, 0, fields)
		require.NoError(t, err)
		if tpl.plan.fixedOK {
			fixedSeen++
		}
		rec := make([]byte, tpl.fixedLen)
		for range 4 {
			for i := range rec {
				// Mostly zero bytes, so that unspecified addresses and
				// zero ICMP values (the pair rules) come up.
				if r.IntN(3) == 0 {
					rec[i] = byte(r.Uint32())
				} else {
					rec[i] = 0
				}
			}
			// An ICMP protocol now and then, for the ICMP rules.
			if pi := fieldIndex(fields, ieProtocolIdentifier); pi >= 0 && r.IntN(2) == 0 {
				rec[tpl.offsets[pi]] = []byte{1, 58, 6}[r.IntN(3)]
			}
			require.NoError(t, fillPathsAgree(tpl, rec, &ctx), "fields %v", fields)
		}
	}
	require.Greater(t, fixedSeen, 12000)
}

func isTimeField(f TemplateField) bool {
	for _, s := range append(slices.Clip(startSources), endSources...) {
		if f.PEN == 0 && f.ID == s.id {
			return true
		}
	}
	return false
}

func fieldIndex(fields []TemplateField, id uint16) int {
	for i, f := range fields {
		if f.PEN == 0 && f.ID == id {
			return i
		}
	}
	return -1
}
