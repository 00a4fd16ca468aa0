package netflow

import (
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// seqMessages splits a raw file of messages back to back.
func seqMessages(t *testing.T, data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		msg, rest, err := SplitMessage(data)
		require.NoError(t, err)
		out = append(out, msg)
		data = rest
	}
	return out
}

// seqTCPMessages returns the IPFIX messages of a capture of one IPFIX over
// TCP session: the payloads of the segments to port 4739 (or any port the
// data goes to), in order, split into messages.
func seqTCPMessages(t *testing.T, path string) [][]byte {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	var stream []byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if tcp, ok := gopacket.NewPacket(data, r.LinkType(), gopacket.Default).Layer(layers.LayerTypeTCP).(*layers.TCP); ok && len(tcp.Payload) > 0 {
			stream = append(stream, tcp.Payload...)
		}
	}
	return seqMessages(t, stream)
}

// seqOf returns the one SequenceStats of a decoder.
func seqOf(t *testing.T, d *Decoder) SequenceStats {
	t.Helper()
	s := d.Stats().Sequences
	require.Len(t, s, 1)
	return s[0]
}

func decodeAll(t *testing.T, d *Decoder, msgs [][]byte) {
	t.Helper()
	for _, m := range msgs {
		_, err := d.Decode(testExporter, m)
		require.NoError(t, err)
	}
}

// without returns msgs without the indexes drop.
func without(msgs [][]byte, drop ...int) [][]byte {
	var out [][]byte
	for i, m := range msgs {
		if !slices.Contains(drop, i) {
			out = append(out, m)
		}
	}
	return out
}

// TestSequenceLossV5: logstash's netflow5.dat, 12 v5 datagrams whose
// flow_sequence counts flows (tshark: 0/2, 2/4, 6/4, ...). Dropping
// datagrams 3 and 7 loses their records, 4 + 2 flows by their headers'
// counts; swapping two is late, not lost; the capture sent again from
// sequence 0 is a restart.
func TestSequenceLossV5(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "logstash-codec-netflow", "netflow5.dat"))
	require.NoError(t, err)
	msgs := seqMessages(t, data)
	require.Len(t, msgs, 12)
	count := func(m []byte) uint64 { return uint64(binary.BigEndian.Uint16(m[2:])) }

	for _, fast := range []bool{false, true} {
		decode := func(d *Decoder, ms [][]byte) {
			if !fast {
				decodeAll(t, d, ms)
				return
			}
			for _, m := range ms {
				_, err := d.DecodeFlows(nil, nil, testExporter, m)
				require.NoError(t, err)
			}
		}
		d := NewDecoder(Config{})
		decode(d, msgs)
		require.Equal(t, SequenceStats{Exporter: testExporter, Version: 5, Messages: 12}, seqOf(t, d))

		d = NewDecoder(Config{})
		decode(d, without(msgs, 3, 7))
		s := seqOf(t, d)
		require.Equal(t, count(msgs[3])+count(msgs[7]), s.Lost)
		require.Equal(t, uint64(6), s.Lost)
		require.Equal(t, uint64(10), s.Messages)
		require.Zero(t, s.Late+s.Restarts+s.Duplicates)

		d = NewDecoder(Config{})
		swapped := slices.Clone(msgs)
		swapped[5], swapped[6] = swapped[6], swapped[5]
		decode(d, swapped)
		s = seqOf(t, d)
		require.Equal(t, uint64(1), s.Late)
		require.Zero(t, s.Lost+s.Restarts+s.Duplicates)

		d = NewDecoder(Config{})
		decode(d, msgs)
		decode(d, without(msgs, 4))
		s = seqOf(t, d)
		require.Equal(t, uint64(1), s.Restarts)
		require.Equal(t, count(msgs[4]), s.Lost)
		require.Zero(t, s.Late+s.Duplicates)

		// The uptime going back by more than a minute is a restart too,
		// whatever the sequence says.
		d = NewDecoder(Config{})
		decode(d, msgs)
		reboot := slices.Clone(msgs[11])
		binary.BigEndian.PutUint32(reboot[4:], 0)   // sysUptime 0, 64 s before the last
		binary.BigEndian.PutUint32(reboot[16:], 30) // the next sequence number
		decode(d, [][]byte{reboot})
		s = seqOf(t, d)
		require.Equal(t, uint64(1), s.Restarts)
		require.Zero(t, s.Lost+s.Late+s.Duplicates)

		// A datagram seen twice is a duplicate.
		d = NewDecoder(Config{})
		decode(d, append(slices.Clone(msgs[:6]), msgs[4]))
		s = seqOf(t, d)
		require.Equal(t, uint64(1), s.Duplicates)
		require.Zero(t, s.Lost+s.Late+s.Restarts)
	}
}

