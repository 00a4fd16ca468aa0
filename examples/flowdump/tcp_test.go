package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/testkit"

	"github.com/flowkit/netflow"
	"github.com/google/gopacket"
	"github.com/stretchr/testify/require"
)

// tcpCapture is softflowd 1.1.0's IPFIX export over TCP to 127.0.0.1:39739
// (scripts/capture_softflowd_tcp.sh); tcpExpected is tshark's decode of it.
const (
	tcpCapture  = td + "softflowd/softflowd_v10_tcp.pcap"
	tcpExpected = "softflowd_v10_tcp.json"
)

// sysInitTime is the time IPFIX uptimes count from, from the options record
// as tshark shows it.
func sysInitTime(t *testing.T) func(fields map[string]string) time.Time {
	return func(fields map[string]string) time.Time {
		s := fields["cflow.sys_init_time"]
		tm, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", s)
		require.NoError(t, err, "tshark sys_init_time %q", s)
		return tm
	}
}

// tshark's decode of the TCP capture: 14 messages, 411 flows and the
// options record (testdata/expected/softflowd_v10_tcp.json).
func tcpTshark(t *testing.T) *tsharkFile {
	t.Helper()
	exp := loadTshark(t, tcpExpected)
	n := 0
	for _, d := range exp.Datagrams {
		n += len(d.Flows)
	}
	require.Len(t, exp.Datagrams, 14, "messages in tshark's decode")
	require.Equal(t, 412, n, "records in tshark's decode")
	return exp
}

// TestTCPAgainstTshark: flowdump on the real capture equals tshark's decode
// of it (tshark -d tcp.port==39739,cflow, with its own TCP reassembly), flow
// by flow, times included.
func TestTCPAgainstTshark(t *testing.T) {
	exp := tcpTshark(t)
	out, errOut, code := flowdump(t, "-json", tcpCapture)
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	objs := jsonLines(t, out)
	require.Len(t, objs, 412)
	// The exporter is the source of the SYN that opened the stream.
	var exporter string
	for _, f := range readFrames(t, tcpCapture) {
		if tcp := tcpOf(f.data); tcp != nil && tcp.SYN && !tcp.ACK {
			exporter = fmt.Sprintf("127.0.0.1:%d", tcp.SrcPort)
			break
		}
	}
	for _, o := range objs {
		require.Equal(t, exporter, o.str("exporter"))
	}
	compareWithTshark(t, objs, exp, sysInitTime(t))

	_, errOut, _ = flowdump(t, "-stats", tcpCapture)
	require.Contains(t, errOut, "datagrams: 14 (ipfix 14)")
	require.Contains(t, errOut, "tcp streams: 1 (ipfix 1, not ipfix 0, ended by an error 0); messages: 14; bytes skipped: 0; bytes missing from the capture: 0")
}

// TestTCPCaptureStructure pins what the other tests rely on: the capture's
// messages span segments and some segments start inside a message.
func TestTCPCaptureStructure(t *testing.T) {
	segs, stream := exporterSegments(t, readFrames(t, tcpCapture), 39739)
	starts := messageStarts(t, stream)
	require.Len(t, starts, 14)
	require.Equal(t, 18008, len(stream))
	inside := 0
	for _, s := range segs {
		if !slices.Contains(starts, s.off) {
			inside++
		}
	}
	require.Greater(t, len(segs), 14)
	require.Positive(t, inside, "no segment starts inside a message")
}

