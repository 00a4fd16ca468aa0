package netflow

// Options data as exporter state: sampling intervals per sampler, the
// exporter-wide interval, interface names, and IPFIX
// systemInitTimeMilliseconds for uptime-based flow times.

import (
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// decodeFlowsOf decodes one datagram and returns its flows.
func decodeFlowsOf(t *testing.T, d *Decoder, exporter netip.AddrPort, b []byte) []Flow {
	t.Helper()
	p, err := d.Decode(exporter, b)
	require.NoError(t, err)
	return p.AppendFlows(nil)
}

func TestStateSamplingV9(t *testing.T) {
	d := NewDecoder(Config{})
	samplerFields := append(append([]tmplField(nil), v9BenchFields...), tmplField{48, 1, 0})
	templates := v9Packet(1, 1,
		set(0, append(templateRecord(256, samplerFields...), templateRecord(257, v9BenchFields...)...), true),
		set(1, append(
			// 300: per sampler (FLOW_SAMPLER_ID 48, SAMPLING_INTERVAL 34).
			v9OptionsTemplate(300, []tmplField{{1, 4, 0}}, []tmplField{{48, 1, 0}, {34, 4, 0}}),
			// 301: exporter-wide (SAMPLING_INTERVAL 34, SAMPLING_ALGORITHM 35).
			v9OptionsTemplate(301, []tmplField{{1, 4, 0}}, []tmplField{{34, 4, 0}, {35, 1, 0}})...), true))
	_, err := d.Decode(testExporter, templates)
	require.NoError(t, err)

	// Samplers 1, 2, 3: before any options data, no interval is known.
	sampler := func(i int) []byte { return []byte{byte(1 + i%3)} }
	data := v9Packet(1, 2, set(256, flowRecordsWith(v9BenchFields, 3, sampler), true))
	for _, f := range decodeFlowsOf(t, d, testExporter, data) {
		require.Zero(t, f.SamplingInterval)
		require.False(t, f.Known.Has(FieldSamplingInterval))
	}
	_, ok := d.ExporterState(testExporter, 9, 1)
	require.False(t, ok)

	// Options data: sampler 1 is 1 in 100, sampler 2 1 in 1000, and the
	// exporter as a whole 1 in 10.
	opts := v9Packet(1, 3,
		set(300, append(append(uintBytes(0, 4), 1), uintBytes(100, 4)...), false),
		set(300, append(append(uintBytes(0, 4), 2), uintBytes(1000, 4)...), false),
		set(301, append(append(uintBytes(0, 4), uintBytes(10, 4)...), 2), true))
	p, err := d.Decode(testExporter, opts)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount(), "options records are not flows")
	require.Len(t, packetSets(t, p).DataSets, 3)
	for _, ds := range packetSets(t, p).DataSets {
		require.True(t, ds.Options())
	}

	st, ok := d.ExporterState(testExporter, 9, 1)
	require.True(t, ok)
	require.Equal(t, map[uint64]uint32{1: 100, 2: 1000}, st.Samplers)
	require.Equal(t, uint32(10), st.SamplingInterval)
	require.Equal(t, uint8(2), st.SamplingAlgorithm, "SAMPLING_ALGORITHM 2: random")
	require.Empty(t, st.SamplerAlgorithms, "template 300 sends no algorithm")

	flows := decodeFlowsOf(t, d, testExporter, data)
	require.Len(t, flows, 3)
	for i, f := range flows {
		want := []uint32{100, 1000, 10}[i] // sampler 3 is unknown: exporter-wide
		require.Equal(t, want, f.SamplingInterval, "flow %d", i)
		require.True(t, f.Known.Has(FieldSamplingInterval))
		// Counters are as exported, not multiplied.
		require.Equal(t, uint64(testFlowN(i).Packets), f.Packets)
		require.Equal(t, uint64(testFlowN(i).Octets), f.Bytes)
	}
	// A template without a sampler ID gets the exporter-wide interval.
	for _, f := range decodeFlowsOf(t, d, testExporter, v9Packet(1, 4, set(257, flowRecords(v9BenchFields, 2), true))) {
		require.Equal(t, uint32(10), f.SamplingInterval)
	}

	// The state belongs to (exporter, version, source ID): source ID 2 of
	// the same exporter, and another exporter, know nothing of it.
	other := netip.MustParseAddrPort("198.51.100.9:2055")
	for _, c := range []struct {
		exporter netip.AddrPort
		source   uint32
	}{{testExporter, 2}, {other, 1}} {
		tpl := v9Packet(c.source, 1, set(0, templateRecord(256, samplerFields...), true))
		_, err := d.Decode(c.exporter, tpl)
		require.NoError(t, err)
		for _, f := range decodeFlowsOf(t, d, c.exporter, v9Packet(c.source, 2, set(256, flowRecordsWith(v9BenchFields, 3, sampler), true))) {
			require.Zero(t, f.SamplingInterval)
		}
		_, ok := d.ExporterState(c.exporter, 9, c.source)
		require.False(t, ok)
	}

	// A record's own sampling interval wins over the options data.
	ownFields := append(append([]tmplField(nil), samplerFields...), tmplField{34, 4, 0})
	_, err = d.Decode(testExporter, v9Packet(1, 5, set(0, templateRecord(258, ownFields...), true)))
	require.NoError(t, err)
	own := func(i int) []byte { return append([]byte{1}, uintBytes(7, 4)...) }
	for _, f := range decodeFlowsOf(t, d, testExporter, v9Packet(1, 6, set(258, flowRecordsWith(v9BenchFields, 2, own), true))) {
		require.Equal(t, uint32(7), f.SamplingInterval)
	}
}

