package main

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow"
)

// countingSink checks each message as it comes and adds up their bytes.
type countingSink struct {
	t        *testing.T
	bytes    int64
	messages int
	lastOff  int64
}

func (c *countingSink) message(off int64, msg []byte) {
	if len(msg) < 16 || binary.BigEndian.Uint16(msg) != 10 || int(binary.BigEndian.Uint16(msg[2:])) != len(msg) {
		require.Failf(c.t, "not one whole IPFIX message", "message at %d: % x", off, msg[:min(len(msg), 16)])
	}
	if off < c.lastOff {
		require.Failf(c.t, "messages out of order", "message at %d after one at %d", off, c.lastOff)
	}
	c.lastOff = off + int64(len(msg))
	c.bytes += int64(len(msg))
	c.messages++
}

func (c *countingSink) resynced(at, skipped, missing int64) {
	if skipped < 0 || missing < 0 || at < skipped {
		require.Failf(c.t, "bad resync", "resynced at %d after %d skipped, %d missing", at, skipped, missing)
	}
}

// FuzzIPFIXStream feeds a stream in pieces, with gaps, synced or not, to
// the IPFIX port or not. Every byte is accounted for: framed in a message,
// skipped, or missing; an error matches ErrMalformed or ErrTruncated.
func FuzzIPFIXStream(f *testing.F) {
	msg := []byte{0, 10, 0, 24, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 8, 1, 2, 3, 4}
	f.Add(append(append([]byte{}, msg...), msg...), uint8(3), uint16(0), true, false)
	f.Add(append([]byte{9, 9, 9}, msg...), uint8(7), uint16(5), false, true)
	f.Add([]byte{0, 10, 0, 0}, uint8(1), uint16(0), true, true)
	f.Add([]byte{0, 10, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, uint8(2), uint16(0), true, false)
	f.Fuzz(func(t *testing.T, data []byte, pieces uint8, gapAt uint16, synced, byPort bool) {
		sink := &countingSink{t: t}
		s := newIPFIXStream(sink, synced, byPort)
		step := max(1, len(data)/(int(pieces)%16+1))
		var written int64
		for off := 0; off < len(data); off += step {
			if gapAt != 0 && off == int(gapAt)%max(1, len(data)) {
				s.gap(int(gapAt % 97))
			}
			p := data[off:min(off+step, len(data))]
			s.write(p)
			written += int64(len(p))
		}
		err := s.close()
		switch {
		case err == nil:
			require.Equal(t, written, sink.bytes+s.skipped, "bytes written: %d in messages + %d skipped", sink.bytes, s.skipped)
		case errors.Is(err, errNotIPFIX):
			require.Zero(t, sink.messages, "not IPFIX after messages")
		case !errors.Is(err, netflow.ErrMalformed) && !errors.Is(err, netflow.ErrTruncated):
			require.Failf(t, "error matches no sentinel", "%v", err)
		}
		require.Equal(t, s.messages, sink.messages, "messages seen, counted")
	})
}