// TestTCPReorderedAndRetransmitted rewrites the capture: two segments
// swapped, a segment sent twice, one sent again later (a retransmission of
// delivered bytes), a retransmission that overlaps two segments, and a
// segment that arrives before the two that precede it. The flows are those
// of the capture as it was.
func TestTCPReorderedAndRetransmitted(t *testing.T) {
	want, errOut, code := flowdump(t, "-json", tcpCapture)
	require.Equal(t, 0, code)
	require.Empty(t, errOut)

	frames := readFrames(t, tcpCapture)
	segs, stream := exporterSegments(t, frames, 39739)
	require.GreaterOrEqual(t, len(segs), 12)
	isn := tcpOf(frames[segs[0].frame].data).Seq - uint32(segs[0].off)
	overlap := func(a, b dataSegment) pcapFrame {
		from, to := a.off+a.n-100, b.off+100
		f := frames[b.frame]
		data := reseq(t, f.data, isn+uint32(from), stream[from:to])
		ci := f.ci
		ci.CaptureLength, ci.Length = len(data), len(data)
		return pcapFrame{ci, data}
	}
	var out []pcapFrame
	order := map[int][]pcapFrame{ // frame index -> what is sent in its place
		segs[1].frame:  {frames[segs[2].frame], frames[segs[2].frame]}, // 2 before 1, twice
		segs[2].frame:  {frames[segs[1].frame]},
		segs[5].frame:  {frames[segs[5].frame], frames[segs[0].frame]},                         // 0 again, long delivered
		segs[7].frame:  {frames[segs[7].frame], overlap(segs[6], segs[7])},                     // across 6|7
		segs[8].frame:  {frames[segs[10].frame]},                                               // 10 first,
		segs[9].frame:  {frames[segs[8].frame]},                                                // then 8,
		segs[10].frame: {frames[segs[9].frame], frames[segs[10].frame], frames[segs[9].frame]}, // 9, 10 and 9 again
	}
	for i, f := range frames {
		if r, ok := order[i]; ok {
			out = append(out, r...)
			continue
		}
		out = append(out, f)
	}
	path := writeFrames(t, "reordered.pcap", out)
	got, errOut, code := flowdump(t, "-json", path)
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	require.Equal(t, lines(want), lines(got))
	_, errOut, _ = flowdump(t, "-stats", path)
	require.Contains(t, errOut, "messages: 14; bytes skipped: 0; bytes missing from the capture: 0")
}

// TestTCPMidStream cuts the capture so that it starts with a segment that
// begins inside a message: flowdump skips to the next message header, says
// how many bytes it skipped, and decodes every message from there.
func TestTCPMidStream(t *testing.T) {
	exp := tcpTshark(t)
	frames := readFrames(t, tcpCapture)
	segs, stream := exporterSegments(t, frames, 39739)
	starts := messageStarts(t, stream)
	// The first segment that begins inside a message, and the first message
	// that begins after it.
	cut := slices.IndexFunc(segs, func(s dataSegment) bool { return !slices.Contains(starts, s.off) })
	require.Positive(t, cut)
	first := slices.IndexFunc(starts, func(s int) bool { return s > segs[cut].off })
	require.Positive(t, first)
	skipped := starts[first] - segs[cut].off
	require.Positive(t, skipped)
	t.Logf("cut at frame %d (stream byte %d): %d bytes to the header of message %d", segs[cut].frame+1, segs[cut].off, skipped, first)

	path := writeFrames(t, "midstream.pcap", frames[segs[cut].frame:])
	_, errOut, code := flowdump(t, "-stats", path)
	require.Equal(t, 0, code)
	require.Contains(t, errOut, fmt.Sprintf("the capture starts inside the stream; skipped %d byte(s) to the first IPFIX message header", skipped))
	require.Contains(t, errOut, fmt.Sprintf("tcp streams: 1 (ipfix 1, not ipfix 0, ended by an error 0); messages: %d; bytes skipped: %d; bytes missing from the capture: 0",
		len(starts)-first, skipped))

	// The templates are in the part cut away: with the whole capture read
	// first (the same exporter, 127.0.0.1:41228), the cut one's messages
	// decode to tshark's flows of messages first.. again.
	out, errOut, code := flowdump(t, "-json", tcpCapture, path)
	require.Equal(t, 0, code)
	require.Contains(t, errOut, fmt.Sprintf("skipped %d byte(s)", skipped))
	both := &tsharkFile{}
	both.Datagrams = append(slices.Clone(exp.Datagrams), exp.Datagrams[first:]...)
	compareWithTshark(t, jsonLines(t, out), both, sysInitTime(t))
}

