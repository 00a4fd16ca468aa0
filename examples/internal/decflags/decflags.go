// Package decflags holds the decoder flags that examples/flowdump and
// examples/collector share: -ie FILE (element definitions), the sampling
// policy, the bounds of the exporter tables, and the printing of the
// sequence-number counters.
package decflags

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/flowkit/netflow"
)

// Flags are the flags that configure the decoder.
type Flags struct {
	ie               string
	samplingDefault  string
	samplingOverride string
	samplingScale    bool
	maxExporters     int
	maxDomains       int
}

// Add defines the flags on fs.
func Add(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.ie, "ie", "", "element definitions `file` (JSON: name, pen, id, type, optional flow_field) naming vendor elements and mapping them into flows")
	fs.StringVar(&f.samplingDefault, "sampling-default", "", "comma-separated `prefix=N`: the 1-in-N sampling interval of exporters in prefix that give none")
	fs.StringVar(&f.samplingOverride, "sampling-override", "", "comma-separated `prefix=N`: the sampling interval of exporters in prefix, whatever they say")
	fs.BoolVar(&f.samplingScale, "sampling-scale", false, "multiply packets and bytes by the sampling interval")
	fs.IntVar(&f.maxExporters, "max-exporters", 0, "most exporters whose templates the in-memory store keeps, and most exporters with data held for their templates (0: 4096 each)")
	fs.IntVar(&f.maxDomains, "max-domains", 0, "most exporter domains whose options state and sequence numbers are kept (0: 16384)")
	return f
}

// StoreConfig returns the configuration of the in-memory template store
// the flags ask for (-max-exporters, -max-domains).
func (f *Flags) StoreConfig() netflow.MemoryStoreConfig {
	return netflow.MemoryStoreConfig{MaxExporters: f.maxExporters, MaxStates: f.maxDomains}
}

// Config returns the decoder configuration the flags ask for.
func (f *Flags) Config() (netflow.Config, error) {
	var cfg netflow.Config
	if f.maxExporters < 0 || f.maxDomains < 0 {
		return cfg, fmt.Errorf("-max-exporters and -max-domains must not be negative")
	}
	cfg.Pending.MaxExporters = f.maxExporters
	cfg.Limits.MaxStateDomains, cfg.Limits.MaxSequenceDomains = f.maxDomains, f.maxDomains
	if f.maxExporters > 0 || f.maxDomains > 0 {
		cfg.Store = netflow.NewMemoryStore(f.StoreConfig())
	}
	if f.ie != "" {
		file, err := os.Open(f.ie)
		if err != nil {
			return cfg, fmt.Errorf("-ie: %w", err)
		}
		defs, err := netflow.ParseElementDefinitions(file)
		file.Close()
		if err != nil {
			return cfg, fmt.Errorf("-ie %s: %w", f.ie, err)
		}
		cfg.Registry, cfg.FlowElements = defs.Registry(), defs.Mappings
	}
	policies := map[netip.Prefix]*netflow.SamplingPolicy{}
	var order []netip.Prefix
	policy := func(p netip.Prefix) *netflow.SamplingPolicy {
		if policies[p] == nil {
			policies[p] = &netflow.SamplingPolicy{Prefix: p, Scale: f.samplingScale}
			order = append(order, p)
		}
		return policies[p]
	}
	for _, s := range []struct {
		name, value string
		set         func(*netflow.SamplingPolicy, uint32)
	}{
		{"-sampling-default", f.samplingDefault, func(p *netflow.SamplingPolicy, n uint32) { p.Default = n }},
		{"-sampling-override", f.samplingOverride, func(p *netflow.SamplingPolicy, n uint32) { p.Override = n }},
	} {
		if s.value == "" {
			continue
		}
		for _, item := range strings.Split(s.value, ",") {
			pfx, num, ok := strings.Cut(strings.TrimSpace(item), "=")
			p, err := parsePrefix(pfx)
			n, nerr := strconv.ParseUint(num, 10, 32)
			if !ok || err != nil || nerr != nil || n == 0 {
				return cfg, fmt.Errorf("%s: %q is not prefix=N (N from 1)", s.name, item)
			}
			s.set(policy(p), uint32(n))
		}
	}
	if f.samplingScale {
		policy(netip.MustParsePrefix("0.0.0.0/0"))
		policy(netip.MustParsePrefix("::/0"))
	}
	for _, p := range order {
		cfg.Sampling = append(cfg.Sampling, *policies[p])
	}
	return cfg, nil
}

// parsePrefix reads a prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// PrintSequences prints what the exporters' sequence numbers told, one
// line per exporter domain.
func PrintSequences(w io.Writer, st netflow.Stats) {
	var b strings.Builder
	units := map[uint16]string{5: "flows", 6: "flows", 7: "flows", 9: "datagrams", 10: "records"}
	for _, s := range st.Sequences {
		version, unit := fmt.Sprintf("v%d", s.Version), units[s.Version]
		if s.Protocol == netflow.ExportSFlow {
			version, unit = "sflow", "datagrams" // domain: the sub-agent
		}
		fmt.Fprintf(&b, "sequence: exporter %s %s domain %d: %d messages, lost %d %s, late %d, duplicates %d, restarts %d, unchecked %d\n",
			s.Exporter, version, s.Domain, s.Messages, s.Lost, unit, s.Late, s.Duplicates, s.Restarts, s.Unchecked)
	}
	if st.SequenceDomainsRefused+st.SequenceDomainsReclaimed > 0 {
		fmt.Fprintf(&b, "sequence domains: refused %d, reclaimed %d\n", st.SequenceDomainsRefused, st.SequenceDomainsReclaimed)
	}
	io.WriteString(w, b.String())
}