func TestStateSamplingIPFIX(t *testing.T) {
	d := NewDecoder(Config{})
	selFields := append(append([]tmplField(nil), ipfixBenchFields...), tmplField{302, 8, 0})
	msg := ipfixMessage(7, 1,
		set(2, templateRecord(256, selFields...), false),
		set(3, append(
			// 400: selectorId, samplingPacketInterval, samplingPacketSpace.
			ipfixOptionsTemplate(400, 1, tmplField{302, 8, 0}, tmplField{305, 4, 0}, tmplField{306, 4, 0}),
			// 401: selectorId, samplingSize, samplingPopulation.
			ipfixOptionsTemplate(401, 1, tmplField{302, 8, 0}, tmplField{309, 4, 0}, tmplField{310, 4, 0})...), false),
		set(400, append(append(uintBytes(5, 8), uintBytes(1, 4)...), uintBytes(99, 4)...), false),  // 1 in 100
		set(400, append(append(uintBytes(6, 8), uintBytes(2, 4)...), uintBytes(998, 4)...), false), // 2 in 1000
		set(401, append(append(uintBytes(7, 8), uintBytes(1, 4)...), uintBytes(64, 4)...), false),  // 1 in 64
	)
	p, err := d.Decode(testExporter, msg)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	st, ok := d.ExporterState(testExporter, 10, 7)
	require.True(t, ok)
	require.Equal(t, map[uint64]uint32{5: 100, 6: 500, 7: 64}, st.Samplers)
	require.Zero(t, st.SamplingInterval)

	selector := func(i int) []byte { return uintBytes(uint64(5+i), 8) } // 5, 6, 7, 8
	flows := decodeFlowsOf(t, d, testExporter, ipfixMessage(7, 2, set(256, flowRecordsWith(ipfixBenchFields, 4, selector), false)))
	require.Len(t, flows, 4)
	for i, f := range flows {
		want := []uint32{100, 500, 64, 0}[i] // selector 8 unknown, no exporter-wide interval
		require.Equal(t, want, f.SamplingInterval, "flow %d", i)
		require.Equal(t, want != 0, f.Known.Has(FieldSamplingInterval))
		require.Equal(t, uint64(testFlowN(i).Packets), f.Packets)
		require.Equal(t, uint64(testFlowN(i).Octets), f.Bytes)
	}

	// An options record without a selector sets the exporter-wide
	// interval (the deprecated samplingInterval 34).
	_, err = d.Decode(testExporter, ipfixMessage(7, 3,
		set(3, ipfixOptionsTemplate(402, 1, tmplField{149, 4, 0}, tmplField{34, 4, 0}), false),
		set(402, append(uintBytes(7, 4), uintBytes(20, 4)...), false)))
	require.NoError(t, err)
	flows = decodeFlowsOf(t, d, testExporter, ipfixMessage(7, 4, set(256, flowRecordsWith(ipfixBenchFields, 4, selector), false)))
	require.Equal(t, uint32(20), flows[3].SamplingInterval)
	require.Equal(t, uint32(100), flows[0].SamplingInterval)
}

