package netflow

// Hostile input: fixed-format headers whose counts the data cannot back,
// trailing bytes, every malformed fixture; the shared checks of the v9
// (hostile_v9_test.go) and IPFIX (hostile_ipfix_test.go) tests.

import (
	"bytes"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hostileTimeout bounds every decode of a hostile input: a hang fails.
const hostileTimeout = 2 * time.Second

// requireDecodeError asserts that err matches want and that the first
// *DecodeError in it has the version and offset given.
func requireDecodeError(t *testing.T, err error, want error, version uint16, offset int) {
	t.Helper()
	require.Error(t, err)
	require.ErrorIs(t, err, want)
	var de *DecodeError
	require.True(t, errors.As(err, &de), "no *DecodeError in %v", err)
	// With several problems joined, look for the one of the wanted kind.
	if !errors.Is(de, want) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				if errors.As(e, &de) && errors.Is(de, want) {
					break
				}
			}
		}
	}
	require.ErrorIs(t, de, want)
	require.Equal(t, version, de.Version, "version in %v", de)
	require.Equal(t, offset, de.Offset, "offset in %v", de)
	require.NotEmpty(t, de.What)
	require.Contains(t, de.Error(), "netflow: ")
}

// decodeGuarded decodes data with d under the watchdog.
func decodeGuarded(t *testing.T, d *Decoder, data []byte) (p Packet, err error) {
	t.Helper()
	withWatchdog(t, hostileTimeout, func() { p, err = d.Decode(testExporter, data) })
	return p, err
}

func TestHostileFixedFormat(t *testing.T) {
	v5Claim := func(count uint16, records int, extra int) []byte {
		b := buildV5(records)
		be.PutUint16(b[2:], count)
		return append(b, make([]byte, extra)...)
	}
	setCount := func(b []byte, n uint16) []byte { be.PutUint16(b[2:], n); return b }
	cases := []struct {
		name    string
		data    []byte
		want    error
		version uint16
		offset  int
	}{
		{"empty", nil, ErrTruncated, 0, 0},
		{"one byte", []byte{0}, ErrTruncated, 0, 1},
		{"v1 version only", []byte{0, 1}, ErrTruncated, 1, 2},
		{"v1 short header", buildV1(1)[:15], ErrTruncated, 1, 15},
		{"v5 short header", buildV5(1)[:23], ErrTruncated, 5, 23},
		{"v6 short header", buildV6(1)[:12], ErrTruncated, 6, 12},
		{"v7 short header", buildV7(1)[:4], ErrTruncated, 7, 4},
		{"v9 short header", buildV9(1)[:19], ErrTruncated, 9, 19},
		{"ipfix short header", buildIPFIX(1)[:15], ErrTruncated, 10, 15},
		{"v1 count 0", setCount(buildV1(1), 0), ErrEmpty, 1, 2},
		{"v5 count 0", setCount(buildV5(1), 0), ErrEmpty, 5, 2},
		{"v6 count 0", setCount(buildV6(0), 0), ErrEmpty, 6, 2},
		{"v7 count 0", setCount(buildV7(2), 0), ErrEmpty, 7, 2},
		{"v5 65535 records in 24 bytes", v5Claim(65535, 0, 0), ErrTruncated, 5, 24},
		{"v5 3 records in 2.98", v5Claim(3, 2, 47), ErrTruncated, 5, 24 + 2*48},
		{"v1 2 records in 1", setCount(buildV1(1), 2), ErrTruncated, 1, 16 + 48},
		{"v6 5 records in 4", setCount(buildV6(4), 5), ErrTruncated, 6, 24 + 4*52},
		{"v5 records labelled v6", append([]byte{0, 6}, buildV5(2)[2:]...), ErrTruncated, 6, 24 + 52},
		{"v7 2 records in 1", setCount(buildV7(1), 2), ErrTruncated, 7, 24 + 52},
		{"v7 record one byte short", buildV7(1)[:24+51], ErrTruncated, 7, 24},
		{"version 0", []byte{0, 0, 0, 1}, ErrUnsupportedVersion, 0, 0},
		{"version 8", append([]byte{0, 8}, buildV5(1)[2:]...), ErrUnsupportedVersion, 8, 0},
		{"version 11", []byte{0, 11}, ErrUnsupportedVersion, 11, 0},
		{"version 0xffff", []byte{0xff, 0xff, 1, 2, 3}, ErrUnsupportedVersion, 0xffff, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			p, err := decodeGuarded(t, d, c.data)
			requireDecodeError(t, err, c.want, c.version, c.offset)
			require.Nil(t, p, "a header error gives no packet")
			// DecodeInto with a warm buffer must not return stale records.
			var buf Buffer
			_, err = d.DecodeInto(&buf, testExporter, buildV5(30))
			require.NoError(t, err)
			_, err = d.DecodeInto(&buf, testExporter, buildV6(30))
			require.NoError(t, err)
			p, err = d.DecodeInto(&buf, testExporter, c.data)
			require.ErrorIs(t, err, c.want)
			require.Nil(t, p)
		})
	}
}

