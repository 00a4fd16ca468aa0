package netflow

import (
	"path/filepath"
	"testing"
)

// jsonBenchFlows decodes datagrams and returns their flows with the records
// they came from.
func jsonBenchFlows(b *testing.B, datagrams ...[]byte) ([]Flow, []*Record) {
	b.Helper()
	d := NewDecoder(Config{})
	var flows []Flow
	var recs []*Record
	for _, data := range datagrams {
		p, err := d.Decode(testExporter, data)
		if err != nil {
			b.Fatal(err)
		}
		fs := p.AppendFlows(nil)
		k := 0
		for _, ds := range setsOf(p).DataSets {
			if ds.Options() {
				continue
			}
			for j := range ds.Records {
				flows = append(flows, fs[k])
				recs = append(recs, &ds.Records[j])
				k++
			}
		}
	}
	if len(flows) == 0 {
		b.Fatal("no flows")
	}
	return flows, recs
}

// BenchmarkFlowJSON encodes one flow with its record's fields per op, as
// flowdump -json does: softflowd's v9 and IPFIX records (16 fields) and
// the 18-field v9 and IPFIX templates of the decode benchmarks.
func BenchmarkFlowJSON(b *testing.B) {
	for _, c := range []struct {
		name      string
		datagrams func(b *testing.B) [][]byte
	}{
		{"softflowd-v9", func(b *testing.B) [][]byte {
			return readPcapPayloads(b, filepath.Join("testdata", "softflowd", "softflowd_v9.pcap"))
		}},
		{"softflowd-ipfix", func(b *testing.B) [][]byte {
			return readPcapPayloads(b, filepath.Join("testdata", "softflowd", "softflowd_v10.pcap"))
		}},
		{"v9-18fields", func(*testing.B) [][]byte { return [][]byte{buildV9(30)} }},
		{"ipfix-18fields", func(*testing.B) [][]byte { return [][]byte{buildIPFIX(30)} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			flows, recs := jsonBenchFlows(b, c.datagrams(b)...)
			buf := make([]byte, 0, 4096)
			total := 0
			for i := range flows {
				total += len(flows[i].AppendJSONWithFields(buf[:0], recs[i]))
			}
			b.SetBytes(int64(total / len(flows)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % len(flows)
				buf = flows[k].AppendJSONWithFields(buf[:0], recs[k])
			}
		})
	}
}

// BenchmarkFlowJSONNoFields encodes the Flow alone.
func BenchmarkFlowJSONNoFields(b *testing.B) {
	flows, _ := jsonBenchFlows(b, buildIPFIX(30))
	buf := make([]byte, 0, 4096)
	b.SetBytes(int64(len(flows[0].AppendJSON(nil))))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		buf = flows[i%len(flows)].AppendJSON(buf[:0])
	}
}
