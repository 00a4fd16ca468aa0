package netflow

// Framing of messages stored back to back: SplitMessage (every version) and
// MessageReader (IPFIX streams, RFC 5655 files and RFC 7011 section 10 TCP).

import (
	"bytes"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMessageReader splits RFC 5655-style streams: softflowd's three
// messages of ipfix.dat (lengths from their headers), an empty 16-byte
// message, a message larger than any UDP datagram over Ethernet, and the
// errors at a cut or a foreign header.
func TestMessageReader(t *testing.T) {
	data, err := os.ReadFile("testdata/logstash-codec-netflow/ipfix.dat")
	require.NoError(t, err)
	var lengths []int
	r := NewMessageReader(bytes.NewReader(data))
	for {
		m, err := r.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		require.EqualValues(t, 10, be.Uint16(m))
		lengths = append(lengths, len(m))
	}
	// ipfix.dat is 788 bytes: three messages whose length fields add up.
	require.Len(t, lengths, 3)
	require.Equal(t, len(data), lengths[0]+lengths[1]+lengths[2])

	empty := ipfixMessage(7, 1)
	require.Len(t, empty, 16)
	// One data set of 9000 bytes: larger than a 1500-byte MTU allows.
	big := ipfixMessage(7, 2, set(256, make([]byte, 9000), false))
	stream := append(append(append([]byte(nil), empty...), big...), empty...)
	r = NewMessageReader(bytes.NewReader(stream))
	for _, want := range [][]byte{empty, big, empty} {
		m, err := r.Next()
		require.NoError(t, err)
		require.Equal(t, want, m)
	}
	_, err = r.Next()
	require.Equal(t, io.EOF, err)

	_, err = NewMessageReader(bytes.NewReader(big[:5000])).Next()
	require.ErrorIs(t, err, ErrTruncated)
	_, err = NewMessageReader(bytes.NewReader(buildV9Template())).Next()
	require.ErrorIs(t, err, ErrMalformed)
	short := append([]byte(nil), empty...)
	be.PutUint16(short[2:], 8)
	_, err = NewMessageReader(bytes.NewReader(short)).Next()
	require.ErrorIs(t, err, ErrMalformed)

	// The decoder takes the empty message: no sets, no error.
	p, err := NewDecoder(Config{}).Decode(testExporter, empty)
	require.NoError(t, err)
	require.Zero(t, p.FlowCount())
}

// TestSplitMessage frames each version as its header says: v1 16 + 48n
// bytes, v5 24 + 48n, v6 and v7 24 + 52n (n the header's count), IPFIX by
// its length field (RFC 7011 section 3.1), v9 by walking its flowsets (RFC
// 3954 section 5: the header has no length) up to the next v9 header.
func TestSplitMessage(t *testing.T) {
	v9Tmpl, v9Data := buildV9Template(), buildV9Data(2)
	cases := []struct {
		name  string
		first []byte
		next  []byte
	}{
		{"v1", buildV1(3), buildV5(1)},
		{"v5", buildV5(2), buildV1(1)},
		{"v6", buildV6(2), buildV7(1)},
		{"v7", buildV7(3), buildIPFIX(1)},
		{"ipfix", buildIPFIX(2), buildV5(2)},
		{"ipfix empty", ipfixMessage(1, 0), buildIPFIX(1)},
		{"v9 before v9", v9Tmpl, v9Data},
		{"v9 last", v9Data, nil},
	}
	wantLen := map[string]int{"v1": 16 + 48*3, "v5": 24 + 48*2, "v6": 24 + 52*2, "v7": 24 + 52*3, "ipfix empty": 16}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := append(append([]byte(nil), c.first...), c.next...)
			msg, rest, err := SplitMessage(data)
			require.NoError(t, err)
			assert.Equal(t, c.first, msg)
			if c.next == nil {
				assert.Empty(t, rest)
			} else {
				assert.Equal(t, c.next, rest)
			}
			if n, ok := wantLen[c.name]; ok {
				assert.Len(t, msg, n)
			}
			// msg is capped at its length: appending to it cannot
			// overwrite the next message.
			assert.Equal(t, len(msg), cap(msg))
		})
	}

	// A v9 packet followed by zero fill keeps the fill (exporters pad
	// datagrams); a flowset length below 4 ends the walk there.
	padded := append(append([]byte(nil), v9Data...), make([]byte, 12)...)
	msg, rest, err := SplitMessage(padded)
	require.NoError(t, err)
	assert.Equal(t, padded, msg)
	assert.Empty(t, rest)
	bad := append(append([]byte(nil), v9Tmpl...), 1, 0, 0, 2, 0xff, 0xff, 0xff, 0xff)
	msg, rest, err = SplitMessage(bad)
	require.NoError(t, err)
	assert.Equal(t, v9Tmpl, msg)
	assert.Equal(t, bad[len(v9Tmpl):], rest)
}

// TestSplitMessageErrors: every frame that the data cannot back is an error
// errors.Is can match, with no message returned.
func TestSplitMessageErrors(t *testing.T) {
	shortIPFIX := buildIPFIX(1)
	be.PutUint16(shortIPFIX[2:], 15) // below the 16-byte header
	longIPFIX := buildIPFIX(1)
	be.PutUint16(longIPFIX[2:], uint16(len(longIPFIX)+1))
	v5 := buildV5(2)
	be.PutUint16(v5[2:], 3) // a third record the data lacks
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrTruncated},
		{"three bytes", []byte{0, 10, 0}, ErrTruncated},
		{"version 3", []byte{0, 3, 0, 1, 0, 0, 0, 0}, ErrUnsupportedVersion},
		{"ipfix length below header", shortIPFIX, ErrMalformed},
		{"ipfix length beyond data", longIPFIX, ErrTruncated},
		{"v5 count beyond data", v5, ErrTruncated},
		{"v1 header cut", buildV1(1)[:10], ErrTruncated},
	} {
		t.Run(c.name, func(t *testing.T) {
			msg, rest, err := SplitMessage(c.data)
			require.ErrorIs(t, err, c.want)
			assert.Nil(t, msg)
			assert.Nil(t, rest)
		})
	}
}
