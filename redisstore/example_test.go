package redisstore_test

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log"
	"net/netip"
	"os"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/redisstore"
)

// Every collector instance opens its own Store on one Redis under one
// prefix: templates and options state learned by any instance serve all of
// them, from a local cache that Redis notifications keep current.
//
// The example needs a Redis (at REDIS_URL, or the default below), so go test
// compiles it without running it; TestExampleOpen runs it against a real
// redis-server and checks what it prints:
//
//	template store: 1 template(s) of 1 exporter(s), learned 1
//	192.0.2.1 -> 198.51.100.7: 1500 bytes
func ExampleOpen() {
	url := cmp.Or(os.Getenv("REDIS_URL"), "redis://127.0.0.1:6379/0")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	store, err := redisstore.Open(ctx, url, redisstore.Config{
		Prefix: "netflow-example", // one prefix per fleet of collectors
		TTL:    30 * time.Minute,  // refreshed by the exporters' resends
	})
	if err != nil {
		log.Fatal(err) // Redis unreachable at start
	}
	defer store.Close()
	dec := netflow.NewDecoder(netflow.Config{Store: store})
	defer dec.Close()

	// An IPFIX exporter's template (source and destination address, octet
	// count), then a record of it.
	exporter := netip.MustParseAddrPort("192.0.2.1:4739")
	template := ipfixMessage(2, []byte{1, 0, 0, 3, 0, 8, 0, 4, 0, 12, 0, 4, 0, 1, 0, 4})
	data := ipfixMessage(256, []byte{192, 0, 2, 1, 198, 51, 100, 7, 0, 0, 5, 220})
	var buf netflow.Buffer
	if _, err := dec.DecodeFlows(&buf, nil, exporter, template); errors.Is(err, netflow.ErrStore) {
		// Redis is away: the template stays in the cache, is written when
		// Redis is back, and decoding goes on.
		log.Printf("template store: %v", err)
	}
	st := dec.Stats().Store
	fmt.Printf("template store: %d template(s) of %d exporter(s), learned %d\n", st.Templates, st.Exporters, st.Learned)
	flows, err := dec.DecodeFlows(&buf, nil, exporter, data)
	if err != nil {
		log.Fatal(err)
	}
	for _, f := range flows {
		fmt.Printf("%v -> %v: %d bytes\n", f.SrcAddr, f.DstAddr, f.Bytes)
	}
}

// ipfixMessage is an IPFIX message holding one set of the given ID.
func ipfixMessage(setID uint16, body []byte) []byte {
	msg := binary.BigEndian.AppendUint16([]byte{0, 10}, uint16(16+4+len(body))) // version 10, length
	msg = binary.BigEndian.AppendUint32(msg, 1700000000)                        // export time
	msg = append(msg, 0, 0, 0, 0, 0, 0, 0, 1)                                   // sequence, domain 1
	msg = binary.BigEndian.AppendUint16(msg, setID)
	msg = binary.BigEndian.AppendUint16(msg, uint16(4+len(body)))
	return append(msg, body...)
}
