package netflow

// softflowd's v9 and IPFIX export of testdata/softflowd/softflowd_input.pcap
// (scripts/capture_softflowd.sh), compared flow by flow with tshark's
// decode (testdata/expected/softflowd_v9.json, softflowd_v10.json) and with
// the flows the synthetic input holds (softflowd_input_flows.json). v1 and
// v5 of the same capture are checked in fixed_test.go.

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// softflowdInputFlow is one flow of the synthetic input, as its generator
// wrote it: unidirectional, bytes the sum of IP total lengths, ICMP type
// and code in the ports, times in Unix milliseconds.
type softflowdInputFlow struct {
	SrcAddr  string `json:"src_addr"`
	DstAddr  string `json:"dst_addr"`
	Proto    uint8  `json:"proto"`
	SrcPort  uint16 `json:"src_port"`
	DstPort  uint16 `json:"dst_port"`
	ToS      uint8  `json:"tos"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	TCPFlags uint8  `json:"tcp_flags"`
	FirstMS  int64  `json:"first_ms"`
	LastMS   int64  `json:"last_ms"`
}

func loadSoftflowdInput(t *testing.T) []softflowdInputFlow {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "softflowd", "softflowd_input_flows.json"))
	require.NoError(t, err)
	var doc struct {
		Flows []softflowdInputFlow `json:"flows"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	require.NotEmpty(t, doc.Flows)
	return doc.Flows
}

