package netflow

// Hostile sFlow: count bombs, nested lengths past their container, header
// lengths past their record, zero-length structures, 10,000 samples, deep
// encapsulation. Each gives an error matching a sentinel (with the offset
// of what was wrong) or a partial decode, never a panic or a hang, and
// allocates by the bytes it holds, not by the counts it claims.

import (
	"errors"
	"net/netip"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// sfFlowSample is a valid flow sample with a raw header, the i-th.
func sfFlowSample(i int) []byte {
	return testkit.SFlowFlowSample(sfHead(uint32(i)), testkit.SFlowRawHeader(1, 100, 4, testkit.SFlowFrame(i)))
}

// sfDecodeErr decodes data, which must give an error matching want, and
// returns the packet (nil for a bad header) and the DecodeError.
func sfDecodeErr(t *testing.T, data []byte, want error) (*SFlowPacket, *DecodeError) {
	t.Helper()
	var (
		p   Packet
		err error
	)
	withWatchdog(t, fuzzTimeout, func() { p, err = NewDecoder(Config{Now: sflowTestNow}).Decode(testExporter, data) })
	require.ErrorIs(t, err, want)
	var de *DecodeError
	require.True(t, errors.As(err, &de), "%v", err)
	require.GreaterOrEqual(t, de.Offset, 0)
	require.LessOrEqual(t, de.Offset, len(data))
	require.Equal(t, uint16(5), de.Version)
	require.NoError(t, checkDecoded(data, p, err))
	if p == nil {
		return nil, de
	}
	return p.(*SFlowPacket), de
}

func TestSFlowHostileHeader(t *testing.T) {
	full := buildSFlow(1)
	for _, n := range []int{4, 7, 8, 11, 12, 27} {
		p, de := sfDecodeErr(t, full[:n], ErrTruncated)
		require.Nil(t, p, "cut at %d", n)
		require.Contains(t, de.What, "sflow header")
	}
	bad := append([]byte(nil), full...)
	be.PutUint32(bad[4:], 3) // address type 3
	p, de := sfDecodeErr(t, bad, ErrMalformed)
	require.Nil(t, p)
	require.Equal(t, 4, de.Offset)
	// sFlow v2 and v4 begin the same way: not decoded.
	v4 := append([]byte(nil), full...)
	be.PutUint32(v4, 4)
	_, err := NewDecoder(Config{}).Decode(testExporter, v4)
	require.ErrorIs(t, err, ErrUnsupportedVersion)
}

// TestSFlowSampleCountBomb: a header announcing 2^32-1 samples over one
// gives that sample and an error, and allocates what a claim of two does.
func TestSFlowSampleCountBomb(t *testing.T) {
	claim := func(n uint32) []byte {
		b := testkit.SFlowDatagram(sfAgent, 0, 1, 1, sfFlowSample(0))
		be.PutUint32(b[24:], n)
		return b
	}
	p, de := sfDecodeErr(t, claim(0xffffffff), ErrTruncated)
	require.Len(t, p.FlowSamples, 1)
	require.Equal(t, len(claim(1)), de.Offset, "the missing second sample")
	require.Contains(t, de.What, "sflow sample 1")

	d := NewDecoder(Config{})
	var buf Buffer
	measure := func(data []byte) (float64, uint64) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		n := testing.AllocsPerRun(100, func() {
			if _, err := d.DecodeInto(&buf, testExporter, data); err == nil {
				panic("bomb decoded")
			}
		})
		runtime.ReadMemStats(&after)
		return n, (after.TotalAlloc - before.TotalAlloc) / 101
	}
	ha, hb := measure(claim(0xffffffff))
	ma, mb := measure(claim(2))
	t.Logf("claim 2^32-1: %.0f allocs %d B; claim 2: %.0f allocs %d B", ha, hb, ma, mb)
	require.Equal(t, ma, ha)
	require.LessOrEqual(t, hb, mb+64)
	require.Less(t, hb, uint64(1024))
}

