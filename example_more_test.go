package netflow_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sync/atomic"

	"github.com/flowkit/netflow"
)

// DecodeFlows is the fastest path: flows only, appended to a reused slice.
func ExampleDecoder_DecodeFlows() {
	datagram, err := os.ReadFile("testdata/logstash-codec-netflow/netflow5_test_microtik.dat")
	if err != nil {
		panic(err)
	}
	dec := netflow.NewDecoder(netflow.Config{})
	var (
		buf   netflow.Buffer
		flows []netflow.Flow
	)
	flows, err = dec.DecodeFlows(&buf, flows[:0], netip.MustParseAddrPort("192.0.2.1:2055"), datagram)
	if err != nil {
		panic(err)
	}
	f := flows[len(flows)-1]
	fmt.Println(len(flows), f.SrcAddr, f.SrcPort, "->", f.DstAddr, f.DstPort, f.Packets, f.Bytes)
	// Output:
	// 30 10.0.8.1 80 -> 192.168.0.1 51826 13 11442
}

// MessageReader reads IPFIX messages stored back to back: here three
// messages softflowd exported, captured with nc -k.
func ExampleMessageReader() {
	f, err := os.Open("testdata/logstash-codec-netflow/ipfix.dat")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	dec := netflow.NewDecoder(netflow.Config{})
	exporter := netip.MustParseAddrPort("192.0.2.1:4739")
	r := netflow.NewMessageReader(f)
	for {
		msg, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			panic(err)
		}
		pkt, err := dec.Decode(exporter, msg)
		if err != nil {
			panic(err)
		}
		flows := pkt.AppendFlows(nil)
		fmt.Println(len(msg), "bytes,", len(flows), "flows")
		if len(flows) > 0 {
			f := flows[0]
			fmt.Println(" first:", f.SrcAddr, f.SrcPort, "->", f.DstAddr, f.DstPort, f.Proto, f.Packets, f.Bytes)
		}
	}
	// Output:
	// 484 bytes, 6 flows
	//  first: 192.168.253.1 60560 -> 192.168.253.128 22 6 5 260
	// 64 bytes, 1 flows
	//  first: 192.168.253.130 38254 -> 10.4.36.64 9200 6 1 60
	// 240 bytes, 5 flows
	//  first: 192.168.253.1 60560 -> 192.168.253.128 22 6 4 256
}

// Save and Load carry templates and options state across a restart.
func ExampleMemoryStore_Save() {
	store := netflow.NewMemoryStore(netflow.MemoryStoreConfig{})
	dec := netflow.NewDecoder(netflow.Config{Store: store})
	exporter := netip.MustParseAddrPort("192.0.2.1:2055")
	tpl, err := os.ReadFile("testdata/logstash-codec-netflow/ipfix_test_barracuda_tpl.dat")
	if err != nil {
		panic(err)
	}
	if _, err := dec.Decode(exporter, tpl); err != nil {
		panic(err)
	}
	var saved bytes.Buffer // a collector uses netflow.SaveFile and LoadFile
	if err := store.Save(&saved); err != nil {
		panic(err)
	}

	restarted := netflow.NewMemoryStore(netflow.MemoryStoreConfig{})
	if err := restarted.Load(&saved); err != nil {
		panic(err)
	}
	data, err := os.ReadFile("testdata/logstash-codec-netflow/ipfix_test_barracuda_data256.dat")
	if err != nil {
		panic(err)
	}
	pkt, err := netflow.NewDecoder(netflow.Config{Store: restarted}).Decode(exporter, data)
	if err != nil {
		panic(err)
	}
	fmt.Println(restarted.Stats().Templates, "template,", pkt.FlowCount(), "flows without waiting for the exporter")
	// Output:
	// 1 template, 8 flows without waiting for the exporter
}

// countingStore wraps another store: any TemplateStore will do, and the
// package templatetest checks one.
type countingStore struct {
	netflow.TemplateStore
	lookups atomic.Int64
}

func (s *countingStore) Template(key netflow.TemplateKey) (*netflow.Template, error) {
	s.lookups.Add(1)
	return s.TemplateStore.Template(key)
}

// A custom TemplateStore: the decoder looks a template up once per data
// set that its datagram did not define itself.
func ExampleTemplateStore() {
	store := &countingStore{TemplateStore: netflow.NewMemoryStore(netflow.MemoryStoreConfig{})}
	dec := netflow.NewDecoder(netflow.Config{Store: store})
	exporter := netip.MustParseAddrPort("192.0.2.1:4739")
	for _, name := range []string{"ipfix_test_barracuda_tpl.dat", "ipfix_test_barracuda_data256.dat"} {
		datagram, err := os.ReadFile("testdata/logstash-codec-netflow/" + name)
		if err != nil {
			panic(err)
		}
		if _, err := dec.Decode(exporter, datagram); err != nil {
			panic(err)
		}
	}
	fmt.Println(store.lookups.Load(), "look-up")
	// Output:
	// 1 look-up
}

// NewRegistry names a vendor's enterprise elements, so that their values
// are typed and named.
func ExampleNewRegistry() {
	reg := netflow.NewRegistry(netflow.InfoElement{PEN: 32473, ID: 1, Name: "exampleTenantID", Type: netflow.TypeUnsigned32})
	info, ok := reg.Lookup(32473, 1)
	fmt.Println(info.Name, ok)
	_, ok = netflow.NewRegistry().Lookup(32473, 1)
	fmt.Println(ok)
	// Output:
	// exampleTenantID true
	// false
}
