package netflow

import (
	"encoding/hex"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fixed-format fixtures and tshark's independent decode of each
// (testdata/expected). Every other expected file of these versions is
// checked too; these must exist.
var fixedExpected = []string{
	"fprobe_v1.json",
	"fprobe_v5.json",
	"fprobe_v7.json",
	"goflow2_netflowlegacy_test__TestDecodeNetFlowV5__data.json",
	"netflow5.json",
	"netflow5_test_juniper_mx80.json",
	"netflow5_test_microtik.json",
	"softflowd_v1.json",
	"softflowd_v5.json",
	"vflow_netflow_v5_decoder_test__TestV5FlowPacket.json",
}

// expectedTime is the absolute time of uptime ms in an expected datagram:
// export time minus (sys_uptime - ms), the difference taken modulo 2^32 as
// a signed number (a counter that wrapped between flow and export, or an
// exporter clock slightly ahead).
func expectedTime(dg expectedDatagram, ms uint32) time.Time {
	export := time.Unix(int64(*dg.UnixSecs), int64(*dg.UnixNsecs)).UTC()
	d := int64(*dg.SysUptimeMS) - int64(ms)
	switch {
	case d >= 1<<31:
		d -= 1 << 32
	case d < -(1 << 31):
		d += 1 << 32
	}
	return export.Add(-time.Duration(d) * time.Millisecond)
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// Known bits per version, spelt out here rather than taken from the package.
const (
	knownV1 = FieldSrcAddr | FieldDstAddr | FieldNextHop | FieldSrcPort | FieldDstPort |
		FieldProto | FieldToS | FieldTCPFlags | FieldPackets | FieldBytes | FieldStart |
		FieldEnd | FieldInIf | FieldOutIf
	knownV5 = knownV1 | FieldDomain | FieldSequence | FieldSrcMask | FieldDstMask |
		FieldSrcAS | FieldDstAS
	knownV7 = knownV5 &^ FieldDomain // v7 has no engine fields
)

// checkExpectedFlow compares every key tshark gave for a fixed-format record
// with the normalised Flow.
func checkExpectedFlow(t *testing.T, dg expectedDatagram, ef expectedFlow, f Flow) {
	t.Helper()
	require.NotNil(t, ef.SrcAddr)
	require.Equal(t, addr(*ef.SrcAddr), f.SrcAddr, "src_addr")
	require.Equal(t, addr(*ef.DstAddr), f.DstAddr, "dst_addr")
	require.Equal(t, addr(*ef.NextHop), f.NextHop, "next_hop")
	require.Equal(t, *ef.SrcPort, f.SrcPort, "src_port")
	require.Equal(t, *ef.DstPort, f.DstPort, "dst_port")
	require.Equal(t, *ef.Proto, f.Proto, "proto")
	require.Equal(t, *ef.ToS, f.ToS, "tos")
	require.Equal(t, *ef.TCPFlags, f.TCPFlags, "tcp_flags")
	require.Equal(t, *ef.Packets, f.Packets, "packets")
	require.Equal(t, *ef.Bytes, f.Bytes, "bytes")
	require.Equal(t, *ef.InIf, f.InIf, "in_if")
	require.Equal(t, *ef.OutIf, f.OutIf, "out_if")
	require.Equal(t, expectedTime(dg, *ef.FirstUptimeMS), f.Start, "start")
	require.Equal(t, expectedTime(dg, *ef.LastUptimeMS), f.End, "end")
	require.Equal(t, time.UTC, f.Start.Location())
	require.Equal(t, time.UTC, f.End.Location())
	if dg.Version == 1 {
		// v1 carries none of these: they must be zero.
		require.Zero(t, f.SrcAS)
		require.Zero(t, f.DstAS)
		require.Zero(t, f.SrcMask)
		require.Zero(t, f.DstMask)
		require.Zero(t, f.Domain)
		require.Zero(t, f.Sequence)
		return
	}
	require.Equal(t, *ef.SrcAS, f.SrcAS, "src_as")
	require.Equal(t, *ef.DstAS, f.DstAS, "dst_as")
	require.Equal(t, *ef.SrcMask, f.SrcMask, "src_mask")
	require.Equal(t, *ef.DstMask, f.DstMask, "dst_mask")
	require.Equal(t, *dg.Sequence, f.Sequence, "sequence")
}

func TestFixedFormatFixtures(t *testing.T) {
	names := append([]string(nil), fixedExpected...)
	seen := map[string]bool{}
	for _, n := range names {
		seen[n] = true
	}
	// Any other expected decode of a fixed-format capture is checked too.
	others, _ := filepath.Glob(filepath.Join("testdata", "expected", "*.json"))
	for _, p := range others {
		n := filepath.Base(p)
		if seen[n] {
			continue
		}
		doc := loadExpected(t, n)
		if len(doc.Datagrams) > 0 && doc.Datagrams[0].Version <= 7 {
			names = append(names, n)
		}
	}
	for _, name := range names {
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			doc := loadExpected(t, name)
			require.True(t, strings.HasPrefix(doc.Source, "tshark"), "independent decode: %s", doc.Source)
			require.NotEmpty(t, doc.Datagrams)
			payloads := expectedPayloads(t, doc)
			records := 0
			for i, dg := range doc.Datagrams {
				p, err := Decode(testExporter, payloads[i], nil)
				require.NoError(t, err, "datagram %d", i)
				require.Equal(t, dg.Version, p.Version())
				require.Equal(t, int(*dg.Count), len(dg.Flows), "tshark count vs records")
				require.Equal(t, len(dg.Flows), p.FlowCount())
				flows := p.AppendFlows(nil)
				require.Len(t, flows, len(dg.Flows))
				checkFixedPacket(t, dg, p)
				for j, ef := range dg.Flows {
					t.Run("", func(t *testing.T) {
						f := flows[j]
						require.Equal(t, testExporter, f.Exporter)
						require.Equal(t, dg.Version, f.Version)
						checkExpectedFlow(t, dg, ef, f)
						checkFixedRecord(t, dg, ef, p, j)
					})
				}
				records += len(dg.Flows)
			}
			require.Positive(t, records)
		})
	}
}