// TestTCPInterleavedStreams reads three streams whose segments alternate:
// A carries the TCP capture's messages (to port 4739), B the messages of
// softflowd's UDP capture, another run (to port 39739: found by its first
// header), and C only A's messages after the first, so data for templates
// 1024 and up that C never sent. Each stream is its own exporter: A's and
// B's flows are tshark's decodes of their own captures, and C's data does
// not decode with the templates of A or B.
func TestTCPInterleavedStreams(t *testing.T) {
	expA, expB := tcpTshark(t), loadTshark(t, "softflowd_v10.json")
	_, streamA := exporterSegments(t, readFrames(t, tcpCapture), 39739)
	streamB := bytes.Join(testkit.UDPPayloads(t, td+"softflowd/softflowd_v10.pcap"), nil)
	streamC := streamA[messageStarts(t, streamA)[1]:]
	a := netip.MustParseAddrPort("192.0.2.1:50001")
	b := netip.MustParseAddrPort("192.0.2.2:50002")
	c := netip.MustParseAddrPort("[2001:db8::3]:50003")
	collector := netip.MustParseAddrPort("192.0.2.9:4739")
	other := netip.MustParseAddrPort("192.0.2.9:39739")
	c6 := netip.MustParseAddrPort("[2001:db8::9]:4739")
	frames := interleave(
		tcpStream(t, a, collector, streamA, 700, true),
		tcpStream(t, b, other, streamB, 333, true),
		tcpStream6(t, c, c6, streamC, 500),
	)
	out, errOut, code := flowdump(t, "-json", "-stats", writePcap(t, 1, frames...))
	require.Equal(t, 0, code)
	byExporter := map[string][]object{}
	for _, o := range jsonLines(t, out) {
		byExporter[o.str("exporter")] = append(byExporter[o.str("exporter")], o)
	}
	require.Len(t, byExporter[a.String()], 412)
	compareWithTshark(t, byExporter[a.String()], expA, sysInitTime(t))
	compareWithTshark(t, byExporter[b.String()], expB, sysInitTime(t))
	require.Empty(t, byExporter[c.String()])
	require.Len(t, byExporter, 2)
	require.Contains(t, errOut, "data set(s) still wait for a template")
	require.Contains(t, errOut, "tcp streams: 3 (ipfix 3, not ipfix 0, ended by an error 0); messages: 28; bytes skipped: 0")
}

// TestTCPHostile: streams whose next header has a length of 0 or 15, or
// of 65535 with only 10 bytes behind the header, end with an error that
// errors.Is matches, after the whole message before them is decoded, and
// never hang. Sent to the IPFIX port, or to another port and begun with a
// valid message, with and without a FIN.
func TestTCPHostile(t *testing.T) {
	_, stream := exporterSegments(t, readFrames(t, tcpCapture), 39739)
	good := stream[:messageStarts(t, stream)[1]] // templates, options and 21 flows
	header := func(length uint16, extra int) []byte {
		h := binary.BigEndian.AppendUint16(nil, 10)
		h = binary.BigEndian.AppendUint16(h, length)
		h = append(h, 0x65, 0x53, 0xf1, 0x00, 0, 0, 0, 1, 0, 0, 0, 0) // export time, sequence, domain
		return append(h, make([]byte, extra)...)
	}
	exporter := netip.MustParseAddrPort("192.0.2.7:40007")
	for _, c := range []struct {
		name string
		tail []byte
		want error
	}{
		{"length 0", header(0, 0), netflow.ErrMalformed},
		{"length 15", header(15, 0), netflow.ErrMalformed},
		{"length 65535, 10 bytes", header(65535, 10), netflow.ErrTruncated},
		{"version 9", append([]byte{0, 9}, header(100, 84)[2:]...), netflow.ErrMalformed},
		{"length 0 alone", header(0, 100), netflow.ErrMalformed},
	} {
		for _, port := range []uint16{4739, 2055} {
			for _, fin := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/port %d/fin %v", c.name, port, fin), func(t *testing.T) {
					data := append(slices.Clone(good), c.tail...)
					if c.name == "length 0 alone" {
						data = c.tail
					}
					to := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.9"), port)
					path := writePcap(t, 1, tcpStream(t, exporter, to, data, 512, fin)...)
					errs, errOut := dumpFile(t, path)
					require.Len(t, errs, 1, errOut)
					require.ErrorIs(t, errs[0], c.want)
					require.Contains(t, errOut, "tcp stream 192.0.2.7:40007 -> "+to.String())
					require.Contains(t, errOut, "the rest of the stream is not read")

					out, _, code := flowdump(t, "-json", path)
					require.Equal(t, 0, code)
					if c.name != "length 0 alone" {
						require.Len(t, lines(out), 22, "the message before the bad header")
					}
				})
			}
		}
	}
}

