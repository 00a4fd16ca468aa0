package main

// The collector on sFlow: the real pmacctd captures sent to one address
// print one JSON flow per flow sample tshark decodes, marked
// "protocol":"sflow", and their interface counter samples become
// netflow_sflow_interface_* metrics with tshark's values.

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// sflowExpected returns tshark's decode of a pmacct capture: the flow
// samples of its well-formed datagrams, and its last interface counters.
func sflowExpected(t *testing.T, name string) (flows []testkit.ExpectedFlow, last map[string]uint64, agent string) {
	t.Helper()
	doc := testkit.LoadExpected(t, td+"expected/sflow/pmacct-sfprobe__"+name+".json")
	for _, dg := range doc.Datagrams {
		if dg.Malformed {
			continue
		}
		flows = append(flows, dg.Flows...)
		for _, c := range dg.Counters {
			last = c.Interface
		}
		agent = *dg.Agent
	}
	return flows, last, agent
}

func TestCollectorSFlow(t *testing.T) {
	noLeak(t)
	mixed, mixedCtr, mixedAgent := sflowExpected(t, "pmacct-sfprobe-mixed-r4")
	vlan, vlanCtr, vlanAgent := sflowExpected(t, "pmacct-sfprobe-vlan-r2")
	addr, stdout, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-json", "-metrics", "127.0.0.1:0")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	a := send(t, addr, pcapPayloads(t, td+"sflow/pmacct-sfprobe/pmacct-sfprobe-mixed-r4.pcap")...)
	b := send(t, addr, pcapPayloads(t, td+"sflow/pmacct-sfprobe/pmacct-sfprobe-vlan-r2.pcap")...)
	want := len(mixed) + len(vlan)
	waitFor(t, "every flow sample", func() bool { return strings.Count(stdout.String(), "\n") == want })

	bytesBy := map[string]uint64{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var o struct {
			Exporter string `json:"exporter"`
			Version  int    `json:"version"`
			Protocol string `json:"protocol"`
			Agent    string `json:"agent"`
			Bytes    uint64 `json:"bytes"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &o))
		require.Equal(t, 5, o.Version)
		require.Equal(t, "sflow", o.Protocol, line)
		keys := keysInOrder(t, line)
		require.Equal(t, []string{"exporter", "version", "protocol", "agent"}, keys[:4])
		bytesBy[o.Agent] += o.Bytes
	}
	sum := func(fs []testkit.ExpectedFlow) (n uint64) {
		for _, f := range fs {
			n += *f.Bytes
		}
		return n
	}
	require.Equal(t, sum(mixed), bytesBy[mixedAgent])
	require.Equal(t, sum(vlan), bytesBy[vlanAgent])

	var text string
	sample := func(name, agent, labels string) string { return fmt.Sprintf(`%s{agent="%s",%s}`, name, agent, labels) }
	octetsIn := sample("netflow_sflow_interface_octets_total", mixedAgent, `direction="in",ifindex="3"`)
	deadline := time.Now().Add(10 * time.Second)
	for text = scrape(t, maddr); metricValue(text, octetsIn) != fmt.Sprint(mixedCtr["in_octets"]) && time.Now().Before(deadline); text = scrape(t, maddr) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, fmt.Sprint(mixedCtr["in_octets"]), metricValue(text, octetsIn), text)
	require.Equal(t, fmt.Sprint(mixedCtr["in_ucast"]), metricValue(text, sample("netflow_sflow_interface_packets_total", mixedAgent, `cast="unicast",direction="in",ifindex="3"`)))
	require.Equal(t, fmt.Sprint(vlanCtr["out_octets"]), metricValue(text, sample("netflow_sflow_interface_octets_total", vlanAgent, `direction="out",ifindex="7"`)))
	require.Equal(t, "1e+10", metricValue(text, fmt.Sprintf(`netflow_sflow_interface_speed_bits{agent="%s",ifindex="7"}`, vlanAgent)))
	require.Equal(t, "1", metricValue(text, fmt.Sprintf(`netflow_sflow_interface_up{agent="%s",ifindex="7",status="oper"}`, vlanAgent)))
	require.Equal(t, "2", metricValue(text, fmt.Sprintf(`netflow_sflow_counter_samples_total{agent="%s"}`, mixedAgent)))
	require.Equal(t, fmt.Sprint(len(mixed)), metricValue(text, fmt.Sprintf(`netflow_flows_total{exporter="%s"}`, a)))
	require.Equal(t, fmt.Sprint(len(vlan)), metricValue(text, fmt.Sprintf(`netflow_flows_total{exporter="%s"}`, b)))
	require.Equal(t, 0, stop())
}

// TestCollectorSFlowAgentCap: beyond -metrics-exporters agents, the
// interface counters add up under agent="other", ifindex="other".
func TestCollectorSFlowAgentCap(t *testing.T) {
	noLeak(t)
	_, mixedCtr, _ := sflowExpected(t, "pmacct-sfprobe-mixed-r4")
	_, vlanCtr, vlanAgent := sflowExpected(t, "pmacct-sfprobe-vlan-r2")
	addr, _, stderr, stop := startOnce(t, "-listen", "127.0.0.1:0", "-json", "-metrics", "127.0.0.1:0", "-metrics-exporters", "1")
	defer stop()
	maddr := stderrValue(t, stderr, "metrics on ")
	send(t, addr, pcapPayloads(t, td+"sflow/pmacct-sfprobe/pmacct-sfprobe-mixed-r4.pcap")...)
	send(t, addr, pcapPayloads(t, td+"sflow/pmacct-sfprobe/pmacct-sfprobe-vlan-r2.pcap")...)
	// 192.0.2.10 sorts first and keeps its label; 192.0.2.11 is "other".
	other := `netflow_sflow_interface_octets_total{agent="other",direction="out",ifindex="other"}`
	var text string
	deadline := time.Now().Add(10 * time.Second)
	for text = scrape(t, maddr); metricValue(text, other) != fmt.Sprint(vlanCtr["out_octets"]) && time.Now().Before(deadline); text = scrape(t, maddr) {
		time.Sleep(20 * time.Millisecond)
	}
	require.Equal(t, fmt.Sprint(vlanCtr["out_octets"]), metricValue(text, other), text)
	require.NotContains(t, text, `agent="`+vlanAgent+`"`)
	require.Equal(t, fmt.Sprint(mixedCtr["in_octets"]), metricValue(text, `netflow_sflow_interface_octets_total{agent="192.0.2.10",direction="in",ifindex="3"}`))
	require.Equal(t, 0, stop())
}
