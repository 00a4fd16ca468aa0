package netflow_test

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/flowkit/netflow"
)

// A collector keeps one Decoder and one Buffer per goroutine; a warm decode
// then allocates nothing.
func ExampleDecoder_DecodeInto() {
	datagram, err := os.ReadFile("testdata/logstash-codec-netflow/netflow5_test_microtik.dat")
	if err != nil {
		panic(err)
	}
	dec := netflow.NewDecoder(netflow.Config{})
	var (
		buf   netflow.Buffer
		flows []netflow.Flow
	)
	exporter := netip.MustParseAddrPort("192.0.2.1:2055")
	pkt, err := dec.DecodeInto(&buf, exporter, datagram)
	if err != nil {
		panic(err)
	}
	flows = pkt.AppendFlows(flows[:0])
	last := flows[len(flows)-1]
	fmt.Println(pkt.Version(), len(flows))
	fmt.Println(last.SrcAddr, last.SrcPort, "->", last.DstAddr, last.DstPort, last.Proto, last.Packets, last.Bytes)
	// Output:
	// 5 30
	// 10.0.8.1 80 -> 192.168.0.1 51826 6 13 11442
}

// Templates learned from one datagram decode the data of the next: both go
// through the same Decoder.
func ExampleDecoder_Decode() {
	dec := netflow.NewDecoder(netflow.Config{})
	exporter := netip.MustParseAddrPort("192.0.2.1:2055")
	for _, name := range []string{"ipfix_test_barracuda_tpl.dat", "ipfix_test_barracuda_data256.dat"} {
		datagram, err := os.ReadFile("testdata/logstash-codec-netflow/" + name)
		if err != nil {
			panic(err)
		}
		pkt, err := dec.Decode(exporter, datagram)
		if err != nil {
			panic(err)
		}
		flows := pkt.AppendFlows(nil)
		fmt.Println(name, len(flows))
		if len(flows) > 0 {
			f := flows[len(flows)-1]
			fmt.Println(f.SrcAddr, f.SrcPort, "->", f.DstAddr, f.DstPort, f.Proto, f.Packets, f.Bytes)
		}
	}
	// Output:
	// ipfix_test_barracuda_tpl.dat 0
	// ipfix_test_barracuda_data256.dat 8
	// 10.98.243.20 53 -> 10.99.168.140 50294 17 1 113
}

// Every field of a v9 or IPFIX record, enterprise elements included, is
// there with its name and a typed value.
func ExampleRecord_All() {
	dec := netflow.NewDecoder(netflow.Config{})
	exporter := netip.MustParseAddrPort("192.0.2.1:4739")
	var pkt netflow.Packet
	for _, name := range []string{"ipfix_test_yaf_tpls_option_tpl.dat", "ipfix_test_yaf_tpl45841.dat", "ipfix_test_yaf_data45841.dat"} {
		datagram, err := os.ReadFile("testdata/logstash-codec-netflow/" + name)
		if err != nil {
			panic(err)
		}
		if pkt, err = dec.Decode(exporter, datagram); err != nil {
			panic(err)
		}
	}
	rec := &pkt.(*netflow.IPFIXPacket).DataSets[0].Records[0]
	for v := range rec.All() {
		switch v.Name() {
		case "sourceIPv4Address", "silkAppLabel", "reverseOctetTotalCount":
			fmt.Println(v.Name(), v.String())
		case "subTemplateMultiList":
			list, err := rec.List(v)
			if err != nil {
				panic(err)
			}
			for _, nested := range list.Records {
				for nv := range nested.All() {
					fmt.Println(" ", nv.Name(), nv.String())
				}
			}
		}
	}
	// Output:
	// reverseOctetTotalCount 200
	// sourceIPv4Address 172.16.32.201
	// silkAppLabel 53
	//   sourceMacAddress 00:0c:29:70:86:09
	//   destinationMacAddress 00:0c:29:8d:af:c3
}
