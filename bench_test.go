package netflow

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// benchRecords is the number of records of every benchmark datagram.
const benchRecords = 30

// benchCases are 30-record datagrams of every version; v9 and IPFIX with
// the 18-field template of the helpers, learned before the timer starts.
func benchCases() []struct {
	name           string
	template, data []byte
} {
	return []struct {
		name           string
		template, data []byte
	}{
		{"v1", nil, buildV1(benchRecords)},
		{"v5", nil, buildV5(benchRecords)},
		{"v6", nil, buildV6(benchRecords)},
		{"v7", nil, buildV7(benchRecords)},
		{"v9", buildV9Template(), buildV9Data(benchRecords)},
		{"ipfix", buildIPFIXTemplate(), buildIPFIXData(benchRecords)},
	}
}

// benchDecoder returns a decoder that knows template (if any).
func benchDecoder(b *testing.B, template []byte) *Decoder {
	b.Helper()
	d := NewDecoder(Config{})
	if template != nil {
		_, err := d.Decode(testExporter, template)
		require.NoError(b, err)
	}
	return d
}

func reportPerFlow(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchRecords), "ns/flow")
}

// BenchmarkDecode is the reuse path: DecodeInto a reused Buffer, then
// AppendFlows into a reused slice.
func BenchmarkDecode(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			d := benchDecoder(b, c.template)
			var buf Buffer
			flows := make([]Flow, 0, benchRecords)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				p, err := d.DecodeInto(&buf, testExporter, c.data)
				if err != nil {
					b.Fatal(err)
				}
				flows = p.AppendFlows(flows[:0])
			}
			require.Len(b, flows, benchRecords)
			reportPerFlow(b)
		})
	}
}

// BenchmarkDecodeAlloc is the allocating path: Decode, then AppendFlows
// into a new slice.
func BenchmarkDecodeAlloc(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			d := benchDecoder(b, c.template)
			var flows []Flow
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				p, err := d.Decode(testExporter, c.data)
				if err != nil {
					b.Fatal(err)
				}
				flows = p.AppendFlows(nil)
			}
			require.Len(b, flows, benchRecords)
			reportPerFlow(b)
		})
	}
}

// BenchmarkDecodeFlows is the flows-only path into a reused slice.
func BenchmarkDecodeFlows(b *testing.B) {
	for _, c := range benchCases() {
		b.Run(c.name, func(b *testing.B) {
			d := benchDecoder(b, c.template)
			var buf Buffer
			flows := make([]Flow, 0, benchRecords)
			b.ReportAllocs()
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				var err error
				flows, err = d.DecodeFlows(&buf, flows[:0], testExporter, c.data)
				if err != nil {
					b.Fatal(err)
				}
			}
			require.Len(b, flows, benchRecords)
			reportPerFlow(b)
		})
	}
}