// TestHostileCountNoAllocation: a 24-byte v5 header claiming 65535 records
// must not allocate for them (a popular decoder allocates 3 MB).
func TestHostileCountNoAllocation(t *testing.T) {
	hostile := buildV5(0)
	be.PutUint16(hostile[2:], 65535)
	honest := buildV5(0)
	be.PutUint16(honest[2:], 1)
	d := NewDecoder(Config{})
	var buf Buffer
	measure := func(data []byte) (allocs float64, bytes uint64) {
		var before, after runtime.MemStats
		const runs = 200
		runtime.GC()
		runtime.ReadMemStats(&before)
		allocs = testing.AllocsPerRun(runs, func() {
			p, err := d.DecodeInto(&buf, testExporter, data)
			if p != nil || !errors.Is(err, ErrTruncated) {
				panic("want nil packet and ErrTruncated")
			}
		})
		runtime.ReadMemStats(&after)
		return allocs, (after.TotalAlloc - before.TotalAlloc) / (runs + 1)
	}
	hAllocs, hBytes := measure(hostile)
	oAllocs, oBytes := measure(honest)
	t.Logf("65535-record claim: %.0f allocs, %d B per decode; 1-record claim: %.0f allocs, %d B", hAllocs, hBytes, oAllocs, oBytes)
	// Only the error value itself may allocate, the same for both claims.
	require.LessOrEqual(t, hAllocs, 4.0)
	require.Equal(t, oAllocs, hAllocs)
	require.Less(t, hBytes, uint64(512), "bytes per decode")
	// The reusable buffer did not grow for the claim either.
	require.Zero(t, cap(buf.v5.Records))
}

func TestHostileTrailingBytes(t *testing.T) {
	for _, data := range [][]byte{buildV1(2), buildV5(2), buildV6(2), buildV7(2)} {
		for _, extra := range [][]byte{{0}, {1, 2, 3}, bytes.Repeat([]byte{0xff}, 47), make([]byte, 200)} {
			p, err := Decode(testExporter, append(append([]byte(nil), data...), extra...), nil)
			require.NoError(t, err)
			require.Equal(t, 2, p.FlowCount())
			want, _ := Decode(testExporter, data, nil)
			require.Equal(t, want.AppendFlows(nil), p.AppendFlows(nil))
		}
	}
	// An IPFIX message inside a longer buffer: the bytes after its length
	// are not read.
	msg := buildIPFIX(2)
	p, err := Decode(testExporter, append(append([]byte(nil), msg...), 0xde, 0xad, 0xbe, 0xef, 9), nil)
	require.NoError(t, err)
	require.Equal(t, 2, p.FlowCount())
}

// goodV9Template defines template 300 (src, dst, proto, bytes) and
// goodV9Data holds two records of it: the valid part of every hostile v9
// datagram, which must decode whatever the bad part does.
var (
	goodFields    = []tmplField{{8, 4, 0}, {12, 4, 0}, {4, 1, 0}, {1, 4, 0}}
	goodV9Tmpl    = set(0, templateRecord(300, goodFields...), false)
	goodV9Data    = set(300, flowRecords(goodFields, 2), true)
	goodIPFIXTmpl = set(2, templateRecord(300, goodFields...), false)
	goodIPFIXData = set(300, flowRecords(goodFields, 2), false)
)

// requireGoodFlows checks that p holds the two records of goodV9Data (or
// goodIPFIXData), in order, among total flows.
func requireGoodFlows(t *testing.T, p Packet, total int) {
	t.Helper()
	require.NotNil(t, p)
	flows := p.AppendFlows(nil)
	require.Len(t, flows, total)
	require.Equal(t, total, p.FlowCount())
	found := 0
	for _, f := range flows {
		tf := testFlowN(found)
		if f.Known.Has(FieldSrcAddr|FieldDstAddr|FieldProto|FieldBytes) && tf.Src == f.SrcAddr &&
			tf.Dst == f.DstAddr && tf.Proto == f.Proto && uint64(tf.Octets) == f.Bytes {
			found++
			if found == 2 {
				return
			}
		}
	}
	require.Failf(t, "valid data lost", "the valid data set's 2 flows not among %+v", flows)
}

func TestHostileFixtures(t *testing.T) {
	for _, name := range []string{"netflow5_test_invalid01.dat", "netflow5_test_invalid02.dat"} {
		t.Run(name, func(t *testing.T) {
			data := fixturePayloads(t, "testdata/logstash-codec-netflow/"+name)
			require.Len(t, data, 1)
			require.Len(t, data[0], 1464)
			p, err := decodeGuarded(t, NewDecoder(Config{}), data[0])
			requireDecodeError(t, err, ErrTruncated, 5, 24+30*48)
			require.Nil(t, p)
			flows, err := NewDecoder(Config{}).DecodeFlows(nil, nil, testExporter, data[0])
			require.ErrorIs(t, err, ErrTruncated)
			require.Empty(t, flows)
		})
	}
}
