package redisstore_test

import (
	"context"
	"errors"
	"log"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/redisstore"
)

// ExampleOpen gives every collector instance its own Store on one Redis
// under one prefix: templates and options state learned by any instance
// serve all of them. (Not run: it needs a Redis at the URL.)
func ExampleOpen() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	store, err := redisstore.Open(ctx, "redis://:secret@127.0.0.1:6379/2", redisstore.Config{
		Prefix: "netflow-eu", // one prefix per fleet
		TTL:    30 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	d := netflow.NewDecoder(netflow.Config{Store: store})

	var datagram []byte // from the socket
	exporter := netip.MustParseAddrPort("192.0.2.1:2055")
	flows, err := d.DecodeFlows(new(netflow.Buffer), nil, exporter, datagram)
	if errors.Is(err, netflow.ErrStore) {
		// Redis is away: the template was kept locally and is written
		// when Redis is back; decoding goes on from the cache.
		log.Printf("template store: %v (%d errors so far)", err, store.Stats().Errors)
	}
	_ = flows
}
