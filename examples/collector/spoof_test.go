package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// spoofMessage returns an IPFIX message of domain 1: if defs, the
// builders' template 256, options template 300 (samplingInterval 34 per
// observation domain) and its options data giving interval; and n records
// of template 256.
func spoofMessage(defs bool, interval uint32, n int) []byte {
	var sets [][]byte
	if defs {
		sets = append(sets,
			testkit.Set(2, testkit.TemplateRecord(256, testkit.IPFIXFields...), false),
			testkit.Set(3, testkit.IPFIXOptionsTemplate(300, 1, testkit.Field{ID: 149, Length: 4}, testkit.Field{ID: 34, Length: 4}), false),
			testkit.Set(300, append(testkit.UintBytes(1, 4), testkit.UintBytes(uint64(interval), 4)...), false))
	}
	if n > 0 {
		sets = append(sets, testkit.Set(256, testkit.FlowRecords(testkit.IPFIXFields, n), false))
	}
	return testkit.IPFIXMessage(1, 0, sets...)
}

// TestCollectorSpoofedFlood (issue 20 item 1, at the receiver): a collector
// process gets one datagram (template, options, one flow) from each of
// 50,000 loopback source addresses under NETFLOW_SOAK=1, more than its
// default store and state tables hold (4,096 exporters, 16,384 domains);
// otherwise from 3,000, more than the tables of -max-exporters 512
// -max-domains 2048 hold. An exporter active before
// the flood still decodes with its templates and sampling interval after
// it; a new exporter's templates and options from its first datagram
// decode its second. On main before this change the new exporter's
// template was refused, and its second datagram's flows were held for
// good.
func TestCollectorSpoofedFlood(t *testing.T) {
	sources, exporterBound, domainBound := 50_000, 4096, 16384
	args := []string{"-flows-only", "-metrics", "127.0.0.1:0"}
	if !testkit.Soak() {
		sources, exporterBound, domainBound = 3_000, 512, 2048
		args = append(args, "-max-exporters", fmt.Sprint(exporterBound), "-max-domains", fmt.Sprint(domainBound))
	}
	c := startCollector(t, args...)
	maddr := stderrValue(t, c.stderr, "metrics on ")
	known, fresh := newExporter(t), newExporter(t)
	lines := 0
	send := func(e *exporter, msg []byte, flows int, what string) {
		t.Helper()
		e.send(c.addr, msg)
		lines += flows
		c.waitLines(lines, what)
	}
	send(known, spoofMessage(true, 10, 0), 0, "known exporter's definitions")
	send(known, spoofMessage(false, 0, 2), 2, "known exporter's data")
	send(known, spoofMessage(false, 0, 1), 1, "known exporter's data")

	flood := spoofMessage(true, 7, 1)
	for i := range sources {
		ip := net.IPv4(127, byte(10+i>>16), byte(i>>8), byte(i))
		s, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip})
		require.NoError(t, err)
		_, err = s.WriteToUDPAddrPort(flood, c.addr)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		lines++
		if i%1000 == 999 || i == sources-1 {
			c.waitLines(lines, "the flood") // a pace the socket buffer holds
		}
	}

	send(fresh, spoofMessage(true, 64, 1), 1, "new exporter's first datagram")
	send(fresh, spoofMessage(false, 0, 3), 3, "new exporter's data, decoded with its stored template")
	send(known, spoofMessage(false, 0, 2), 2, "known exporter's data after the flood")
	metrics := scrape(t, maddr)
	c.stop()

	for _, e := range []struct {
		e        *exporter
		interval int
		srcs     []int // FlowN indexes of its flows, in order
	}{{known, 10, []int{0, 1, 0, 0, 1}}, {fresh, 64, []int{0, 0, 1, 2}}} {
		addr := e.e.c.LocalAddr().(*net.UDPAddr).AddrPort()
		var want, got []string
		for _, i := range e.srcs {
			want = append(want, testkit.FlowN(i).Src.String())
		}
		for line := range strings.SplitSeq(c.stdout.String(), "\n") {
			if !strings.Contains(line, `"exporter":"`+addr.String()+`"`) {
				continue
			}
			var f struct {
				Sampling int    `json:"sampling_interval"`
				SrcAddr  string `json:"src_addr"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &f), line)
			require.Equal(t, e.interval, f.Sampling, line)
			got = append(got, f.SrcAddr)
		}
		require.Equal(t, want, got, "flows of exporter %v", addr)
	}
	evicted := 1 + sources + 1 - exporterBound
	require.Contains(t, c.stderr.String(), fmt.Sprintf("memory store: templates %d, exporters %d, learned %d,", 2*exporterBound, exporterBound, 2*(sources+2)))
	require.Contains(t, c.stderr.String(), fmt.Sprintf(", rejected 0, confirmed exporters 2, exporters evicted %d (%d templates), states evicted %d\n",
		evicted, 2*evicted, sources+2-domainBound))
	require.Contains(t, c.stderr.String(), fmt.Sprintf("options state: domains %d, store failures 0, refused 0, reclaimed 0, evicted %d, confirmed 2\n", domainBound, sources+2-domainBound))

	// The same counts, scraped before the stop.
	for sample, want := range map[string]int{
		`netflow_table_events_total{event="evicted",table="store_exporters"}`:  evicted,
		`netflow_table_events_total{event="refused",table="state_domains"}`:    0,
		`netflow_table_events_total{event="evicted",table="state_domains"}`:    sources + 2 - domainBound,
		`netflow_table_events_total{event="evicted",table="store_states"}`:     sources + 2 - domainBound,
		`netflow_template_events_total{event="evicted_with_exporter"}`:         2 * evicted,
		`netflow_template_events_total{event="rejected"}`:                      0,
		`netflow_table_entries{segment="all",table="store_exporters"}`:         exporterBound,
		`netflow_table_entries{segment="confirmed",table="store_exporters"}`:   2,
		`netflow_table_entries{segment="all",table="state_domains"}`:           domainBound,
		`netflow_table_entries{segment="confirmed",table="state_domains"}`:     2,
		`netflow_table_events_total{event="refused",table="sequence_domains"}`: 0,
		`netflow_table_entries{segment="all",table="sequence_domains"}`:        domainBound,
	} {
		require.Equal(t, fmt.Sprint(want), metricValue(metrics, sample), sample)
	}
}
