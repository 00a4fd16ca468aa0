package redisstore

import (
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/redistest"
)

// benchRecords is the number of records of the benchmark datagram, as in
// the root package's benchmarks.
const benchRecords = 30

// benchFields is the root benchmarks' 18-field v9 template: addresses,
// next hop, interfaces, counters, uptimes, ports, flags, protocol, ToS, AS
// numbers and masks.
var benchFields = [][2]uint16{
	{8, 4}, {12, 4}, {15, 4}, {10, 2}, {14, 2}, {2, 4}, {1, 4},
	{22, 4}, {21, 4}, {7, 2}, {11, 2}, {6, 1}, {4, 1}, {5, 1},
	{16, 2}, {17, 2}, {9, 1}, {13, 1},
}

func v9Header(count int, seq uint32) []byte {
	b := make([]byte, 20)
	be := binary.BigEndian
	be.PutUint16(b, 9)
	be.PutUint16(b[2:], uint16(count))
	be.PutUint32(b[4:], 3_600_000)  // uptime ms
	be.PutUint32(b[8:], 1700000000) // unix secs
	be.PutUint32(b[12:], seq)
	be.PutUint32(b[16:], 1) // source ID
	return b
}

// benchDatagrams returns a v9 template datagram (template 256 of
// benchFields) and a data datagram of benchRecords records of it.
func benchDatagrams() (template, data []byte) {
	be := binary.BigEndian
	body := be.AppendUint16(nil, 256)
	body = be.AppendUint16(body, uint16(len(benchFields)))
	for _, f := range benchFields {
		body = be.AppendUint16(body, f[0])
		body = be.AppendUint16(body, f[1])
	}
	template = v9Header(1, 1)
	template = be.AppendUint16(template, 0)
	template = be.AppendUint16(template, uint16(4+len(body)))
	template = append(template, body...)

	var recs []byte
	for i := range benchRecords {
		for _, f := range benchFields {
			var v uint64
			switch f[0] {
			case 8:
				v = 10<<24 | 1<<16 | uint64(i)<<8 | 1
			case 12:
				v = 10<<24 | 2<<16 | uint64(i)<<8 | 2
			case 15:
				v = 10<<24 | 3<<16 | uint64(i)<<8 | 3
			case 2:
				v = uint64(1000 + i)
			case 1:
				v = uint64(100000 + 7*i)
			case 22:
				v = 3_540_000 + uint64(10*i)
			case 21:
				v = 3_599_000 + uint64(10*i)
			case 7:
				v = uint64(40000 + i)
			case 11:
				v = uint64(443 + i)
			case 6:
				v = 0x1b
			case 4:
				v = 6
			default:
				v = uint64(i + int(f[0]))
			}
			for j := int(f[1]) - 1; j >= 0; j-- {
				recs = append(recs, byte(v>>(8*j)))
			}
		}
	}
	data = v9Header(benchRecords, 2)
	n := (4 + len(recs) + 3) &^ 3
	data = be.AppendUint16(data, 256)
	data = be.AppendUint16(data, uint16(n))
	data = append(data, recs...)
	data = append(data, make([]byte, n-4-len(recs))...)
	return template, data
}

// BenchmarkDecodeFlows compares netflow's DecodeFlows (the flows-only
// reuse path) on the same warm 30-record v9 datagram with the Redis store
// (its cache) and with MemoryStore, with and without a TTL:
//
//	cd redisstore && go test -run '^$' -bench DecodeFlows -count 6 .
func BenchmarkDecodeFlows(b *testing.B) {
	template, data := benchDatagrams()
	stores := []struct {
		name string
		new  func(b *testing.B) netflow.TemplateStore
	}{
		{"memory", func(*testing.B) netflow.TemplateStore { return netflow.NewMemoryStore(netflow.MemoryStoreConfig{}) }},
		{"memory-ttl", func(*testing.B) netflow.TemplateStore {
			return netflow.NewMemoryStore(netflow.MemoryStoreConfig{TTL: time.Hour})
		}},
		{"redis", func(b *testing.B) netflow.TemplateStore {
			return openStore(b, redistest.Start(b), Config{Prefix: newPrefix(b)})
		}},
		{"redis-ttl", func(b *testing.B) netflow.TemplateStore {
			return openStore(b, redistest.Start(b), Config{Prefix: newPrefix(b), TTL: time.Hour})
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			d := netflow.NewDecoder(netflow.Config{Store: st.new(b)})
			if _, err := d.Decode(fixtureExporter, template); err != nil {
				b.Fatal(err)
			}
			var buf netflow.Buffer
			flows := make([]netflow.Flow, 0, benchRecords)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var err error
				flows, err = d.DecodeFlows(&buf, flows[:0], fixtureExporter, data)
				if err != nil {
					b.Fatal(err)
				}
			}
			if len(flows) != benchRecords {
				b.Fatalf("%d flows", len(flows))
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/flow")
		})
	}
}

// BenchmarkRedefinition is a template redefinition by instance A reaching
// instance B: A's AddTemplate (one MULTI/EXEC round trip) and B's cache
// holding the new layout. ns/op is the whole; "window-ns" is the part
// after A's AddTemplate returned, the time during which B could still
// decode with the old layout.
func BenchmarkRedefinition(b *testing.B) {
	r := redistest.Start(b)
	prefix := newPrefix(b)
	a := openStore(b, r, Config{Prefix: prefix})
	c := openStore(b, r, Config{Prefix: prefix})
	layouts := [2]*netflow.Template{layout(b, testKey, 1), layout(b, testKey, 2)}
	var window time.Duration
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		want := uint16(1 + i%2)
		if err := a.AddTemplate(testKey, layouts[i%2]); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for thirdLen(c, testKey) != want {
			runtime.Gosched()
		}
		window += time.Since(t0)
	}
	b.ReportMetric(float64(window.Nanoseconds())/float64(b.N), "window-ns")
}

// BenchmarkAddTemplate is a template resend (same layout: a TTL refresh)
// and a new layout, each a round trip to Redis.
func BenchmarkAddTemplate(b *testing.B) {
	r := redistest.Start(b)
	s := openStore(b, r, Config{Prefix: newPrefix(b), TTL: time.Hour})
	tmpl := layout(b, testKey, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.AddTemplate(testKey, tmpl); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSetExporterState is an options state write.
func BenchmarkSetExporterState(b *testing.B) {
	r := redistest.Start(b)
	s := openStore(b, r, Config{Prefix: newPrefix(b)})
	st := netflow.ExporterState{Samplers: map[uint64]uint32{1: 100, 2: 1000}, SamplingInterval: 10,
		InterfaceNames: map[uint32]string{1: "ge-0/0/1", 2: "ge-0/0/2"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SetExporterState(testKey, st); err != nil {
			b.Fatal(err)
		}
	}
}