// checkFixedPacket checks the header against tshark's and the Known bits.
func checkFixedPacket(t *testing.T, dg expectedDatagram, p Packet) {
	t.Helper()
	export := time.Unix(int64(*dg.UnixSecs), int64(*dg.UnixNsecs)).UTC()
	flows := p.AppendFlows(nil)
	switch p := p.(type) {
	case *V1Packet:
		require.Equal(t, V1Header{Count: *dg.Count, SysUptime: *dg.SysUptimeMS, UnixSecs: *dg.UnixSecs, UnixNsecs: *dg.UnixNsecs}, p.Header)
		require.Equal(t, export, p.Header.ExportTime())
		for _, f := range flows {
			require.Equal(t, knownV1, f.Known&^(FieldICMPType|FieldICMPCode)) // ICMP flows: type and code from the port
		}
	case *V5Packet:
		require.Equal(t, V5Header{
			Count: *dg.Count, SysUptime: *dg.SysUptimeMS, UnixSecs: *dg.UnixSecs, UnixNsecs: *dg.UnixNsecs,
			FlowSequence: *dg.Sequence, EngineType: *dg.EngineType, EngineID: *dg.EngineID,
			SamplingMode: *dg.SamplingMode, SamplingInterval: *dg.SamplingInterval,
		}, p.Header)
		require.Equal(t, export, p.Header.ExportTime())
		want := knownV5
		if *dg.SamplingInterval != 0 {
			want |= FieldSamplingInterval
		}
		for _, f := range flows {
			require.Equal(t, want, f.Known&^(FieldICMPType|FieldICMPCode))
			require.Equal(t, uint32(*dg.EngineType)<<8|uint32(*dg.EngineID), f.Domain)
			require.Equal(t, uint32(*dg.SamplingInterval), f.SamplingInterval)
		}
	case *V7Packet:
		require.Equal(t, *dg.Count, p.Header.Count)
		require.Equal(t, *dg.SysUptimeMS, p.Header.SysUptime)
		require.Equal(t, *dg.UnixSecs, p.Header.UnixSecs)
		require.Equal(t, *dg.UnixNsecs, p.Header.UnixNsecs)
		require.Equal(t, *dg.Sequence, p.Header.FlowSequence)
		require.Equal(t, export, p.Header.ExportTime())
		for _, f := range flows {
			require.Equal(t, knownV7, f.Known&^(FieldICMPType|FieldICMPCode))
			require.Zero(t, f.Domain)
			require.Zero(t, f.SamplingInterval)
		}
	default:
		require.Failf(t, "not a fixed-format packet", "fixed-format fixture decoded as %T", p)
	}
}