func TestStateInterfaceNames(t *testing.T) {
	d := NewDecoder(Config{})
	// v9: scope interface (2), IF_NAME (82), IF_DESC (83).
	v9 := v9Packet(3, 1,
		set(1, v9OptionsTemplate(260, []tmplField{{2, 4, 0}}, []tmplField{{82, 16, 0}, {83, 24, 0}}), true),
		set(260, append(append(append(uintBytes(3, 4), fixedText("Gi0/0/3", 16)...), fixedText("uplink to core", 24)...),
			append(append(uintBytes(7, 4), fixedText("Te1/1", 16)...), fixedText("customer A", 24)...)...), true))
	p, err := d.Decode(testExporter, v9)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
	st, ok := d.ExporterState(testExporter, 9, 3)
	require.True(t, ok)
	require.Equal(t, map[uint32]string{3: "Gi0/0/3", 7: "Te1/1"}, st.InterfaceNames)
	require.Equal(t, map[uint32]string{3: "uplink to core", 7: "customer A"}, st.InterfaceDescriptions)
	require.Zero(t, st.SamplingInterval)

	// A later record for the same interface replaces its name.
	_, err = d.Decode(testExporter, v9Packet(3, 2,
		set(260, append(append(uintBytes(7, 4), fixedText("Te1/1.100", 16)...), fixedText("customer B", 24)...), true)))
	require.NoError(t, err)
	st, _ = d.ExporterState(testExporter, 9, 3)
	require.Equal(t, "Te1/1.100", st.InterfaceNames[7])
	require.Equal(t, "customer B", st.InterfaceDescriptions[7])

	// IPFIX: scope ingressInterface (10), interfaceName (82) and
	// interfaceDescription (83) of variable length.
	ipfix := ipfixMessage(4, 1,
		set(3, ipfixOptionsTemplate(270, 1, tmplField{10, 4, 0}, tmplField{82, VariableLength, 0}, tmplField{83, VariableLength, 0}), false),
		set(270, append(append(uintBytes(12, 4), varText("eth0")...), varText("LAN")...), false))
	_, err = d.Decode(testExporter, ipfix)
	require.NoError(t, err)
	st, ok = d.ExporterState(testExporter, 10, 4)
	require.True(t, ok)
	require.Equal(t, map[uint32]string{12: "eth0"}, st.InterfaceNames)
	require.Equal(t, map[uint32]string{12: "LAN"}, st.InterfaceDescriptions)

	// ExporterState returns a copy.
	st.InterfaceNames[12] = "changed"
	st, _ = d.ExporterState(testExporter, 10, 4)
	require.Equal(t, "eth0", st.InterfaceNames[12])

	// The v9 state and the IPFIX state are separate.
	st, _ = d.ExporterState(testExporter, 9, 3)
	require.NotContains(t, st.InterfaceNames, uint32(12))
}