// TestTCPNotIPFIX: a stream that does not begin with an IPFIX header, to a
// port other than the IPFIX port, is some other protocol and is passed
// over without a word; to the IPFIX port it is an error.
func TestTCPNotIPFIX(t *testing.T) {
	http := []byte("GET / HTTP/1.1\r\nHost: example\r\n\r\n")
	exporter := netip.MustParseAddrPort("192.0.2.7:40007")
	web := netip.MustParseAddrPort("192.0.2.9:80")
	path := writePcap(t, 1, tcpStream(t, exporter, web, http, 10, true)...)
	out, errOut, code := flowdump(t, "-stats", path)
	require.Equal(t, 0, code)
	require.Empty(t, out)
	require.Contains(t, errOut, "tcp streams: 1 (ipfix 0, not ipfix 1, ended by an error 0)")
	require.NotContains(t, errOut, "flowdump:")

	ipfixPort := netip.MustParseAddrPort("192.0.2.9:4739")
	errs, errOut := dumpFile(t, writePcap(t, 1, tcpStream(t, exporter, ipfixPort, http, 10, true)...))
	require.Len(t, errs, 1)
	require.ErrorIs(t, errs[0], netflow.ErrMalformed)
	require.Contains(t, errOut, "version 18245")

	// -tcp-port 80 makes port 80 the IPFIX port.
	_, errOut, _ = flowdump(t, "-tcp-port", "80", path)
	require.Contains(t, errOut, "netflow: malformed")
}

// TestTCPGap: a segment lost in the middle of the stream costs the message
// it cut (and the bytes after the gap up to the next header), not the
// messages after it.
func TestTCPGap(t *testing.T) {
	exp := tcpTshark(t)
	frames := readFrames(t, tcpCapture)
	segs, stream := exporterSegments(t, frames, 39739)
	starts := messageStarts(t, stream)
	// Drop the first segment that both begins and ends inside messages.
	lost := slices.IndexFunc(segs, func(s dataSegment) bool {
		return !slices.Contains(starts, s.off) && !slices.Contains(starts, s.off+s.n) && s.off+s.n < len(stream)
	})
	require.Positive(t, lost)
	s := segs[lost]
	// The messages the gap touches: from the one holding its first byte to
	// the one holding its last.
	firstHit := slices.IndexFunc(starts, func(m int) bool { return m > s.off }) - 1
	next := slices.IndexFunc(starts, func(m int) bool { return m >= s.off+s.n })
	before := s.off - starts[firstHit] // captured bytes of the cut message before the gap
	after := starts[next] - (s.off + s.n)
	t.Logf("segment %d (bytes %d..%d) lost: messages %d..%d cut", lost, s.off, s.off+s.n, firstHit, next-1)

	kept := append(slices.Clone(frames[:s.frame]), frames[s.frame+1:]...)
	path := writeFrames(t, "gap.pcap", kept)
	out, errOut, code := flowdump(t, "-json", "-stats", path)
	require.Equal(t, 0, code)
	require.Contains(t, errOut, fmt.Sprintf("%d byte(s) missing from the capture; skipped %d byte(s) to the next IPFIX message header, at byte %d",
		s.n, before+after, starts[next]))
	require.Contains(t, errOut, fmt.Sprintf("messages: %d; bytes skipped: %d; bytes missing from the capture: %d",
		len(starts)-(next-firstHit), before+after, s.n))
	want := &tsharkFile{}
	want.Datagrams = append(slices.Clone(exp.Datagrams[:firstHit]), exp.Datagrams[next:]...)
	compareWithTshark(t, jsonLines(t, out), want, sysInitTime(t))
}

// TestCandidateAt checks the resynchronisation test on hand-made headers.
func TestCandidateAt(t *testing.T) {
	msg := func(sets ...[2]uint16) []byte {
		n := 16
		for _, s := range sets {
			n += int(s[1])
		}
		b := binary.BigEndian.AppendUint16(nil, 10)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
		b = append(b, make([]byte, 12)...)
		for _, s := range sets {
			b = binary.BigEndian.AppendUint16(b, s[0])
			b = binary.BigEndian.AppendUint16(b, s[1])
			b = append(b, make([]byte, s[1]-4)...)
		}
		return b
	}
	good := msg([2]uint16{2, 20}, [2]uint16{256, 24})
	two := append(slices.Clone(good), good...)
	for _, c := range []struct {
		name  string
		b     []byte
		final bool
		want  candidate
	}{
		{"followed by a header", two, false, candidateValid},
		{"at the end of the stream", good, true, candidateValid},
		{"next header not seen yet", good, false, candidateMore},
		{"message not whole yet", good[:30], false, candidateMore},
		{"header not whole yet", good[:8], false, candidateMore},
		{"header cut by the end", good[:8], true, candidateInvalid},
		{"message cut by the end", good[:30], true, candidateInvalid},
		{"followed by garbage", append(slices.Clone(good), 0, 5, 0, 40), false, candidateInvalid},
		{"next length below 16", append(slices.Clone(good), 0, 10, 0, 15), false, candidateInvalid},
		{"next export time a day later", append(slices.Clone(good), 0, 10, 0, 16, 0, 1, 0x51, 0x80), false, candidateValid},
		{"next export time further", append(slices.Clone(good), 0, 10, 0, 16, 0, 1, 0x51, 0x81), false, candidateInvalid},
		{"next export time not seen yet", append(slices.Clone(good), 0, 10, 0, 16, 0, 1), false, candidateMore},
		{"set id 4", msg([2]uint16{4, 20}), true, candidateInvalid},
		{"set of 3 bytes", append(msg([2]uint16{256, 4})[:16:16], 1, 0, 0, 3), true, candidateInvalid},
		{"sets overrun", msg([2]uint16{256, 24})[:36], true, candidateInvalid},
		{"header only", msg(), true, candidateInvalid},
		{"version 9", append([]byte{0, 9}, good[2:]...), true, candidateInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, candidateAt(c.b, c.final))
		})
	}
}