// checkFixedRecord checks record j of the typed packet against tshark.
func checkFixedRecord(t *testing.T, dg expectedDatagram, ef expectedFlow, p Packet, j int) {
	t.Helper()
	var r V5Record
	switch p := p.(type) {
	case *V1Packet:
		v := p.Records[j]
		r = V5Record{
			SrcAddr: v.SrcAddr, DstAddr: v.DstAddr, NextHop: v.NextHop, Input: v.Input, Output: v.Output,
			Packets: v.Packets, Octets: v.Octets, First: v.First, Last: v.Last, SrcPort: v.SrcPort,
			DstPort: v.DstPort, TCPFlags: v.TCPFlags, Proto: v.Proto, ToS: v.ToS, Start: v.Start, End: v.End,
		}
	case *V5Packet:
		r = p.Records[j]
	case *V7Packet:
		r = p.Records[j].V5Record
		require.NotNil(t, ef.Flags, "tshark v7 flags")
		require.Equal(t, *ef.Flags, p.Records[j].Flags, "flags")
		require.Equal(t, addr(*ef.RouterSC), p.Records[j].RouterSC, "router_sc")
	}
	require.Equal(t, addr(*ef.SrcAddr), r.SrcAddr)
	require.Equal(t, addr(*ef.DstAddr), r.DstAddr)
	require.Equal(t, addr(*ef.NextHop), r.NextHop)
	require.Equal(t, *ef.InIf, uint32(r.Input))
	require.Equal(t, *ef.OutIf, uint32(r.Output))
	require.Equal(t, *ef.Packets, uint64(r.Packets))
	require.Equal(t, *ef.Bytes, uint64(r.Octets))
	require.Equal(t, *ef.FirstUptimeMS, r.First)
	require.Equal(t, *ef.LastUptimeMS, r.Last)
	require.Equal(t, *ef.SrcPort, r.SrcPort)
	require.Equal(t, *ef.DstPort, r.DstPort)
	require.Equal(t, *ef.TCPFlags, r.TCPFlags)
	require.Equal(t, *ef.Proto, r.Proto)
	require.Equal(t, *ef.ToS, r.ToS)
	require.Equal(t, expectedTime(dg, *ef.FirstUptimeMS), r.Start)
	require.Equal(t, expectedTime(dg, *ef.LastUptimeMS), r.End)
	if dg.Version != 1 {
		require.Equal(t, *ef.SrcAS, uint32(r.SrcAS))
		require.Equal(t, *ef.DstAS, uint32(r.DstAS))
		require.Equal(t, *ef.SrcMask, r.SrcMask)
		require.Equal(t, *ef.DstMask, r.DstMask)
	}
}

