package main

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/receiver"
)

// v5Datagrams builds n NetFlow v5 datagrams of 30 flows each, exported at
// export: sources in 192.0.2.0/24 (out) or anywhere in 10.0.0.0/8 (in, to
// 198.51.100.0/24), ports among 2,000, 500 AS numbers, TCP or UDP. The
// addresses spread over more values than -max-values, so that the bound and
// other are exercised.
func v5Datagrams(n int, export time.Time) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	const flows = 30
	out := make([][]byte, n)
	for i := range out {
		d := make([]byte, 24+48*flows)
		binary.BigEndian.PutUint16(d[0:], 5)
		binary.BigEndian.PutUint16(d[2:], flows)
		binary.BigEndian.PutUint32(d[4:], 3_600_000) // uptime 1 h
		binary.BigEndian.PutUint32(d[8:], uint32(export.Unix()))
		binary.BigEndian.PutUint32(d[16:], uint32(i*flows))
		for f := range flows {
			r := d[24+48*f:]
			src := netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(256))})
			dst := netip.AddrFrom4([4]byte{10, byte(rng.IntN(256)), byte(rng.IntN(256)), byte(rng.IntN(256))})
			if rng.IntN(2) == 0 {
				src, dst = dst, netip.AddrFrom4([4]byte{198, 51, 100, byte(rng.IntN(256))})
			}
			s4, d4 := src.As4(), dst.As4()
			copy(r[0:], s4[:])
			copy(r[4:], d4[:])
			binary.BigEndian.PutUint32(r[16:], uint32(1+rng.IntN(100)))     // packets
			binary.BigEndian.PutUint32(r[20:], uint32(64+rng.IntN(100000))) // bytes
			binary.BigEndian.PutUint32(r[24:], 3_590_000)                   // first
			binary.BigEndian.PutUint32(r[28:], 3_599_000)                   // last
			binary.BigEndian.PutUint16(r[32:], uint16(1024+rng.IntN(2000)))
			binary.BigEndian.PutUint16(r[34:], uint16(rng.IntN(2000)))
			r[38] = []byte{6, 17}[rng.IntN(2)]
			binary.BigEndian.PutUint16(r[40:], uint16(rng.IntN(500)))
			binary.BigEndian.PutUint16(r[42:], uint16(rng.IntN(500)))
		}
		out[i] = d
	}
	return out
}

// benchService is a service without Redis and without sockets: the ingest
// path only (the receiver's handler), one sender registered.
func benchService(b *testing.B, addr netip.Addr) *service {
	opts := testOptions()
	s := &service{opts: opts, keys: keyspace{prefix: "bench"}}
	s.reg = newRegistry(nil, s.keys)
	s.reg.install(map[netip.Addr]*sender{addr: {addr: addr, counters: new(senderCounters),
		prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24")}}})
	s.agg = newAggregator(opts.kinds, opts.maxValues, opts.maxBuckets, 16)
	s.flowBufs.New = func() any { f := make([]netflow.Flow, 0, 64); return &f }
	return s
}

// BenchmarkIngest decodes v5 datagrams of 30 flows and counts them with
// every field tracked (year to minute buckets; all, proto, srcip, srcport,
// srcas, dstip, dstport, dstas; in and out), as one receiver worker does.
// It reports flows/s.
//
//	cd examples/netflowd && go test -run '^$' -bench Ingest -benchtime 2s .
func BenchmarkIngest(b *testing.B) {
	exporter := netip.MustParseAddrPort("127.0.0.1:9995")
	s := benchService(b, exporter.Addr())
	datagrams := v5Datagrams(256, time.Date(2024, 3, 1, 12, 0, 30, 0, time.UTC))
	dec := netflow.NewDecoder(netflow.Config{})
	buf := new(netflow.Buffer)
	var d receiver.Datagram
	received := time.Now()
	// Warm up: every value seen once, as in a running service.
	for _, dg := range datagrams {
		p, _ := dec.DecodeInto(buf, exporter, dg)
		d = receiver.Datagram{Exporter: exporter, Received: received, Data: dg, Packet: p}
		s.handle(&d)
	}
	b.SetBytes(int64(len(datagrams[0])))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		dg := datagrams[i%len(datagrams)]
		p, err := dec.DecodeInto(buf, exporter, dg)
		if err != nil {
			b.Fatal(err)
		}
		d = receiver.Datagram{Exporter: exporter, Received: received, Data: dg, Packet: p}
		s.handle(&d)
	}
	b.ReportMetric(float64(b.N*30)/time.Since(start).Seconds(), "flows/s")
}

// BenchmarkIngestAndFlush counts 10,000 datagrams of 30 flows (300,000
// flows) and flushes them to a real redis-server per iteration, as a second
// of a service at 300,000 flows/s does; flows/s is the end-to-end rate when
// the flows' field values are as spread as v5Datagrams makes them (tens of
// thousands of distinct values per bucket: the flush's cost grows with the
// distinct values, not with the flows).
//
//	cd examples/netflowd && go test -run '^$' -bench IngestAndFlush -benchtime 5x .
func BenchmarkIngestAndFlush(b *testing.B) {
	url := redistest.Start(b).URL()
	exporter := netip.MustParseAddrPort("127.0.0.1:9995")
	s := benchService(b, exporter.Addr())
	s.rdb = redisClient(b, url)
	s.fl = &flusher{rdb: s.rdb, keys: s.keys, agg: s.agg, reg: s.reg, ttls: defaultTTLs}
	datagrams := v5Datagrams(2000, time.Date(2024, 3, 1, 12, 0, 30, 0, time.UTC))
	dec := netflow.NewDecoder(netflow.Config{})
	buf := new(netflow.Buffer)
	var d receiver.Datagram
	received := time.Now()
	ctx := context.Background()
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for i := 0; b.Loop(); i++ {
		for j := range 10000 {
			dg := datagrams[(i*10000+j)%len(datagrams)]
			p, err := dec.DecodeInto(buf, exporter, dg)
			if err != nil {
				b.Fatal(err)
			}
			d = receiver.Datagram{Exporter: exporter, Received: received, Data: dg, Packet: p}
			s.handle(&d)
			n += 30
		}
		if err := s.fl.flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "flows/s")
}