// TestSequenceLossIPFIX: the IPFIX messages softflowd sent over TCP
// (testdata/softflowd/softflowd_v10_tcp.pcap), whose sequence numbers count
// data records. Dropping messages loses what their headers say: the
// sequence number of the next message kept minus theirs.
func TestSequenceLossIPFIX(t *testing.T) {
	msgs := seqTCPMessages(t, filepath.Join("testdata", "softflowd", "softflowd_v10_tcp.pcap"))
	require.Greater(t, len(msgs), 10)
	seq := func(i int) uint64 { return uint64(binary.BigEndian.Uint32(msgs[i][8:])) }

	d := NewDecoder(Config{})
	decodeAll(t, d, msgs)
	s := seqOf(t, d)
	require.Equal(t, SequenceStats{Exporter: testExporter, Version: 10, Domain: s.Domain, Messages: uint64(len(msgs))}, s)

	d = NewDecoder(Config{})
	decodeAll(t, d, without(msgs, 4, 5, 9))
	s = seqOf(t, d)
	require.Equal(t, (seq(6)-seq(4))+(seq(10)-seq(9)), s.Lost)
	require.Positive(t, s.Lost)
	require.Zero(t, s.Late+s.Restarts+s.Duplicates)

	d = NewDecoder(Config{})
	late := without(msgs, 5)
	late = append(late[:8], append([][]byte{msgs[5]}, late[8:]...)...)
	decodeAll(t, d, late)
	s = seqOf(t, d)
	require.Equal(t, uint64(1), s.Late)
	require.Zero(t, s.Lost+s.Restarts+s.Duplicates)

	// softflowd restarted: the session again from sequence 0.
	d = NewDecoder(Config{})
	decodeAll(t, d, msgs)
	decodeAll(t, d, msgs)
	s = seqOf(t, d)
	require.Equal(t, uint64(1), s.Restarts)
	require.Zero(t, s.Lost+s.Late+s.Duplicates)
}

// v9Seq builds a v9 datagram with a data set of template 256 (one 4-byte
// octet count) and, if tpl, the template first.
func v9Seq(seq, uptime uint32, tpl bool) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint16(b, 9)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, uptime)
	b = binary.BigEndian.AppendUint32(b, 1700000000)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, 42)
	if tpl {
		b = append(b, 0, 0, 0, 12, 1, 0, 0, 1, 0, 1, 0, 4)
	}
	return append(b, 1, 0, 0, 8, 0, 0, 0, 99)
}

// TestSequenceLossV9: v9 counts datagrams (RFC 3954 section 5.1).
func TestSequenceLossV9(t *testing.T) {
	d := NewDecoder(Config{})
	decodeAll(t, d, [][]byte{v9Seq(100, 5000, true), v9Seq(101, 6000, false), v9Seq(104, 7000, false),
		v9Seq(102, 6500, false), v9Seq(105, 8000, false)})
	s := seqOf(t, d)
	require.Equal(t, SequenceStats{Exporter: testExporter, Version: 9, Domain: 42, Messages: 5, Lost: 1, Late: 1}, s)

	// Rebooted: uptime and sequence start again.
	decodeAll(t, d, [][]byte{v9Seq(0, 100, true), v9Seq(1, 200, false)})
	s = seqOf(t, d)
	require.Equal(t, uint64(1), s.Restarts)
	require.Equal(t, uint64(1), s.Lost)
}

// TestSequenceDomainsBounded: at Limits.MaxSequenceDomains a new domain
// takes the place of the one longest on probation (one message seen);
// Sweep reclaims idle ones; the tracker allocates nothing per datagram
// once warm and is safe for concurrent use.
func TestSequenceDomainsBounded(t *testing.T) {
	now := time.Unix(1700000000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	d := NewDecoder(Config{Limits: Limits{MaxSequenceDomains: 2, StateIdle: time.Minute}, Now: clock})
	for i := range 3 {
		_, err := d.Decode(netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, byte(i + 1)}), 2055), v9Seq(1, 1000, true))
		require.NoError(t, err)
	}
	st := d.Stats()
	require.Len(t, st.Sequences, 2)
	require.Zero(t, st.SequenceDomainsRefused)
	require.Equal(t, uint64(1), st.SequenceDomainsEvicted)
	require.Equal(t, netip.AddrFrom4([4]byte{127, 0, 0, 2}), st.Sequences[0].Exporter.Addr(), "the first made room")
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	d.Sweep()
	st = d.Stats()
	require.Empty(t, st.Sequences)
	require.Equal(t, uint64(2), st.SequenceDomainsReclaimed)

	var buf Buffer
	_, err := d.DecodeInto(&buf, testExporter, v9Seq(6, 1000, true))
	require.NoError(t, err)
	msg := v9Seq(7, 1000, false)
	_, err = d.DecodeInto(&buf, testExporter, msg)
	require.NoError(t, err)
	seq := uint32(8)
	allocs := testing.AllocsPerRun(100, func() {
		binary.BigEndian.PutUint32(msg[12:], seq)
		seq++
		if _, err := d.DecodeInto(&buf, testExporter, msg); err != nil {
			panic(err)
		}
	})
	require.Zero(t, allocs)

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				_, _ = d.Decode(testExporter, v9Seq(uint32(1000+g*200+i), 2000, false))
				_ = d.Stats()
			}
		}()
	}
	wg.Wait()
	require.Equal(t, uint64(103+800), seqOf(t, d).Messages) // AllocsPerRun calls once more
}