// TestFixtureUptimeWrap pins one real wrap: logstash's netflow5.dat has two
// records whose first switched time is 0xffffffff (one ms before the uptime
// counter's wrap) with sys_uptime 3381 and last 2577.
func TestFixtureUptimeWrap(t *testing.T) {
	doc := loadExpected(t, "netflow5.json")
	p, err := Decode(testExporter, expectedPayloads(t, doc)[0], nil)
	require.NoError(t, err)
	v5 := p.(*V5Packet)
	require.EqualValues(t, 3381, v5.Header.SysUptime)
	r := v5.Records[0]
	require.EqualValues(t, 0xffffffff, r.First)
	require.EqualValues(t, 2577, r.Last)
	// 1430591888.280328 - 3.382 s and - 0.804 s.
	require.Equal(t, time.Date(2015, 5, 2, 18, 38, 4, 898328000, time.UTC), r.Start)
	require.Equal(t, time.Date(2015, 5, 2, 18, 38, 7, 476328000, time.UTC), r.End)
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

// v6 datagram, by the documented layout: the v5 header, then 52-byte
// records that are v5's 48 bytes with in_encaps/out_encaps in bytes 46/47,
// then the peer next hop.
const v6Hex = `
0006 0002 000f4240 6553f100 075bcd15 00003039 0a 0b 4064
c0a8010a c6336414 0a0000fe 0003 0007 000001f4 000b71b0 000ea600 000f3e58
d431 0035 00 1a 11 b8 fde8 fde9 18 1c 04 08 cb007101
0a000001 0a000002 0a000003 0010 0020 00000001 00000040 000f4240 000f4241
0001 ffff 00 02 06 00 0000 ffff 00 20 00 ff ffffffff
`

func TestV6HandBuilt(t *testing.T) {
	data := mustHex(t, v6Hex)
	require.Len(t, data, 24+2*52)
	p, err := Decode(testExporter, data, nil)
	require.NoError(t, err)
	v6, ok := p.(*V6Packet)
	require.True(t, ok, "%T", p)
	require.EqualValues(t, 6, v6.Version())
	require.Equal(t, V6Header{
		Count: 2, SysUptime: 1_000_000, UnixSecs: 1_700_000_000, UnixNsecs: 123_456_789,
		FlowSequence: 12345, EngineType: 10, EngineID: 11, SamplingMode: 1, SamplingInterval: 100,
	}, v6.Header)
	export := time.Date(2023, 11, 14, 22, 13, 20, 123456789, time.UTC)
	require.Equal(t, export, v6.Header.ExportTime())
	require.Len(t, v6.Records, 2)

	r := v6.Records[0]
	require.Equal(t, V6Record{
		V5Record: V5Record{
			SrcAddr: addr("192.168.1.10"), DstAddr: addr("198.51.100.20"), NextHop: addr("10.0.0.254"),
			Input: 3, Output: 7, Packets: 500, Octets: 750000, First: 960000, Last: 999000,
			SrcPort: 54321, DstPort: 53, TCPFlags: 0x1a, Proto: 17, ToS: 184,
			SrcAS: 65000, DstAS: 65001, SrcMask: 24, DstMask: 28,
			Start: export.Add(-40 * time.Second), End: export.Add(-time.Second),
		},
		InEncap: 4, OutEncap: 8, PeerNextHop: addr("203.0.113.1"),
	}, r)

	r = v6.Records[1]
	require.Equal(t, V6Record{
		V5Record: V5Record{
			SrcAddr: addr("10.0.0.1"), DstAddr: addr("10.0.0.2"), NextHop: addr("10.0.0.3"),
			Input: 16, Output: 32, Packets: 1, Octets: 64, First: 1_000_000, Last: 1_000_001,
			SrcPort: 1, DstPort: 65535, TCPFlags: 2, Proto: 6, ToS: 0,
			SrcAS: 0, DstAS: 65535, SrcMask: 0, DstMask: 32,
			// last is 1 ms after the export uptime: the exporter's clock ran
			// ahead, the end is 1 ms after the export time.
			Start: export, End: export.Add(time.Millisecond),
		},
		InEncap: 0, OutEncap: 255, PeerNextHop: addr("255.255.255.255"),
	}, r)

	flows := p.AppendFlows(nil)
	require.Len(t, flows, 2)
	require.Equal(t, Flow{
		Exporter: testExporter, Version: 6, Domain: 10<<8 | 11, Sequence: 12345,
		SrcAddr: addr("192.168.1.10"), DstAddr: addr("198.51.100.20"), NextHop: addr("10.0.0.254"),
		SrcPort: 54321, DstPort: 53, Proto: 17, ToS: 184, TCPFlags: 0x1a, SrcMask: 24, DstMask: 28,
		Packets: 500, Bytes: 750000, Start: export.Add(-40 * time.Second), End: export.Add(-time.Second),
		InIf: 3, OutIf: 7, SrcAS: 65000, DstAS: 65001, SamplingInterval: 100,
		Known: knownV5 | FieldSamplingInterval,
	}, flows[0])
}

// v7 datagram: the v5 header without engine and sampling (reserved), then
// 52-byte records: byte 36 flags, bytes 46-47 flags, bytes 48-51 the router
// shortcut. The record's first switched time is before an uptime wrap.
const v7Hex = `
0007 0001 00002710 6553f100 00000000 0000002a 01020304
ac100001 ac100002 ac100003 0005 0006 0000000a 000005dc fffff000 000003e8
0050 c350 01 12 06 20 0001 0002 10 18 8001 c00002fe
`

func TestV7HandBuilt(t *testing.T) {
	data := mustHex(t, v7Hex)
	require.Len(t, data, 24+52)
	p, err := Decode(testExporter, data, nil)
	require.NoError(t, err)
	v7, ok := p.(*V7Packet)
	require.True(t, ok, "%T", p)
	require.Equal(t, V7Header{
		Count: 1, SysUptime: 10000, UnixSecs: 1_700_000_000, UnixNsecs: 0,
		FlowSequence: 42, Reserved: 0x01020304,
	}, v7.Header)
	export := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	// first = 2^32 - 4096: 4096 ms before the wrap, uptime 10000 after it.
	start := export.Add(-(10000 + 4096) * time.Millisecond)
	end := export.Add(-9000 * time.Millisecond)
	require.Equal(t, []V7Record{{
		V5Record: V5Record{
			SrcAddr: addr("172.16.0.1"), DstAddr: addr("172.16.0.2"), NextHop: addr("172.16.0.3"),
			Input: 5, Output: 6, Packets: 10, Octets: 1500, First: 0xfffff000, Last: 1000,
			SrcPort: 80, DstPort: 50000, TCPFlags: 0x12, Proto: 6, ToS: 32,
			SrcAS: 1, DstAS: 2, SrcMask: 16, DstMask: 24, Start: start, End: end,
		},
		Flags: 1, FieldFlags: 0x8001, RouterSC: addr("192.0.2.254"),
	}}, v7.Records)
	require.Equal(t, []Flow{{
		Exporter: testExporter, Version: 7, Sequence: 42,
		SrcAddr: addr("172.16.0.1"), DstAddr: addr("172.16.0.2"), NextHop: addr("172.16.0.3"),
		SrcPort: 80, DstPort: 50000, Proto: 6, ToS: 32, TCPFlags: 0x12, SrcMask: 16, DstMask: 24,
		Packets: 10, Bytes: 1500, Start: start, End: end, InIf: 5, OutIf: 6, SrcAS: 1, DstAS: 2,
		Known: knownV7,
	}}, p.AppendFlows(nil))
}

// TestUptimeWrap checks absolute times around the 32-bit uptime wrap, for
// every fixed-format version (same header fields at the same offsets).
func TestUptimeWrap(t *testing.T) {
	export := time.Unix(buildUnixSecs, 0).UTC()
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	cases := []struct {
		name              string
		uptime            uint32
		first, last       uint32
		wantStart, wanEnd time.Time
	}{
		{"no wrap", 100_000, 40_000, 90_000, export.Add(-ms(60_000)), export.Add(-ms(10_000))},
		{"first before wrap", 5_000, 0xfffff000, 1_000, export.Add(-ms(5_000 + 4_096)), export.Add(-ms(4_000))},
		{"both before wrap", 5_000, 0xffff0000, 0xfffffffe, export.Add(-ms(5_000 + 65_536)), export.Add(-ms(5_002))},
		{"uptime 0, last at wrap", 0, 0xffffff00, 0xffffffff, export.Add(-ms(256)), export.Add(-ms(1))},
		{"clock ahead", 10_000, 10_000, 10_005, export, export.Add(ms(5))},
		{"just under half range", 0x7fffffff, 0, 0x7fffffff, export.Add(-ms(0x7fffffff)), export},
		{"high uptime, no wrap", 0xfffffff0, 0xffff0000, 0xffffffe0, export.Add(-ms(0xfff0)), export.Add(-ms(16))},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, v := range []uint16{1, 5, 6, 7} {
				var data []byte
				switch v {
				case 1:
					data = buildV1(1)
				case 5:
					data = buildV5(1)
				case 6:
					data = buildV6(1)
				case 7:
					data = buildV7(1)
				}
				hdr := 24
				if v == 1 {
					hdr = 16
				}
				be.PutUint32(data[4:], c.uptime)
				be.PutUint32(data[hdr+24:], c.first)
				be.PutUint32(data[hdr+28:], c.last)
				p, err := Decode(testExporter, data, nil)
				require.NoError(t, err)
				f := p.AppendFlows(nil)[0]
				require.Equal(t, c.wantStart, f.Start, "v%d start", v)
				require.Equal(t, c.wanEnd, f.End, "v%d end", v)
			}
		})
	}
}

