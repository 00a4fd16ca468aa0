package netflow

// sFlow from the real exporter and collector of this machine: pmacctd's
// sfprobe (scripts/capture_pmacctd_sflow.sh) against tshark, live, and
// sfacctd (pmacct's collector) on the checked-in capture.

import (
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// TestSFlowPmacctdLive runs pmacctd -P sfprobe in a network namespace of
// its own (the capture script), replaying frames into a veth, captures
// the export, and compares every flow sample of it with tshark's decode.
// It needs root (namespaces) and the tools; NETFLOW_SOAK=1 replays more.
func TestSFlowPmacctdLive(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"pmacctd", "sfacctd", "tcpreplay", "tcpdump", "tshark", "ip", "python3"} {
		testkit.NeedTool(t, tool)
	}
	if os.Geteuid() != 0 {
		if testkit.InCI() {
			t.Fatal("CI runs as root: network namespaces are needed")
		}
		t.Skip("needs root for a network namespace")
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "scripts/capture_pmacctd_sflow.sh", dir)
	cmd.Env = append(os.Environ(), "EXPECTED=", fmt.Sprintf("FRAMES=%d", testkit.SoakSize(600, 2400)), "PPS=1000", "RATE=2", "PORT=6399", "SFACCTD=0", "SETTLE=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	pcap := filepath.Join(dir, "pmacctd-sfprobe.pcap")
	want := filepath.Join(dir, "expected.json")
	t.Cleanup(func() { // before t.TempDir's: a failure keeps what it compared
		if !t.Failed() {
			return
		}
		keep, err := os.MkdirTemp("", "sflow-live-failure-")
		if err != nil {
			return
		}
		for _, f := range []string{pcap, want} {
			if b, err := os.ReadFile(f); err == nil {
				_ = os.WriteFile(filepath.Join(keep, filepath.Base(f)), b, 0o644)
			}
		}
		t.Logf("the capture and tshark's decode are kept in %s", keep)
	})
	out, err = exec.Command("python3", "scripts/tshark_expected.py", "sflow-decode", want, pcap).CombinedOutput()
	require.NoError(t, err, "%s", out)
	doc := testkit.LoadExpected(t, want)
	require.NotEmpty(t, doc.Datagrams)
	payloads := testkit.UDPPayloads(t, pcap)
	outer := NewDecoder(Config{Now: sflowTestNow})
	inner := NewDecoder(Config{Now: sflowTestNow, Decapsulate: true})
	var c tsharkFieldCount
	samples := 0
	for k := range doc.Datagrams {
		dg := &doc.Datagrams[k]
		what := fmt.Sprintf("live datagram %d", dg.Index)
		require.False(t, dg.Malformed, what)
		p, err := outer.Decode(testExporter, payloads[dg.Index])
		require.NoError(t, err, what)
		pi, err := inner.Decode(testExporter, payloads[dg.Index])
		require.NoError(t, err, what)
		compareSFlowDatagram(t, &c, what, dg, p.(*SFlowPacket), pi.(*SFlowPacket))
		samples += len(dg.Flows)
	}
	require.Positive(t, samples)
	t.Logf("pmacctd live: %d datagrams, %d flow samples, %d values equal to tshark's", len(doc.Datagrams), samples, c.n)
}

// TestSFlowAgainstSfacctd compares our decode of the checked-in pmacctd
// capture with sfacctd's print of the same export (aggregated by VLAN,
// addresses, ports, protocol and ToS: packets and bytes per key). The
// comparison covers the IPv4 TCP and UDP keys: sfacctd 1.7.7 reads
// neither IPv6 extension headers (protocol 0 and no ports where we, and
// tshark, find the TCP or UDP header after them) nor the whole IPv6
// traffic class (it prints its top four bits as the ToS).
func TestSFlowAgainstSfacctd(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "sflow", "pmacctd", "pmacctd-sfprobe.sfacctd.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"VLAN", "SRC_IP", "DST_IP", "SRC_PORT", "DST_PORT", "PROTOCOL", "TOS", "PACKETS", "BYTES"}, rows[0])
	type count struct{ packets, bytes uint64 }
	protos := map[string]uint8{"tcp": 6, "udp": 17}
	theirs := map[string]count{}
	for _, r := range rows[1:] {
		proto, ok := protos[r[5]]
		if !ok || !netipIs4(r[1]) {
			continue
		}
		k := fmt.Sprintf("%s %s %s %s %s %d %s", r[0], r[1], r[2], r[3], r[4], proto, r[6])
		p, _ := strconv.ParseUint(r[7], 10, 64)
		b, _ := strconv.ParseUint(r[8], 10, 64)
		c := theirs[k]
		theirs[k] = count{c.packets + p, c.bytes + b}
	}
	require.Greater(t, len(theirs), 100)
	ours := map[string]count{}
	d := NewDecoder(Config{})
	for _, data := range fixturePayloads(t, filepath.Join("testdata", "sflow", "pmacctd", "pmacctd-sfprobe.pcap")) {
		flows, err := d.DecodeFlows(nil, nil, testExporter, data)
		require.NoError(t, err)
		for _, fl := range flows {
			k := fmt.Sprintf("%d %s %s %d %d %d %d", fl.VLAN, fl.SrcAddr, fl.DstAddr, fl.SrcPort, fl.DstPort, fl.Proto, fl.ToS)
			c := ours[k]
			ours[k] = count{c.packets + fl.Packets, c.bytes + fl.Bytes}
		}
	}
	for k, c := range theirs {
		require.Equal(t, c, ours[k], "sfacctd's %s", k)
	}
	t.Logf("%d sfacctd aggregates equal to ours", len(theirs))
}

func netipIs4(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return false
		}
	}
	return true
}
