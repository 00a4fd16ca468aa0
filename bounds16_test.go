package netflow

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 16 items 7 and 8: what one call releases is bounded, buffers give
// back outsized capacity, and times that cannot be right are not known.

// TestReleaseBounded is the repro: a 32-byte template datagram
// releases 246 held sets of 1-byte records. One call gives at most
// maxReleaseRecords records (and the set that crosses it); the rest comes
// with the exporter's next datagrams, in order, until nothing is held.
func TestReleaseBounded(t *testing.T) {
	// 246 sets of 4,000 bytes are more than the default 1 MiB per exporter
	// holds, as bytes are counted in memory (issue 20).
	d := NewDecoder(Config{Pending: PendingLimits{MaxBytesPerExporter: 2 << 20}})
	one := []tmplField{{4, 1, 0}} // protocolIdentifier, 1 byte
	body := make([]byte, 4000)
	held := 0
	for d.Stats().Pending.Held < 246 {
		_, err := d.Decode(heldExporter(1), ipfixMessage(1, 0, set(256, body, false)))
		require.NoError(t, err)
		held++
	}
	tmpl := ipfixMessage(1, 0, set(2, templateRecord(256, one...), false))
	require.Len(t, tmpl, 28)
	var buf Buffer
	total, calls := 0, 0
	for d.Stats().Pending.Held > 0 {
		p, err := d.DecodeInto(&buf, heldExporter(1), tmpl)
		require.NoError(t, err)
		n := p.FlowCount()
		require.LessOrEqual(t, n, maxReleaseRecords+len(body))
		total += n
		calls++
		require.Less(t, calls, 100)
	}
	require.Equal(t, 246*len(body), total)
	require.Greater(t, calls, 1)

	// After the outsized messages, a small one gives the capacity back.
	_, err := d.DecodeInto(&buf, heldExporter(1), ipfixMessage(1, 0, set(2, templateRecord(256, one...), false), set(256, []byte{6, 17}, false)))
	require.NoError(t, err)
	_, err = d.DecodeInto(&buf, heldExporter(1), ipfixMessage(1, 0, set(256, []byte{6}, false)))
	require.NoError(t, err)
	require.LessOrEqual(t, cap(buf.v10.records), retainLimit)
}

// TestTimesOutOfRange: the values each leave their Known bit clear,
// and Value.Time agrees with the Flow.
func TestTimesOutOfRange(t *testing.T) {
	export := uint32(1_700_000_000)
	cases := []struct {
		name   string
		field  tmplField
		value  uint64
		start  bool // the value is the start (else the end)
		record bool // Value.Time of the field is checked too
	}{
		{"flowEndDeltaMicroseconds 2^62", tmplField{159, 8, 0}, 1 << 62, false, false},
		{"flowStartDeltaMicroseconds 2^64-1", tmplField{158, 8, 0}, 1<<64 - 1, true, false},
		{"flowEndMilliseconds 2^63", tmplField{153, 8, 0}, 1 << 63, false, true},
		{"flowStartSeconds 2^40", tmplField{150, 8, 0}, 1 << 40, true, true},
		{"flowEndMicroseconds before 1970", tmplField{155, 8, 0}, 1 << 32, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := NewDecoder(Config{})
			fields := []tmplField{{8, 4, 0}, c.field}
			rec := append([]byte{10, 0, 0, 1}, uintBytes(c.value, 8)...)
			msg := ipfixMessage(1, 0, set(2, templateRecord(256, fields...), false), set(256, rec, false))
			binary.BigEndian.PutUint32(msg[4:], export)
			for _, flowsOnly := range []bool{false, true} {
				var flows []Flow
				if flowsOnly {
					var err error
					flows, err = d.DecodeFlows(nil, nil, heldExporter(1), msg)
					require.NoError(t, err)
				} else {
					p, err := d.Decode(heldExporter(1), msg)
					require.NoError(t, err)
					flows = p.AppendFlows(nil)
					if c.record {
						v, ok := p.(*IPFIXPacket).DataSets[0].Records[0].Lookup(c.field.id)
						require.True(t, ok)
						_, ok = v.Time()
						require.False(t, ok, "Value.Time of %d", c.value)
					}
				}
				require.Len(t, flows, 1)
				bit := FieldEnd
				if c.start {
					bit = FieldStart
				}
				require.False(t, flows[0].Known.Has(bit), "%v", flows[0])
			}
		})
	}
	t.Run("systemInitTimeMilliseconds 2^61", func(t *testing.T) {
		d := NewDecoder(Config{})
		fields := []tmplField{{8, 4, 0}, {160, 8, 0}, {22, 4, 0}, {21, 4, 0}}
		rec := append(append(append([]byte{10, 0, 0, 1}, uintBytes(1<<61, 8)...), uintBytes(1000, 4)...), uintBytes(2000, 4)...)
		flows := decodeFlowsOf(t, d, heldExporter(1), ipfixMessage(1, 0, set(2, templateRecord(256, fields...), false), set(256, rec, false)))
		require.False(t, flows[0].Known.Has(FieldStart))
		require.False(t, flows[0].Known.Has(FieldEnd))
	})
	t.Run("v5 unix_nsecs 0xffffffff", func(t *testing.T) {
		// One v5 record; the export time is taken as the whole second.
		b := make([]byte, 24+48)
		binary.BigEndian.PutUint16(b, 5)
		binary.BigEndian.PutUint16(b[2:], 1)
		binary.BigEndian.PutUint32(b[4:], 10_000) // uptime
		binary.BigEndian.PutUint32(b[8:], export)
		binary.BigEndian.PutUint32(b[12:], 0xffffffff)
		binary.BigEndian.PutUint32(b[24+28:], 10_000) // last = uptime at export
		d := NewDecoder(Config{})
		p, err := d.Decode(heldExporter(1), b)
		require.NoError(t, err)
		require.Equal(t, time.Unix(int64(export), 0).UTC(), p.(*V5Packet).Header.ExportTime())
		flows, err := d.DecodeFlows(nil, nil, heldExporter(1), b)
		require.NoError(t, err)
		require.Equal(t, time.Unix(int64(export), 0).UTC(), flows[0].End)
		require.Equal(t, flows, p.AppendFlows(nil))
	})
}