// TestPacketInterface decodes the same three logical flows from every
// version and reads them through Packet alone, without a type switch.
func TestPacketInterface(t *testing.T) {
	const n = 3
	cases := []struct {
		version  uint16
		data     []byte
		known    FlowFields
		domain   uint32
		sequence uint32
	}{
		{1, buildV1(n), knownV1, 0, 0},
		{5, buildV5(n), knownV5, 1<<8 | 2, 5000},
		{6, buildV6(n), knownV5, 1<<8 | 2, 5000},
		{7, buildV7(n), knownV7, 0, 5000},
		{9, buildV9(n), knownV5, 1, 2},
		{10, buildIPFIX(n), knownV5, 1, 0},
	}
	sentinel := Flow{Version: 99}
	for _, c := range cases {
		var p Packet
		p, err := Decode(testExporter, c.data, nil)
		require.NoError(t, err, "v%d", c.version)
		require.Equal(t, c.version, p.Version())
		require.Equal(t, n, p.FlowCount(), "v%d", c.version)
		flows := p.AppendFlows([]Flow{sentinel})
		require.Len(t, flows, n+1)
		require.Equal(t, sentinel, flows[0], "AppendFlows must append")
		for i, f := range flows[1:] {
			tf := testFlowN(i)
			want := Flow{
				Exporter: testExporter, Version: c.version, Domain: c.domain, Sequence: c.sequence,
				SrcAddr: tf.Src, DstAddr: tf.Dst, NextHop: tf.NextHop, SrcPort: tf.SrcPort, DstPort: tf.DstPort,
				Proto: tf.Proto, ToS: tf.ToS, TCPFlags: tf.TCPFlags, Packets: uint64(tf.Packets),
				Bytes: uint64(tf.Octets), Start: tf.Start(), End: tf.End(), InIf: uint32(tf.In), OutIf: uint32(tf.Out),
				Known: c.known,
			}
			if c.known.Has(FieldSrcAS) {
				want.SrcAS, want.DstAS = uint32(tf.SrcAS), uint32(tf.DstAS)
				want.SrcMask, want.DstMask = tf.SrcMask, tf.DstMask
			}
			require.Equal(t, want, f, "v%d flow %d", c.version, i)
		}
		// Capacity is reused: appending into a slice with room allocates
		// nothing and keeps the backing array.
		buf := make([]Flow, 0, n)
		out := p.AppendFlows(buf)
		require.Same(t, &buf[:1][0], &out[0], "v%d", c.version)
	}
}