// TestSFlowNestedLengths: a record past its sample spoils the sample; a
// sample past its datagram ends the walk; the valid samples around them
// decode.
func TestSFlowNestedLengths(t *testing.T) {
	good0, good2 := sfFlowSample(0), sfFlowSample(2)
	// Record length larger than what its sample holds.
	long := sfFlowSample(1)
	be.PutUint32(long[8+32+4:], 10000)
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, good0, long, good2)
	p, de := sfDecodeErr(t, data, ErrTruncated)
	require.Len(t, p.FlowSamples, 2, "the samples around the bad one")
	require.Equal(t, []uint32{0, 2}, []uint32{p.FlowSamples[0].SequenceNumber, p.FlowSamples[1].SequenceNumber})
	require.Equal(t, 28+len(good0)+8+32, de.Offset, "at the bad record")
	require.Contains(t, de.What, "sflow sample 1 record 0")
	require.Len(t, p.AppendFlows(nil), 2)

	// Record count larger than the records there: the sample is spoiled.
	many := sfFlowSample(1)
	be.PutUint32(many[8+28:], 0xffffffff)
	p, _ = sfDecodeErr(t, testkit.SFlowDatagram(sfAgent, 0, 1, 1, good0, many, good2), ErrTruncated)
	require.Len(t, p.FlowSamples, 2)

	// Sample length past the datagram: the walk ends, what came before stays.
	past := sfFlowSample(1)
	be.PutUint32(past[4:], 0x7fffffff)
	p, de = sfDecodeErr(t, testkit.SFlowDatagram(sfAgent, 0, 1, 1, good0, past, good2), ErrTruncated)
	require.Len(t, p.FlowSamples, 1)
	require.Equal(t, 28+len(good0), de.Offset)

	// A counter sample whose record runs past it, between flow samples.
	ctr := testkit.SFlowCounterSample(1, 0, 1, testkit.SFlowInterfaceCounters{IfIndex: 1}.Record())
	be.PutUint32(ctr[8+12+4:], 200)
	p, _ = sfDecodeErr(t, testkit.SFlowDatagram(sfAgent, 0, 1, 1, good0, ctr, good2), ErrTruncated)
	require.Len(t, p.FlowSamples, 2)
	require.Empty(t, p.CounterSamples)
}

// TestSFlowHeaderLongerThanRecord: a raw packet header whose length is
// larger than its record, and known records too short for their fields,
// spoil their sample only.
func TestSFlowHeaderLongerThanRecord(t *testing.T) {
	hdr := testkit.SFlowRawHeader(1, 100, 0, make([]byte, 20))
	be.PutUint32(hdr[8+12:], 21)
	bad := []([]byte){
		hdr,
		testkit.SFlowStructure(1, nil), // raw header of 0 bytes
		testkit.SFlowStructure(2, make([]byte, 20)),                                                                 // Ethernet data of 20 bytes
		testkit.SFlowStructure(3, make([]byte, 28)),                                                                 // IPv4 data of 28
		testkit.SFlowStructure(4, make([]byte, 52)),                                                                 // IPv6 data of 52
		testkit.SFlowStructure(1001, make([]byte, 12)),                                                              // switch of 12
		testkit.SFlowStructure(1002, []byte{0, 0, 0, 1, 1}),                                                         // router address cut
		testkit.SFlowStructure(1002, sfWordsRaw(9)),                                                                 // router address type 9
		testkit.SFlowStructure(1003, append(testkit.SFlowAddress(sfHop), sfWordsRaw(1, 2, 3, 0xffffffff)...)),       // AS path segment bomb
		testkit.SFlowStructure(1003, append(testkit.SFlowAddress(sfHop), sfWordsRaw(1, 2, 3, 1, 2, 0xffffffff)...)), // AS count bomb
		testkit.SFlowStructure(1003, append(testkit.SFlowAddress(sfHop), sfWordsRaw(1, 2, 3, 0, 0xffffffff)...)),    // communities bomb
		testkit.SFlowStructure(1004, sfWordsRaw(106, 0xfffffff0)),                                                   // user name bomb
		testkit.SFlowStructure(1005, sfWordsRaw(1, 5)),                                                              // URL cut
		testkit.SFlowStructure(1006, append(testkit.SFlowAddress(sfHop), sfWordsRaw(0x40000000)...)),                // label stack bomb
		testkit.SFlowStructure(1007, testkit.SFlowAddress(sfHop)),                                                   // NAT without destination
		testkit.SFlowStructure(1020, sfWordsRaw(1)),                                                                 // NAT port cut
	}
	for i, rec := range bad {
		data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, sfFlowSample(0), testkit.SFlowFlowSample(sfHead(1), rec), sfFlowSample(2))
		p, de := sfDecodeErr(t, data, ErrMalformed)
		require.Len(t, p.FlowSamples, 2, "case %d", i)
		require.Contains(t, de.What, "sflow sample 1 record 0 (format 0:", "case %d", i)
	}
	// Counter records too short.
	for _, f := range []uint32{1, 2, 5, 1001} {
		data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, testkit.SFlowCounterSample(1, 0, 1, testkit.SFlowStructure(f, make([]byte, 8))), sfFlowSample(2))
		p, _ := sfDecodeErr(t, data, ErrMalformed)
		require.Len(t, p.FlowSamples, 1)
		require.Empty(t, p.CounterSamples)
	}
}

