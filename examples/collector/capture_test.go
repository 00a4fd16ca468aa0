package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// The real exporter capture the multi-process tests replay: softflowd
// 1.1.0's IPFIX over TCP (testdata/softflowd/softflowd_v10_tcp.pcap), 14
// messages: the first carries the templates (256 options, 1024 data), the
// options record (sampling, system init time) and 21 flows, the other 13
// data only. The tests send each message as one UDP datagram.
const (
	captureFile  = "../../testdata/softflowd/softflowd_v10_tcp.pcap"
	expectedFile = "../../testdata/expected/softflowd_v10_tcp.json"
)

// ipfixMessages reassembles the capture's TCP payload (one connection, no
// retransmissions on loopback) and cuts it into IPFIX messages by their
// length field.
func ipfixMessages(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open(captureFile)
	require.NoError(t, err)
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	require.NoError(t, err)
	var stream []byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && len(tcp.Payload) > 0 {
			stream = append(stream, tcp.Payload...)
		}
	}
	var msgs [][]byte
	for len(stream) > 0 {
		require.GreaterOrEqual(t, len(stream), 16, "a message header")
		require.Equal(t, uint16(10), binary.BigEndian.Uint16(stream), "IPFIX version")
		n := int(binary.BigEndian.Uint16(stream[2:]))
		require.LessOrEqual(t, n, len(stream))
		msgs = append(msgs, stream[:n])
		stream = stream[n:]
	}
	return msgs
}

// tsharkFlow is one record of tshark's decode (testdata/expected).
type tsharkFlow struct {
	Options     bool              `json:"options"`
	SrcAddr     string            `json:"src_addr"`
	DstAddr     string            `json:"dst_addr"`
	SrcPort     int               `json:"src_port"`
	DstPort     int               `json:"dst_port"`
	Proto       int               `json:"proto"`
	Packets     uint64            `json:"packets"`
	Bytes       uint64            `json:"bytes"`
	FirstUptime int64             `json:"first_uptime_ms"`
	LastUptime  int64             `json:"last_uptime_ms"`
	Fields      map[string]string `json:"fields"`
}

// tsharkDatagram is one message of tshark's decode.
type tsharkDatagram struct {
	Length   int          `json:"length"`
	Sequence uint32       `json:"sequence"`
	Flows    []tsharkFlow `json:"flows"`
}

// expectation is what tshark decoded from the capture, per message, as the
// flow lines of the collector must read: every flow keyed by its 5-tuple,
// counters, start and end (system init time of the options record plus
// the record's uptimes) and sampling interval (RFC 5476: (packet interval
// + packet space) / packet interval, from the options record).
type expectation struct {
	lengths  []int
	perMsg   [][]string // expected flow keys per message
	options  int        // options records
	sampling int
}

func loadExpectation(t *testing.T) expectation {
	t.Helper()
	b, err := os.ReadFile(expectedFile)
	require.NoError(t, err)
	var doc struct {
		Datagrams []tsharkDatagram `json:"datagrams"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	var e expectation
	var sysInit time.Time
	for _, d := range doc.Datagrams {
		for _, f := range d.Flows {
			if !f.Options {
				continue
			}
			e.options++
			sysInit, err = time.Parse("Jan _2, 2006 15:04:05.000000000 MST", f.Fields["cflow.sys_init_time"])
			require.NoError(t, err)
			var interval, space int
			_, err = fmt.Sscan(f.Fields["cflow.sampling_packet_interval"], &interval)
			require.NoError(t, err)
			_, err = fmt.Sscan(f.Fields["cflow.sampling_packet_space"], &space)
			require.NoError(t, err)
			require.Positive(t, interval)
			e.sampling = (interval + space) / interval
		}
	}
	require.False(t, sysInit.IsZero(), "tshark's decode has the options record")
	for _, d := range doc.Datagrams {
		e.lengths = append(e.lengths, d.Length)
		var keys []string
		for _, f := range d.Flows {
			if f.Options {
				continue
			}
			start := sysInit.Add(time.Duration(f.FirstUptime) * time.Millisecond)
			end := sysInit.Add(time.Duration(f.LastUptime) * time.Millisecond)
			keys = append(keys, flowKey(f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto, f.Packets, f.Bytes, start, end, e.sampling))
		}
		e.perMsg = append(e.perMsg, keys)
	}
	return e
}

func flowKey(src, dst string, sp, dp, proto int, packets, bytes uint64, start, end time.Time, sampling int) string {
	return fmt.Sprintf("%s:%d>%s:%d/%d p%d b%d %s..%s s%d", src, sp, dst, dp, proto, packets, bytes,
		start.UTC().Format(time.RFC3339Nano), end.UTC().Format(time.RFC3339Nano), sampling)
}

// collectorFlow is a flow line of the collector's -json output.
type collectorFlow struct {
	Options  bool   `json:"options"`
	SrcAddr  string `json:"src_addr"`
	DstAddr  string `json:"dst_addr"`
	SrcPort  int    `json:"src_port"`
	DstPort  int    `json:"dst_port"`
	Proto    int    `json:"proto"`
	Packets  uint64 `json:"packets"`
	Bytes    uint64 `json:"bytes"`
	Start    string `json:"start"`
	End      string `json:"end"`
	Sampling int    `json:"sampling_interval"`
}

// flowKeys returns the keys of the flow lines of out (options records
// left out) and the number of options records.
func flowKeys(t *testing.T, out string) (keys []string, options int) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var f collectorFlow
		require.NoError(t, json.Unmarshal([]byte(line), &f), line)
		if f.Options {
			options++
			continue
		}
		start, err := time.Parse(time.RFC3339Nano, f.Start)
		require.NoError(t, err, line)
		end, err := time.Parse(time.RFC3339Nano, f.End)
		require.NoError(t, err, line)
		keys = append(keys, flowKey(f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto, f.Packets, f.Bytes, start, end, f.Sampling))
	}
	return keys, options
}

func TestCaptureMatchesTshark(t *testing.T) {
	msgs := ipfixMessages(t)
	e := loadExpectation(t)
	require.Len(t, msgs, len(e.lengths), "messages in the capture, as tshark counts them")
	for i, m := range msgs {
		require.Equal(t, e.lengths[i], len(m), "message %d", i)
	}
	require.Equal(t, 1, e.options)
	require.Equal(t, 1, e.sampling)
	require.Equal(t, 5, templateCount(t, msgs[0]), "softflowd's templates: 256 options, 1024 IPv4, 2048 IPv6, 1025 ICMPv4, 2049 ICMPv6")
	for _, m := range msgs[1:] {
		require.Zero(t, templateCount(t, m))
	}
}

// templateCount counts the template and options template records in an
// IPFIX message by walking its sets (RFC 7011 section 3.4: set ID 2
// templates, 3 options templates; a field specifier is 4 bytes, 8 with the
// enterprise bit).
func templateCount(t *testing.T, msg []byte) int {
	t.Helper()
	n := 0
	for b := msg[16:]; len(b) >= 4; {
		id, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		require.GreaterOrEqual(t, l, 4)
		require.LessOrEqual(t, l, len(b))
		set := b[4:l]
		b = b[l:]
		if id != 2 && id != 3 {
			continue
		}
		for len(set) >= 4 {
			fields := int(binary.BigEndian.Uint16(set[2:]))
			set = set[4:]
			if id == 3 {
				set = set[2:] // scope field count
			}
			for range fields {
				step := 4
				if binary.BigEndian.Uint16(set)&0x8000 != 0 {
					step = 8
				}
				set = set[step:]
			}
			n++
		}
	}
	return n
}
