package netflow_test

import (
	"fmt"
	"net/netip"
	"os"

	"github.com/flowkit/netflow"
)

// A v9 or IPFIX record holds every field the exporter sent, a Flow the
// normalised few: Record.Flow pairs them, here the firewall event a Cisco
// ASA sends (NF_F_FW_EVENT, 40005, and NF_F_FW_EXT_EVENT, 33002) with the
// flow it is about.
func ExampleRecord_Flow() {
	dec := netflow.NewDecoder(netflow.Config{})
	exporter := netip.MustParseAddrPort("192.0.2.1:2055")
	var pkt netflow.Packet
	for _, name := range []string{"netflow9_test_cisco_asa_1_tpl.dat", "netflow9_test_cisco_asa_1_data.dat"} {
		datagram, err := os.ReadFile("testdata/logstash-codec-netflow/" + name)
		if err != nil {
			panic(err)
		}
		if pkt, err = dec.Decode(exporter, datagram); err != nil {
			panic(err)
		}
	}
	n := 0
	for _, set := range pkt.(*netflow.V9Packet).DataSets {
		for i := range set.Records {
			rec := &set.Records[i]
			f, ok := rec.Flow() // false for an options record
			if !ok {
				continue
			}
			if n++; n > 3 {
				continue
			}
			event, _ := rec.Lookup(40005)
			ext, _ := rec.Lookup(33002)
			fmt.Printf("%v -> %v proto %d, %d bytes: firewall event %v/%v\n",
				f.SrcAddr, f.DstAddr, f.Proto, f.Bytes, event, ext)
		}
	}
	fmt.Println(n, "flows")
	// Output:
	// 192.168.14.1 -> 2.2.2.11 proto 1, 56 bytes: firewall event 2/2025
	// 192.168.23.22 -> 164.164.37.11 proto 1, 56 bytes: firewall event 2/2025
	// 164.164.37.11 -> 192.168.23.22 proto 1, 56 bytes: firewall event 2/2025
	// 14 flows
}
