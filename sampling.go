package netflow

import (
	"math/bits"
	"net/netip"
	"slices"
)

// SamplingPolicy says how a Decoder treats the sampling interval of the
// exporters whose address is in Prefix (Config.Sampling).
type SamplingPolicy struct {
	Prefix netip.Prefix
	// Default is the 1-in-N interval of flows for which the exporter gave
	// none: not in the record, the v5/v6 header or options data. 0 leaves
	// such flows without one.
	Default uint32
	// Override, if not 0, is the interval of every flow of these
	// exporters, whatever they said.
	Override uint32
	// Scale multiplies Packets and Bytes by the flow's interval (when it is
	// known and above 1, saturating at the largest uint64) and sets
	// FieldScaled in Flow.Known.
	Scale bool
}

// samplingRule is the policy of one exporter, resolved once per datagram.
type samplingRule struct {
	active            bool
	scale             bool
	fallback, replace uint32
}

// samplingTable holds Config.Sampling, most specific prefix first.
type samplingTable []SamplingPolicy

func newSamplingTable(policies []SamplingPolicy) samplingTable {
	t := samplingTable{}
	for _, p := range policies {
		if p.Prefix.IsValid() {
			p.Prefix = p.Prefix.Masked()
			t = append(t, p)
		}
	}
	// Longest prefix first; of equal ones, the first listed.
	slices.SortStableFunc(t, func(a, b SamplingPolicy) int { return b.Prefix.Bits() - a.Prefix.Bits() })
	return t
}

// rule returns the policy of an exporter: the most specific prefix holding
// its address. An IPv4-mapped IPv6 address matches IPv4 prefixes.
func (t samplingTable) rule(exporter netip.AddrPort) samplingRule {
	if len(t) == 0 {
		return samplingRule{}
	}
	a := exporter.Addr().Unmap()
	for i := range t {
		if p := &t[i]; p.Prefix.Contains(a) {
			return samplingRule{active: p.Default != 0 || p.Override != 0 || p.Scale, scale: p.Scale, fallback: p.Default, replace: p.Override}
		}
	}
	return samplingRule{}
}

// apply applies the rule to a flow whose own interval, if any, is in.
func (r *samplingRule) apply(f *Flow) {
	switch {
	case r.replace != 0:
		f.SamplingInterval = r.replace
		f.Known |= FieldSamplingInterval
	case f.Known&FieldSamplingInterval == 0 && r.fallback != 0:
		f.SamplingInterval = r.fallback
		f.Known |= FieldSamplingInterval
	}
	if r.scale && f.Known&FieldSamplingInterval != 0 && f.SamplingInterval > 1 {
		f.Packets = scaleCount(f.Packets, f.SamplingInterval)
		f.Bytes = scaleCount(f.Bytes, f.SamplingInterval)
		f.Known |= FieldScaled
	}
}

// scaleCount returns n*iv, or the largest uint64 if that overflows.
func scaleCount(n uint64, iv uint32) uint64 {
	hi, lo := bits.Mul64(n, uint64(iv))
	if hi != 0 {
		return ^uint64(0)
	}
	return lo
}
