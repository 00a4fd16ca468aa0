package netflow_test

import (
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/flowkit/netflow"
)

// sFlow datagrams go through the same Decoder as NetFlow and IPFIX: each
// flow sample is one Flow, marked ExportSFlow, dated when it was decoded
// (Config.Now; sFlow carries no wall clock); counter samples are in the
// typed packet. (The values are tshark's decode of the same datagram,
// testdata/expected/sflow.)
func ExampleSFlowPacket() {
	datagram, err := os.ReadFile("testdata/sflow/vflow/decoder_test__TestsFlowRawPacket.bin")
	if err != nil {
		panic(err)
	}
	dec := netflow.NewDecoder(netflow.Config{
		Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
	})
	exporter := netip.MustParseAddrPort("192.0.2.1:6343")
	pkt, err := dec.Decode(exporter, datagram)
	if err != nil {
		panic(err)
	}
	sf := pkt.(*netflow.SFlowPacket)
	fmt.Println("agent", sf.Header.Agent, "sequence", sf.Header.SequenceNumber, "samples", len(sf.FlowSamples))
	for _, f := range pkt.AppendFlows(nil)[:2] {
		fmt.Println(f.ExportProtocol, f.SrcAddr, f.SrcPort, "->", f.DstAddr, f.DstPort, f.Proto,
			"bytes", f.Bytes, "1 in", f.SamplingInterval, "vlan", f.VLAN, "next hop", f.NextHop, f.Start.Format(time.RFC3339))
	}
	// Output:
	// agent 24.3.64.33 sequence 36195 samples 5
	// sflow 152.195.33.40 443 -> 69.42.22.51 54482 6 bytes 1518 1 in 4096 vlan 0 next hop 206.72.210.70 2026-01-02T03:04:05Z
	// sflow 152.195.13.89 443 -> 172.58.27.156 47609 6 bytes 1458 1 in 4096 vlan 0 next hop 206.72.211.22 2026-01-02T03:04:05Z
}
