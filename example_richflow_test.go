package netflow_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/flowkit/netflow"
)

// A definitions file names a vendor's elements and maps some into Flow
// fields; the decoder then fills those fields from them.
func ExampleParseElementDefinitions() {
	defs, err := netflow.ParseElementDefinitions(strings.NewReader(`[
		{"name": "acmeOuterVlan", "pen": 32473, "id": 1, "type": "unsigned16", "flow_field": "vlan"},
		{"name": "acmeTenant", "pen": 32473, "id": 2, "type": "string"}
	]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	d := netflow.NewDecoder(netflow.Config{Registry: defs.Registry(), FlowElements: defs.Mappings})
	defer d.Close()
	e, _ := defs.Registry().Lookup(32473, 2)
	fmt.Println(len(defs.Mappings), e.Name, e.Type)
	// Output: 1 acmeTenant string
}

// A sampling policy: exporters in 10.0.0.0/8 sample 1 in 100 unless they
// say otherwise, and counters are scaled.
func ExampleSamplingPolicy() {
	d := netflow.NewDecoder(netflow.Config{Sampling: []netflow.SamplingPolicy{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Default: 100, Scale: true},
	}})
	defer d.Close()
	// A v5 datagram of one record: 3 packets, 180 bytes, sequence 0; its
	// header gives no sampling interval.
	v5 := make([]byte, 24+48)
	binary.BigEndian.PutUint16(v5[0:], 5)
	binary.BigEndian.PutUint16(v5[2:], 1)
	binary.BigEndian.PutUint32(v5[24+16:], 3)
	binary.BigEndian.PutUint32(v5[24+20:], 180)
	flows, err := d.DecodeFlows(nil, nil, netip.MustParseAddrPort("10.1.2.3:2055"), v5)
	if err != nil {
		fmt.Println(err)
		return
	}
	f := flows[0]
	fmt.Println(f.SamplingInterval, f.Packets, f.Bytes, f.Known.Has(netflow.FieldScaled))
	// Output: 100 300 18000 true
}
