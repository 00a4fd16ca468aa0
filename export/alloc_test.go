package export_test

import (
	"io"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
)

// TestZeroAllocs checks that a warm writer allocates nothing per flow or
// record: v5, v9 and IPFIX, with IPv6 flows, samplers, several domains and
// a template per layout, and WriteRecords.
func TestZeroAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts need a full run")
	}
	for _, c := range []struct {
		name string
		cfg  export.Config
		o    genOptions
	}{
		{"v5", export.Config{Version: 5}, genOptions{version: 5, domains: 2, sampling: true}},
		{"v9", export.Config{Version: 9}, genOptions{version: 9, ipv6: true, domains: 2, sampling: true}},
		{"ipfix", export.Config{Version: 10}, genOptions{version: 10, ipv6: true, domains: 2, sampling: true}},
		{"ipfix uptime", export.Config{Version: 10, TimeFormat: export.TimeUptime, ExporterAddress: true}, genOptions{version: 10, ipv6: true}},
		{"ipfix stream", export.Config{Version: 10, Stream: true}, genOptions{version: 10, ipv6: true}},
	} {
		flows := genFlows(21, 1000, c.o)
		c.cfg.Now = fixedNow
		w, err := export.NewWriter(io.Discard, c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		write := func() {
			if err := w.WriteFlows(flows); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		write() // templates, samplers, domains, buffers
		if n := testing.AllocsPerRun(20, write); n != 0 {
			t.Errorf("%s: %v allocations per %d flows", c.name, n, len(flows))
		}
	}
	// Records.
	var out messages
	w, err := export.NewWriter(&out, export.Config{Version: 10, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFlows(genFlows(22, 100, genOptions{version: 10, ipv6: true})); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dec := netflow.NewDecoder(netflow.Config{})
	var recs []netflow.Record
	for _, m := range out.msgs {
		p, err := dec.Decode(testExporter, m)
		if err != nil {
			t.Fatal(err)
		}
		for _, ds := range p.(*netflow.IPFIXPacket).DataSets {
			recs = append(recs, ds.Records...)
		}
	}
	rw, err := export.NewWriter(io.Discard, export.Config{Version: 10, Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	writeRecords := func() {
		if err := rw.WriteRecords(export.RecordHeader{Domain: 3}, recs); err != nil {
			t.Fatal(err)
		}
		if err := rw.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	writeRecords()
	if n := testing.AllocsPerRun(20, writeRecords); n != 0 {
		t.Errorf("WriteRecords: %v allocations per %d records", n, len(recs))
	}
}

// BenchmarkWriteFlows measures the writer per flow: 30 flows a call, as
// bench/ compares with other encoders.
func BenchmarkWriteFlows(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  export.Config
		o    genOptions
	}{
		{"v5", export.Config{Version: 5, MTU: 1500}, genOptions{version: 5}},
		{"v9", export.Config{Version: 9}, genOptions{version: 9}},
		{"ipfix", export.Config{Version: 10}, genOptions{version: 10}},
	} {
		b.Run(c.name, func(b *testing.B) {
			flows := genFlows(23, 30, c.o)
			c.cfg.Now = fixedNow
			w, err := export.NewWriter(io.Discard, c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := w.WriteFlows(flows); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(flows)), "ns/flow")
		})
	}
}
