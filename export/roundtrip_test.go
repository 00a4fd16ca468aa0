package export_test

import (
	"bytes"
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// messages collects what a Writer writes, one message per Write.
type messages struct{ msgs [][]byte }

func (m *messages) Write(b []byte) (int, error) {
	m.msgs = append(m.msgs, bytes.Clone(b))
	return len(b), nil
}

// decodeAll decodes msgs in order with one decoder (of mappings) and
// returns their flows. Every message must decode without error and leave
// nothing pending.
func decodeAll(t testing.TB, msgs [][]byte, mappings ...netflow.FlowMapping) []netflow.Flow {
	t.Helper()
	dec := netflow.NewDecoder(netflow.Config{FlowElements: mappings})
	var buf netflow.Buffer
	var flows []netflow.Flow
	for i, m := range msgs {
		var err error
		flows, err = dec.DecodeFlows(&buf, flows, testExporter, m)
		require.NoError(t, err, "message %d", i)
	}
	require.Zero(t, dec.Stats().Pending.Held, "sets waiting for a template")
	return flows
}

// roundTrip writes flows with cfg (Now fixed at testExport), decodes the
// messages and compares every flow with what its version carries.
func roundTrip(t testing.TB, cfg export.Config, flows []netflow.Flow) [][]byte {
	t.Helper()
	msgs, st := writeStats(t, cfg, flows)
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = export.DefaultMTU
	}
	for i, m := range msgs {
		require.LessOrEqual(t, len(m), mtu, "message %d", i)
	}
	got := byDomain(decodeAll(t, msgs, cfg.FlowElements...))
	wanted := make([]netflow.Flow, len(flows))
	for i := range flows {
		wanted[i] = want(flows[i], cfg)
	}
	wanted = byDomain(wanted)
	require.Len(t, got, len(flows))
	res := resolution(cfg.Version, cfg.TimeFormat)
	for i := range wanted {
		g := got[i]
		g.Sequence = 0
		g.Start, g.End = g.Start.Truncate(res), g.End.Truncate(res)
		if !equalFlows(wanted[i], g) {
			require.Equal(t, wanted[i].String(), g.String(), "flow %d of %d", i, len(flows))
			require.Equal(t, wanted[i], g, "flow %d of %d", i, len(flows))
		}
	}
	require.Equal(t, uint64(len(flows)), st.Flows)
	require.Equal(t, uint64(len(msgs)), st.Messages)
	return msgs
}

// byDomain orders flows by domain, keeping their order within each: a
// writer fills one message per domain at a time.
func byDomain(flows []netflow.Flow) []netflow.Flow {
	slices.SortStableFunc(flows, func(a, b netflow.Flow) int { return cmp.Compare(a.Domain, b.Domain) })
	return flows
}

// equalFlows compares two flows field by field, times by instant.
func equalFlows(a, b netflow.Flow) bool {
	if !a.Start.Equal(b.Start) || !a.End.Equal(b.End) {
		return false
	}
	a.Start, a.End, b.Start, b.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func TestRoundTripFixed(t *testing.T) {
	for _, v := range []uint16{1, 5, 7} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(v)))
			flows := make([]netflow.Flow, testkit.SoakSize(500, 50_000))
			for i := range flows {
				flows[i] = randomFlow(r, genOptions{version: v, domains: 3, sampling: true})
			}
			roundTrip(t, export.Config{Version: v}, flows)
		})
	}
}

func TestRoundTripTemplates(t *testing.T) {
	formats := []export.TimeFormat{export.TimeDefault, export.TimeUptime, export.TimeSeconds, export.TimeMillis,
		export.TimeMicros, export.TimeNanos, export.TimeDeltaMicros}
	for _, v := range []uint16{9, 10} {
		for _, tf := range formats {
			for _, partial := range []bool{false, true} {
				t.Run(fmt.Sprintf("v%d/time%d/partial=%v", v, tf, partial), func(t *testing.T) {
					r := rand.New(rand.NewPCG(uint64(tf), uint64(v)))
					o := genOptions{version: v, ipv6: true, partial: partial, domains: 2, sampling: true}
					n := testkit.SoakSize(400, 20_000)
					if partial {
						n = min(n, 1500) // a template a flow: within the decoder store's 1024 a domain
					}
					flows := make([]netflow.Flow, n)
					for i := range flows {
						flows[i] = randomFlow(r, o)
						if tf == export.TimeDeltaMicros {
							// A delta counts back from the export time, whole seconds.
							for _, ts := range []*time.Time{&flows[i].Start, &flows[i].End} {
								if ts.After(testExport.Truncate(time.Second)) {
									*ts = testExport.Truncate(time.Second)
								}
							}
						}
					}
					roundTrip(t, export.Config{Version: v, TimeFormat: tf, MaxTemplates: 4000}, flows)
				})
			}
		}
	}
}