// tsharkSkippedSets reads which sets tshark did not dissect, per datagram.
func tsharkSkippedSets(t *testing.T, name string) [][]uint16 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "expected", name))
	require.NoError(t, err)
	var doc struct {
		Datagrams []struct {
			Skipped []struct {
				SetID uint16 `json:"set_id"`
			} `json:"tshark_skipped_sets"`
		} `json:"datagrams"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	out := make([][]uint16, len(doc.Datagrams))
	for i, dg := range doc.Datagrams {
		for _, s := range dg.Skipped {
			out[i] = append(out[i], s.SetID)
		}
	}
	return out
}

func TestSoftflowdV9AndIPFIX(t *testing.T) {
	input := loadSoftflowdInput(t)
	for _, c := range []struct {
		pcap, expected string
		version        uint16
	}{
		{"softflowd_v9.pcap", "softflowd_v9.json", 9},
		{"softflowd_v10.pcap", "softflowd_v10.json", 10},
	} {
		t.Run(c.pcap, func(t *testing.T) {
			payloads := readPcapPayloads(t, filepath.Join("testdata", "softflowd", c.pcap))
			doc := loadExpected(t, c.expected)
			require.Len(t, doc.Datagrams, len(payloads), "tshark decodes every datagram of the capture")
			skipped := tsharkSkippedSets(t, c.expected)
			d := NewDecoder(Config{})
			seen := make([]int, len(input)) // how often each input flow was exported
			var sysInit time.Time           // IPFIX: from the options record, as tshark shows it
			compared, fromInput := 0, 0
			for i, payload := range payloads {
				dg := doc.Datagrams[i]
				p, err := d.Decode(testExporter, payload)
				require.NoError(t, err)
				require.Equal(t, c.version, p.Version())
				s := packetSets(t, p)
				require.Zero(t, s.Pending)
				flows := p.AppendFlows(nil)
				require.Equal(t, len(flows), p.FlowCount())

				// Walk our records in wire order alongside tshark's.
				next, fi := 0, 0
				for _, ds := range s.DataSets {
					require.False(t, ds.Late)
					for range ds.Records {
						var f *Flow
						if !ds.Options() {
							f = &flows[fi]
							fi++
							j := matchInputFlow(t, input, f)
							seen[j]++
						}
						if slices.Contains(skipped[i], ds.TemplateID) {
							// tshark did not dissect this set: the
							// generator's flows are the oracle.
							require.NotNil(t, f, "skipped options set")
							checkAgainstInput(t, input, f)
							fromInput++
							continue
						}
						require.Less(t, next, len(dg.Flows), "more records than tshark")
						ef := dg.Flows[next]
						next++
						require.NotNil(t, ef.TemplateID)
						require.Equal(t, *ef.TemplateID, ds.TemplateID)
						require.Equal(t, ef.Options, ds.Options())
						if ef.Options {
							if v, ok := ef.Fields["cflow.sys_init_time"]; ok {
								tt, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", v)
								require.NoError(t, err)
								sysInit = tt
							}
							continue
						}
						checkSoftflowdFlow(t, dg, ef, f, sysInit)
						compared++
					}
				}
				require.Equal(t, len(dg.Flows), next, "fewer records than tshark")
				if c.version == 10 {
					st, ok := d.ExporterState(testExporter, 10, 0)
					require.True(t, ok)
					require.Equal(t, sysInit, st.SystemInit, "systemInitTimeMilliseconds as tshark shows it")
				}
			}
			// Every flow of the input was exported exactly once.
			for j, n := range seen {
				require.Equal(t, 1, n, "input flow %d %+v", j, input[j])
			}
			t.Logf("%s: %d flows compared with tshark, %d (sets tshark skipped) with the input", c.pcap, compared, fromInput)
			require.Positive(t, compared)
		})
	}
}

// checkSoftflowdFlow compares every key tshark gave for a v9 or IPFIX
// flow record with the Flow.
func checkSoftflowdFlow(t *testing.T, dg expectedDatagram, ef expectedFlow, f *Flow, sysInit time.Time) {
	t.Helper()
	what := fmt.Sprintf("%s -> %s", *ef.SrcAddr, *ef.DstAddr)
	require.Equal(t, addr(*ef.SrcAddr), f.SrcAddr, what)
	require.Equal(t, addr(*ef.DstAddr), f.DstAddr, what)
	eq := func(want, got any, key string) {
		t.Helper()
		if want != nil {
			require.EqualValues(t, want, got, what+" "+key)
		}
	}
	eq(derefAny(ef.SrcPort), f.SrcPort, "src_port")
	eq(derefAny(ef.DstPort), f.DstPort, "dst_port")
	eq(derefAny(ef.Proto), f.Proto, "proto")
	eq(derefAny(ef.ToS), f.ToS, "tos")
	eq(derefAny(ef.TCPFlags), f.TCPFlags, "tcp_flags")
	eq(derefAny(ef.Packets), f.Packets, "packets")
	eq(derefAny(ef.Bytes), f.Bytes, "bytes")
	eq(derefAny(ef.InIf), f.InIf, "in_if")
	eq(derefAny(ef.OutIf), f.OutIf, "out_if")
	require.NotNil(t, ef.FirstUptimeMS, what)
	require.True(t, f.Known.Has(FieldStart|FieldEnd), what)
	switch dg.Version {
	case 9:
		if dg.UnixNsecs == nil {
			dg.UnixNsecs = new(uint32) // v9 headers have whole seconds
		}
		require.Equal(t, expectedTime(dg, *ef.FirstUptimeMS), f.Start, what+" start")
		require.Equal(t, expectedTime(dg, *ef.LastUptimeMS), f.End, what+" end")
	case 10:
		// flowStart/EndSysUpTime against the options data's
		// systemInitTimeMilliseconds.
		require.False(t, sysInit.IsZero())
		require.Equal(t, sysInit.Add(time.Duration(*ef.FirstUptimeMS)*time.Millisecond), f.Start, what+" start")
		require.Equal(t, sysInit.Add(time.Duration(*ef.LastUptimeMS)*time.Millisecond), f.End, what+" end")
	}
	require.Equal(t, time.UTC, f.Start.Location())
}

func derefAny[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// matchInputFlow returns the index of the input flow f reports.
func matchInputFlow(t *testing.T, input []softflowdInputFlow, f *Flow) int {
	t.Helper()
	for j, in := range input {
		if netip.MustParseAddr(in.SrcAddr) == f.SrcAddr && netip.MustParseAddr(in.DstAddr) == f.DstAddr &&
			in.Proto == f.Proto && (in.Proto == 1 || in.Proto == 58 || in.SrcPort == f.SrcPort && in.DstPort == f.DstPort) {
			return j
		}
	}
	require.Failf(t, "flow not in the input", "flow %v:%d -> %v:%d proto %d is not in the input", f.SrcAddr, f.SrcPort, f.DstAddr, f.DstPort, f.Proto)
	return -1
}

// checkAgainstInput compares a flow with the input flow it reports:
// counters and start time. softflowd (run with -a, the pcap's clock) gives
// both directions of a flow the same times, so the start is compared with
// the direction's own or its reverse's. A v9 header carries the export time
// in whole seconds, so an uptime-based v9 time is early by the fraction of
// a second the header dropped (here 302 ms): up to 1 s.
func checkAgainstInput(t *testing.T, input []softflowdInputFlow, f *Flow) {
	t.Helper()
	in := input[matchInputFlow(t, input, f)]
	require.Equal(t, in.Packets, f.Packets)
	require.Equal(t, in.Bytes, f.Bytes)
	require.Equal(t, in.TCPFlags, f.TCPFlags)
	got := f.Start.UnixMilli()
	var starts []int64
	for _, o := range input {
		if o.Proto == in.Proto && (o.SrcAddr == in.SrcAddr && o.DstAddr == in.DstAddr || o.SrcAddr == in.DstAddr && o.DstAddr == in.SrcAddr) {
			if d := o.FirstMS - got; d >= 0 && d < 1000 {
				return
			}
			starts = append(starts, o.FirstMS)
		}
	}
	require.Failf(t, "start not in the input", "start %d ms: input starts %v", got, starts)
}