// TestTCPPortFilter: -port N keeps the TCP streams sent to N.
func TestTCPPortFilter(t *testing.T) {
	out, errOut, code := flowdump(t, "-json", "-port", "39739", tcpCapture)
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	require.Len(t, lines(out), 412)
	out, errOut, _ = flowdump(t, "-json", "-stats", "-port", "2055", tcpCapture)
	require.Empty(t, out)
	require.Contains(t, errOut, "frames skipped: 37")
	require.NotContains(t, errOut, "tcp streams")
	_, _, code = flowdump(t, "-tcp-port", "70000", tcpCapture)
	require.Equal(t, 2, code)
}

// TestTCPPcapng reads the TCP capture rewritten as pcapng: the same flows.
func TestTCPPcapng(t *testing.T) {
	want, _, _ := flowdump(t, "-json", tcpCapture)
	frames := readFrames(t, tcpCapture)
	infos := make([]gopacket.CaptureInfo, len(frames))
	data := make([][]byte, len(frames))
	for i, f := range frames {
		infos[i], data[i] = f.ci, f.data
	}
	got, errOut, code := flowdump(t, "-json", writeNg(t, infos, data))
	require.Equal(t, 0, code)
	require.Empty(t, errOut)
	require.Equal(t, lines(want), lines(got))
}

// TestTCPResyncHostile: a stream to the IPFIX port whose start the capture
// missed, made of bytes that look like headers (version 10, lengths that
// point at more headers, sets that almost tile), is searched to its end
// and skipped whole, quickly.
func TestTCPResyncHostile(t *testing.T) {
	var junk []byte
	for i := 0; len(junk) < 300<<10; i++ {
		junk = append(junk, 0, 10, byte(i>>8), byte(i)) // version 10, length i
		junk = append(junk, 0, 10, 0xff, 0xff)          // version 10, length 65535
		junk = append(junk, 1, 0, 0, 4, 0, 2, 0, 4)     // a data set and a bad one
	}
	exporter := netip.MustParseAddrPort("192.0.2.7:40007")
	to := netip.MustParseAddrPort("192.0.2.9:4739")
	frames := tcpStream(t, exporter, to, junk, 1400, true)[1:] // no SYN
	path := writePcap(t, 1, frames...)
	start := time.Now()
	errs, errOut := dumpFile(t, path)
	require.Empty(t, errs)
	require.Less(t, time.Since(start), 10*time.Second)
	require.Contains(t, errOut, fmt.Sprintf("the stream ends after %d byte(s) that hold no whole message", len(junk)))

	// Not sent to the IPFIX port: given up on after 256 KiB, silently.
	to = netip.MustParseAddrPort("192.0.2.9:2055")
	path = writePcap(t, 1, tcpStream(t, exporter, to, junk, 1400, true)[1:]...)
	_, errOut, code := flowdump(t, "-stats", path)
	require.Equal(t, 0, code)
	require.Contains(t, errOut, "tcp streams: 1 (ipfix 0, not ipfix 1, ended by an error 0); messages: 0")
	require.NotContains(t, errOut, "flowdump:")
}

// BenchmarkTCPCapture runs flowdump -json over the softflowd TCP capture
// (18008 bytes of IPFIX in 37 frames, 411 flows).
func BenchmarkTCPCapture(b *testing.B) {
	st, err := os.Stat(tcpCapture)
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		if code := run([]string{"-json", tcpCapture}, io.Discard, io.Discard); code != 0 {
			b.Fatalf("exit %d", code)
		}
	}
}
