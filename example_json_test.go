package netflow_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
)

func ExampleFlow_AppendJSON() {
	f := netflow.Flow{
		Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 5,
		SrcAddr: netip.MustParseAddr("10.0.0.1"), DstAddr: netip.MustParseAddr("10.0.0.2"),
		Proto: 6, Packets: 3, Bytes: 180, Start: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		Known: netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldProto |
			netflow.FieldPackets | netflow.FieldBytes | netflow.FieldStart,
	}
	line := make([]byte, 0, 512) // reuse it for every flow: no allocation
	line = f.AppendJSON(line[:0])
	fmt.Println(string(line))
	m, _ := json.Marshal(f) // the same bytes
	fmt.Println(string(m) == string(line))
	fmt.Println(f)
	fmt.Println(f.Known)
	// Output:
	// {"exporter":"192.0.2.1:2055","version":5,"src_addr":"10.0.0.1","dst_addr":"10.0.0.2","proto":6,"packets":3,"bytes":180,"start":"2024-01-02T03:04:05.000000000Z"}
	// true
	// exporter=192.0.2.1:2055 version=5 src_addr=10.0.0.1 dst_addr=10.0.0.2 proto=6 packets=3 bytes=180 start=2024-01-02T03:04:05.000000000Z
	// src_addr|dst_addr|proto|packets|bytes|start
}

func ExampleRecord_AppendFieldsJSON() {
	tmpl, err := netflow.NewTemplate(10, 256, false, 0, []netflow.TemplateField{
		{ID: 8, Length: 4},  // sourceIPv4Address
		{ID: 2, Length: 4},  // packetDeltaCount, reduced to 4 bytes
		{ID: 82, Length: 4}, // interfaceName
	})
	if err != nil {
		panic(err)
	}
	rec := netflow.Record{Template: tmpl, Data: []byte{192, 0, 2, 9, 0, 0, 1, 0, 'e', 't', 'h', 0}}
	fmt.Println(string(rec.AppendFieldsJSON(nil)))
	// Output:
	// {"sourceIPv4Address":"192.0.2.9","packetDeltaCount":256,"interfaceName":"eth"}
}

func ExampleProtoName() {
	fmt.Println(netflow.ProtoName(6), netflow.ProtoName(58), netflow.ProtoName(253), netflow.FormatTCPFlags(0x1b))
	// Output: tcp icmp6 253 ...AP.SF
}
