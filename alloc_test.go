package netflow

import (
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeIntoZeroAllocs: once warm, DecodeInto into a reused Buffer and
// AppendFlows into a reused slice allocate nothing, for 30-record datagrams
// of every version (v9 and IPFIX with their template learned first).
func TestDecodeIntoZeroAllocs(t *testing.T) {
	cases := []struct {
		name     string
		template []byte
		data     []byte
	}{
		{"v1", nil, buildV1(30)},
		{"v5", nil, buildV5(30)},
		{"v6", nil, buildV6(30)},
		{"v7", nil, buildV7(30)},
		{"v9", buildV9Template(), buildV9Data(30)},
		{"ipfix", buildIPFIXTemplate(), buildIPFIXData(30)},
		{"sflow", nil, buildSFlow(30)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			if c.template != nil {
				_, err := d.Decode(testExporter, c.template)
				require.NoError(t, err)
			}
			var buf Buffer
			flows := make([]Flow, 0, 32)
			decode := func() {
				p, err := d.DecodeInto(&buf, testExporter, c.data)
				if err != nil {
					panic(err)
				}
				flows = p.AppendFlows(flows[:0])
				if len(flows) != 30 {
					panic("want 30 flows")
				}
			}
			decode() // warm
			require.Equal(t, testFlowN(29).Src, flows[29].SrcAddr)
			require.Zero(t, testing.AllocsPerRun(200, decode), "allocs per DecodeInto+AppendFlows")

			// The flows-only path too.
			fast := func() {
				var err error
				flows, err = d.DecodeFlows(&buf, flows[:0], testExporter, c.data)
				if err != nil || len(flows) != 30 {
					panic("DecodeFlows")
				}
			}
			fast()
			require.Zero(t, testing.AllocsPerRun(200, fast), "allocs per DecodeFlows")
		})
	}
}

// TestHostileHeadersDoNotAllocateByCount: a header or template that claims
// far more than the datagram holds allocates no more than one that claims
// a little more.
func TestHostileHeadersDoNotAllocateByCount(t *testing.T) {
	fixed := func(build func(int) []byte, count uint16) []byte {
		b := build(1)
		be.PutUint16(b[2:], count)
		return b
	}
	// A v9/IPFIX template claiming count fields with one present.
	v9Claim := func(count uint16) []byte {
		r := templateRecord(300, tmplField{8, 4, 0})
		be.PutUint16(r[2:], count)
		return v9Packet(1, 1, set(0, r, false))
	}
	ipfixClaim := func(count uint16) []byte {
		r := templateRecord(300, tmplField{8, 4, 0})
		be.PutUint16(r[2:], count)
		return ipfixMessage(1, 1, set(2, r, false))
	}
	cases := []struct {
		name          string
		hostile, mild []byte
	}{
		{"v1", fixed(buildV1, 65535), fixed(buildV1, 2)},
		{"v5", fixed(buildV5, 65535), fixed(buildV5, 2)},
		{"v6", fixed(buildV6, 65535), fixed(buildV6, 2)},
		{"v7", fixed(buildV7, 65535), fixed(buildV7, 2)},
		{"v9 template", v9Claim(65535), v9Claim(2)},
		{"ipfix template", ipfixClaim(65535), ipfixClaim(2)},
	}
	// Field limit raised so that the count reaches the field parser.
	d := NewDecoder(Config{Limits: Limits{MaxTemplateFields: 65535}})
	var buf Buffer
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			measure := func(data []byte) (float64, uint64) {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				n := testing.AllocsPerRun(100, func() {
					if _, err := d.DecodeInto(&buf, testExporter, data); err == nil {
						panic("hostile input decoded")
					}
				})
				runtime.ReadMemStats(&after)
				return n, (after.TotalAlloc - before.TotalAlloc) / 101
			}
			ha, hb := measure(c.hostile)
			ma, mb := measure(c.mild)
			t.Logf("claim 65535: %.0f allocs %d B; claim 2: %.0f allocs %d B", ha, hb, ma, mb)
			require.Equal(t, ma, ha)
			require.LessOrEqual(t, hb, mb+64)
			require.Less(t, hb, uint64(1024))
		})
	}
}