func TestFlowFieldsHas(t *testing.T) {
	require.True(t, knownV5.Has(FieldSrcAddr|FieldDstAS))
	require.False(t, knownV1.Has(FieldSrcAddr|FieldDstAS))
	require.True(t, knownV1.Has(0))
}

// TestFixedFormatNoAliasing checks that a decoded fixed-format packet and
// its flows do not change when the datagram is overwritten.
func TestFixedFormatNoAliasing(t *testing.T) {
	for _, data := range [][]byte{buildV1(2), buildV5(2), buildV6(2), buildV7(2)} {
		p, err := Decode(testExporter, data, nil)
		require.NoError(t, err)
		before := p.AppendFlows(nil)
		for i := range data {
			data[i] = 0xee
		}
		require.Equal(t, before, p.AppendFlows(nil))
	}
}

// TestDecodeIntoReuse decodes different versions and sizes into one Buffer:
// each result must equal a fresh decode.
func TestDecodeIntoReuse(t *testing.T) {
	var buf Buffer
	d := NewDecoder(Config{})
	inputs := [][]byte{buildV5(30), buildV5(2), buildV1(5), buildV6(30), buildV6(1), buildV7(3), buildV5(1)}
	for i, data := range inputs {
		p, err := d.DecodeInto(&buf, testExporter, data)
		require.NoError(t, err)
		fresh, err := Decode(testExporter, data, nil)
		require.NoError(t, err)
		require.Equal(t, fresh.AppendFlows(nil), p.AppendFlows(nil), "input %d", i)
		require.Equal(t, fresh, p, "input %d", i)
	}
	// A failed decode into the buffer leaves no stale records behind.
	_, err := d.DecodeInto(&buf, testExporter, buildV5(0))
	require.ErrorIs(t, err, ErrEmpty)
	p, err := d.DecodeInto(&buf, testExporter, buildV5(1))
	require.NoError(t, err)
	require.Equal(t, 1, p.FlowCount())
}