// TestStateSystemInitFixture decodes ipfix.dat, softflowd's IPFIX export
// captured for logstash's tests: an options record with
// systemInitTimeMilliseconds, then flows timed by flowStartSysUpTime and
// flowEndSysUpTime. Their absolute times are checked against tshark's
// decode (testdata/expected/logstash/ipfix.json): its sys_init_time plus
// its uptimes.
func TestStateSystemInitFixture(t *testing.T) {
	doc := loadExpected(t, filepath.Join("logstash", "ipfix.json"))
	payloads := expectedPayloads(t, doc)
	require.Len(t, payloads, 3)
	d := NewDecoder(Config{})
	var sysInit time.Time
	n := 0
	for i, payload := range payloads {
		dg := doc.Datagrams[i]
		p, err := d.Decode(testExporter, payload)
		require.NoError(t, err)
		flows := p.AppendFlows(nil)
		fi := 0
		for _, ef := range dg.Flows {
			if ef.Options {
				v, ok := ef.Fields["cflow.sys_init_time"]
				require.True(t, ok)
				sysInit, err = time.Parse("Jan 2, 2006 15:04:05.000000000 MST", v)
				require.NoError(t, err)
				continue
			}
			f := flows[fi]
			fi++
			require.False(t, sysInit.IsZero(), "the options record comes first")
			require.Equal(t, addr(*ef.SrcAddr), f.SrcAddr)
			require.True(t, f.Known.Has(FieldStart|FieldEnd))
			require.Equal(t, sysInit.Add(time.Duration(*ef.FirstUptimeMS)*time.Millisecond), f.Start)
			require.Equal(t, sysInit.Add(time.Duration(*ef.LastUptimeMS)*time.Millisecond), f.End)
			require.False(t, f.Start.After(time.Unix(int64(*dg.UnixSecs), 0)), "no flow starts after its export")
			n++
		}
		require.Len(t, flows, fi)
	}
	require.Equal(t, 12, n)
	st, ok := d.ExporterState(testExporter, 10, 0)
	require.True(t, ok)
	require.Equal(t, time.UnixMilli(1431516013506).UTC(), st.SystemInit, "logstash's systemInitTimeMilliseconds")
	require.Equal(t, sysInit, st.SystemInit)
	// samplingPacketInterval 1, samplingPacketSpace 0: 1 in 1.
	require.Equal(t, uint32(1), st.SamplingInterval)
}

// TestStateSystemInitBuilt builds the cases ipfix.dat does not have: flows
// before the exporter's init time is known, and a record that carries its
// own systemInitTimeMilliseconds.
func TestStateSystemInitBuilt(t *testing.T) {
	d := NewDecoder(Config{})
	upFields := []tmplField{{8, 4, 0}, {12, 4, 0}, {2, 4, 0}, {22, 4, 0}, {21, 4, 0}}
	_, err := d.Decode(testExporter, ipfixMessage(9, 0, set(2, templateRecord(256, upFields...), false)))
	require.NoError(t, err)
	data := ipfixMessage(9, 1, set(256, flowRecords(upFields, 2), false))

	// No init time yet: no absolute time is made up.
	for _, f := range decodeFlowsOf(t, d, testExporter, data) {
		require.False(t, f.Known.Has(FieldStart))
		require.False(t, f.Known.Has(FieldEnd))
		require.True(t, f.Start.IsZero())
	}

	boot := time.Date(2023, 11, 14, 21, 0, 0, 250e6, time.UTC)
	_, err = d.Decode(testExporter, ipfixMessage(9, 2,
		set(3, ipfixOptionsTemplate(300, 1, tmplField{144, 4, 0}, tmplField{160, 8, 0}), false),
		set(300, append(uintBytes(1, 4), uintBytes(uint64(boot.UnixMilli()), 8)...), false)))
	require.NoError(t, err)
	st, _ := d.ExporterState(testExporter, 9, 9) // v9 state of the same domain: none
	require.True(t, st.SystemInit.IsZero())
	st, ok := d.ExporterState(testExporter, 10, 9)
	require.True(t, ok)
	require.Equal(t, boot, st.SystemInit)
	for i, f := range decodeFlowsOf(t, d, testExporter, data) {
		w := testFlowN(i)
		require.True(t, f.Known.Has(FieldStart|FieldEnd))
		require.Equal(t, boot.Add(time.Duration(w.First)*time.Millisecond), f.Start)
		require.Equal(t, boot.Add(time.Duration(w.Last)*time.Millisecond), f.End)
	}

	// A record's own systemInitTimeMilliseconds wins.
	ownBoot := boot.Add(-time.Hour)
	ownFields := append(append([]tmplField(nil), upFields...), tmplField{160, 8, 0})
	_, err = d.Decode(testExporter, ipfixMessage(9, 3, set(2, templateRecord(257, ownFields...), false)))
	require.NoError(t, err)
	own := func(int) []byte { return uintBytes(uint64(ownBoot.UnixMilli()), 8) }
	flows := decodeFlowsOf(t, d, testExporter, ipfixMessage(9, 4, set(257, flowRecordsWith(upFields, 2, own), false)))
	for i, f := range flows {
		require.Equal(t, ownBoot.Add(time.Duration(testFlowN(i).First)*time.Millisecond), f.Start)
	}
}