// TestSFlowZeroLength: zero-length structures. An unknown record or sample
// of length 0 is kept raw; a flow or counter sample too short for its
// fixed fields ends the walk (its framing cannot be right).
func TestSFlowZeroLength(t *testing.T) {
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1,
		testkit.SFlowStructure(77, nil),
		testkit.SFlowFlowSample(sfHead(1), testkit.SFlowStructure(2000, nil), testkit.SFlowStructure(5<<12|1, nil)))
	p, flows := sfDecode(t, Config{}, data)
	require.Len(t, flows, 1)
	require.Equal(t, []SFlowStructure{{Format: 77, Data: []byte{}}}, p.OtherSamples)
	require.Len(t, p.FlowSamples[0].Records, 2)

	for _, format := range []uint32{1, 2, 3, 4} {
		zero := testkit.SFlowDatagram(sfAgent, 0, 1, 1, sfFlowSample(0), testkit.SFlowStructure(format, nil), sfFlowSample(2))
		p, de := sfDecodeErr(t, zero, ErrMalformed)
		require.Len(t, p.FlowSamples, 1, "format %d", format)
		require.Contains(t, de.What, "shorter than its fixed fields")
	}
	// A datagram of no samples.
	p, flows = sfDecode(t, Config{}, testkit.SFlowDatagram(sfAgent, 0, 1, 1))
	require.Empty(t, flows)
	require.Zero(t, p.Header.Samples)
}

// TestSFlowManySamples: 10,000 samples in one datagram (it need not fit
// UDP: the decoder takes any slice) decode, every one, and reuse the
// Buffer's capacity on the next decode.
func TestSFlowManySamples(t *testing.T) {
	const n = 10000
	samples := make([][]byte, n)
	for i := range samples {
		if i%2 == 0 {
			samples[i] = sfFlowSample(i)
		} else {
			samples[i] = testkit.SFlowCounterSample(uint32(i), 0, 1)
		}
	}
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, samples...)
	d := NewDecoder(Config{Now: sflowTestNow})
	var buf Buffer
	var flows []Flow
	withWatchdog(t, fuzzTimeout, func() {
		var err error
		flows, err = d.DecodeFlows(&buf, flows[:0], testExporter, data)
		require.NoError(t, err)
	})
	require.Len(t, flows, n/2)
	require.Equal(t, testFlowN(n-2).Src, flows[n/2-1].SrcAddr)
	require.Len(t, buf.sflow.CounterSamples, n/2)
	allocs := testing.AllocsPerRun(5, func() {
		flows, _ = d.DecodeFlows(&buf, flows[:0], testExporter, data)
	})
	require.Zero(t, allocs)
}

// TestSFlowDeepEncapsulation: a sampled header of 64 levels of IP in IP
// decodes, by default and decapsulated.
func TestSFlowDeepEncapsulation(t *testing.T) {
	pkt := tcp4()
	for i := range 64 {
		pkt = testkit.IPv4(netip.AddrFrom4([4]byte{10, 0, byte(i), 1}), phTunD, protoIPIP, 0, pkt)
	}
	data := testkit.SFlowDatagram(sfAgent, 0, 1, 1, testkit.SFlowFlowSample(sfHead(1),
		testkit.SFlowRawHeader(1, 9000, 0, testkit.Ethernet(testkit.MACB, testkit.MACA, nil, etherTypeIPv4, pkt))))
	for _, decap := range []bool{false, true} {
		_, flows := sfDecode(t, Config{Decapsulate: decap}, data)
		require.Equal(t, uint8(protoIPIP), flows[0].Proto)
		require.Equal(t, uint64(9000), flows[0].Bytes)
	}
}

// TestSFlowEveryPrefix: every prefix of a datagram of every sample kind
// decodes to an error or to what it holds, within the watchdog.
func TestSFlowEveryPrefix(t *testing.T) {
	full := testkit.SFlowDatagram(sfAgent, 0, 1, 1, sfFlowSample(0),
		testkit.SFlowExpandedFlowSample(sfHead(1), testkit.SFlowRouter(sfHop, 8, 16),
			testkit.SFlowGateway(sfBGPHop, 1, 2, 3, []uint32{4, 5}, []uint32{6}, 7)),
		testkit.SFlowCounterSample(2, 0, 1, testkit.SFlowInterfaceCounters{IfIndex: 3}.Record()),
		testkit.SFlowStructure(5, sfWordsRaw(1, 2)))
	d := NewDecoder(Config{Now: sflowTestNow})
	withWatchdog(t, fuzzTimeout, func() {
		for n := 0; n < len(full); n++ {
			p, err := d.Decode(testExporter, full[:n])
			require.Error(t, err, "cut at %d", n)
			require.NoError(t, checkDecoded(full[:n], p, err), "cut at %d", n)
		}
	})
}
