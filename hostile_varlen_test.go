package netflow

import (
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// TestHostileLongVarRecordNoAllocation: one variable-length record of
// 60,000 bytes, of a template whose records may be as short as 1 byte,
// costs a cold Buffer room for a few records, not for the 60,000 that
// many 1-byte records would be (2.9 MB).
func TestHostileLongVarRecordNoAllocation(t *testing.T) {
	d := NewDecoder(Config{})
	_, err := d.Decode(testExporter, testkit.IPFIXMessage(7, 0, testkit.IPFIXTemplateSet(400, [2]uint16{82, 0xffff})))
	require.NoError(t, err)
	const valueLen = 60000
	rec := make([]byte, 3+valueLen)
	rec[0] = 255
	binary.BigEndian.PutUint16(rec[1:], valueLen)
	msg := testkit.IPFIXMessage(7, 0, testkit.IPFIXDataSet(400, rec))
	const runs = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		var buf Buffer
		p, err := d.DecodeInto(&buf, testExporter, msg)
		require.NoError(t, err)
		require.Equal(t, 1, p.FlowCount())
		ipfix := p.(*IPFIXPacket)
		require.Len(t, ipfix.DataSets[0].Records, 1)
		v, ok := ipfix.DataSets[0].Records[0].Lookup(82)
		require.True(t, ok)
		require.Len(t, v.Raw, valueLen)
	}
	runtime.ReadMemStats(&after)
	perDecode := (after.TotalAlloc - before.TotalAlloc) / runs
	t.Logf("one %d-byte record: %d B allocated per cold decode", valueLen, perDecode)
	require.Less(t, perDecode, uint64(64<<10))
}

// TestHeldVarLenOverrunReportedInRange: a set held for its template, whose
// last variable-length record runs past the set, fails when the template
// releases it from a later, shorter datagram. The error's offset must be
// one of that datagram (0: the set is not in it), not the record's
// offset in the earlier one, which would index past the datagram.
func TestHeldVarLenOverrunReportedInRange(t *testing.T) {
	d := NewDecoder(Config{})
	body := make([]byte, 300)
	for i := range body {
		body[i] = 1 // records of 1-byte values, then the one that overruns
	}
	body[290], body[291], body[292] = 255, 0x03, 0xe8 // a 1,000-byte value in 10 bytes
	_, err := d.Decode(testExporter, testkit.IPFIXMessage(7, 0, testkit.IPFIXDataSet(400, body)))
	require.NoError(t, err, "the set is held until its template comes")
	msg := testkit.IPFIXMessage(7, 1, testkit.IPFIXTemplateSet(400, [2]uint16{82, 0xffff}))
	require.Less(t, len(msg), 290)
	p, err := d.Decode(testExporter, msg)
	require.ErrorIs(t, err, ErrTruncated)
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	require.GreaterOrEqual(t, de.Offset, 0)
	require.LessOrEqual(t, de.Offset, len(msg), "offset %d of a %d-byte datagram: %v", de.Offset, len(msg), err)
	require.Contains(t, de.What, "held data set")
	require.NotNil(t, p)
	require.Equal(t, 145, p.FlowCount(), "the records before the bad one are kept")
}
