package netflow

// Shared test helpers: fixture loading (pcap UDP payloads, raw payload
// files, tshark's expected decodes in testdata/expected) and datagram
// builders for every version, a watchdog for code that must not hang.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// testExporter is the exporter address the tests decode as.
var testExporter = netip.MustParseAddrPort("192.0.2.1:2055")

// ---------------------------------------------------------------- fixtures

// readPcapPayloads returns the UDP payloads of a pcap file, in capture order.
func readPcapPayloads(tb testing.TB, path string) [][]byte {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		tb.Fatalf("pcap %s: %v", path, err)
	}
	var out [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatalf("pcap %s: %v", path, err)
		}
		pkt := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok {
			continue
		}
		out = append(out, append([]byte(nil), udp.Payload...))
	}
}

// splitMessages splits a raw payload file into the export messages stored
// back to back in it, with SplitMessage. A file SplitMessage cannot frame is
// returned whole, as one datagram.
func splitMessages(data []byte) [][]byte {
	var out [][]byte
	rest := data
	for len(rest) > 0 {
		msg, r, err := SplitMessage(rest)
		if err != nil || len(msg) == 0 {
			if len(out) == 0 {
				return [][]byte{data}
			}
			return append(out, rest)
		}
		out = append(out, msg)
		rest = r
	}
	return out
}

// fixtureFiles lists the pcap and raw payload (.dat, .bin) files under
// testdata, sorted, testdata/fuzz excluded.
func fixtureFiles(tb testing.TB) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == filepath.Join("testdata", "fuzz") || path == filepath.Join("testdata", "expected")) {
			return filepath.SkipDir
		}
		switch filepath.Ext(path) {
		case ".pcap", ".dat", ".bin":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// fixturePayloads returns every export datagram of a fixture file: the UDP
// payloads of a pcap, or the messages of a raw payload file.
func fixturePayloads(tb testing.TB, path string) [][]byte {
	tb.Helper()
	if strings.HasSuffix(path, ".pcap") {
		return readPcapPayloads(tb, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return splitMessages(data)
}

// allFixtureDatagrams returns every datagram of every fixture file.
func allFixtureDatagrams(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, f := range fixtureFiles(tb) {
		out = append(out, fixturePayloads(tb, f)...)
	}
	return out
}

// expectedDoc is one testdata/expected/*.json file: tshark's decode of the
// inputs, reduced by scripts/tshark_expected.py.
type expectedDoc struct {
	Source    string             `json:"source"`
	Inputs    []string           `json:"inputs"`
	Datagrams []expectedDatagram `json:"datagrams"`
}

// expectedDatagram is one decoded datagram. Times are as on the wire:
// uptimes in ms, export time in seconds and nanoseconds.
type expectedDatagram struct {
	Index  int `json:"index"`
	Origin *struct {
		File   string `json:"file"`
		Offset int    `json:"offset"`
		Length int    `json:"length"`
	} `json:"origin"`
	Version          uint16         `json:"version"`
	Count            *uint16        `json:"count"`
	SysUptimeMS      *uint32        `json:"sys_uptime_ms"`
	UnixSecs         *uint32        `json:"unix_secs"`
	UnixNsecs        *uint32        `json:"unix_nsecs"`
	Sequence         *uint32        `json:"sequence"`
	EngineType       *uint8         `json:"engine_type"`
	EngineID         *uint8         `json:"engine_id"`
	SamplingMode     *uint8         `json:"sampling_mode"`
	SamplingInterval *uint16        `json:"sampling_interval"`
	Length           *uint16        `json:"length"`
	SourceID         *uint32        `json:"source_id"`
	Flows            []expectedFlow `json:"flows"`
}

// expectedFlow is one record. A nil pointer is a key tshark did not give.
type expectedFlow struct {
	SrcAddr       *string        `json:"src_addr"`
	DstAddr       *string        `json:"dst_addr"`
	NextHop       *string        `json:"next_hop"`
	SrcPort       *uint16        `json:"src_port"`
	DstPort       *uint16        `json:"dst_port"`
	Proto         *uint8         `json:"proto"`
	ToS           *uint8         `json:"tos"`
	TCPFlags      *uint8         `json:"tcp_flags"`
	Packets       *uint64        `json:"packets"`
	Bytes         *uint64        `json:"bytes"`
	FirstUptimeMS *uint32        `json:"first_uptime_ms"`
	LastUptimeMS  *uint32        `json:"last_uptime_ms"`
	Start         *string        `json:"start"`
	End           *string        `json:"end"`
	InIf          *uint32        `json:"in_if"`
	OutIf         *uint32        `json:"out_if"`
	SrcAS         *uint32        `json:"src_as"`
	DstAS         *uint32        `json:"dst_as"`
	SrcMask       *uint8         `json:"src_mask"`
	DstMask       *uint8         `json:"dst_mask"`
	Flags         *uint8         `json:"flags"`
	RouterSC      *string        `json:"router_sc"`
	TemplateID    *uint16        `json:"template_id"`
	Options       bool           `json:"options"`
	Fields        map[string]any `json:"fields"`
	TsharkNotes   []string       `json:"tshark_notes"`
}

// loadExpected reads testdata/expected/name.
func loadExpected(tb testing.TB, name string) expectedDoc {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "expected", name))
	if err != nil {
		tb.Fatal(err)
	}
	var doc expectedDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	return doc
}

// expectedPayloads returns the datagram that each expected datagram of doc
// decodes: from its origin (raw payload file, offset, length), or by index
// among the UDP payloads of the document's pcap inputs.
func expectedPayloads(tb testing.TB, doc expectedDoc) [][]byte {
	tb.Helper()
	var fromPcap [][]byte
	for _, in := range doc.Inputs {
		if strings.HasSuffix(in, ".pcap") {
			fromPcap = append(fromPcap, readPcapPayloads(tb, filepath.Join("testdata", in))...)
		}
	}
	files := map[string][]byte{}
	out := make([][]byte, len(doc.Datagrams))
	for i, dg := range doc.Datagrams {
		if o := dg.Origin; o != nil {
			data, ok := files[o.File]
			if !ok {
				var err error
				data, err = os.ReadFile(filepath.Join("testdata", o.File))
				if err != nil {
					tb.Fatal(err)
				}
				files[o.File] = data
			}
			if o.Offset+o.Length > len(data) {
				tb.Fatalf("%s: origin %d+%d beyond %d bytes", o.File, o.Offset, o.Length, len(data))
			}
			out[i] = data[o.Offset : o.Offset+o.Length]
			continue
		}
		if dg.Index >= len(fromPcap) {
			tb.Fatalf("expected datagram %d, inputs %v hold %d", dg.Index, doc.Inputs, len(fromPcap))
		}
		out[i] = fromPcap[dg.Index]
	}
	return out
}

// ---------------------------------------------------------------- watchdog

// withWatchdog runs fn in a goroutine and fails tb if it does not return
// within d: the Go fuzzer and AllocsPerRun do not flag hangs by themselves.
// A panic in fn is re-raised in the caller's goroutine with its message.
func withWatchdog(tb testing.TB, d time.Duration, fn func()) {
	tb.Helper()
	done := make(chan any, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Sprintf("%v\n%s", p, debug.Stack())
				return
			}
			done <- nil
		}()
		fn()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case p := <-done:
		if p != nil {
			panic(p)
		}
	case <-timer.C:
		tb.Fatalf("watchdog: still running after %v (hang)", d)
	}
}

// ---------------------------------------------------------------- builders

// The header values every builder uses, so that the same logical flows come
// out of every version: export at 2023-11-14T22:13:20Z, one hour of uptime.
const (
	buildUnixSecs  = 1_700_000_000
	buildSysUptime = 3_600_000
)

// buildExport is the export time of the built datagrams.
var buildExport = time.Unix(buildUnixSecs, 0).UTC()

// testFlow is one logical flow the builders encode, with values derived
// from its index so that every field of every record differs.
type testFlow struct {
	Src, Dst, NextHop netip.Addr
	In, Out           uint16
	Packets, Octets   uint32
	First, Last       uint32 // sys uptime ms
	SrcPort, DstPort  uint16
	TCPFlags, Proto   uint8
	ToS               uint8
	SrcAS, DstAS      uint16
	SrcMask, DstMask  uint8
}

func testFlowN(i int) testFlow {
	b := byte(i)
	return testFlow{
		Src:      netip.AddrFrom4([4]byte{10, 1, b, 1}),
		Dst:      netip.AddrFrom4([4]byte{10, 2, b, 2}),
		NextHop:  netip.AddrFrom4([4]byte{10, 3, b, 3}),
		In:       uint16(100 + i),
		Out:      uint16(200 + i),
		Packets:  uint32(1000 + i),
		Octets:   uint32(100000 + 7*i),
		First:    uint32(buildSysUptime - 60_000 + 10*i),
		Last:     uint32(buildSysUptime - 1_000 + 10*i),
		SrcPort:  uint16(40000 + i),
		DstPort:  uint16(443 + i),
		TCPFlags: 0x1b,
		Proto:    6,
		ToS:      uint8(i * 4),
		SrcAS:    uint16(64500 + i),
		DstAS:    uint16(64600 + i),
		SrcMask:  24,
		DstMask:  uint8(16 + i%16),
	}
}

// Start and End are the flow's absolute times for the builders' headers.
func (f testFlow) Start() time.Time {
	return buildExport.Add(-time.Duration(buildSysUptime-f.First) * time.Millisecond)
}

func (f testFlow) End() time.Time {
	return buildExport.Add(-time.Duration(buildSysUptime-f.Last) * time.Millisecond)
}

var be = binary.BigEndian

// putV5Layout writes the 48 bytes of a v5 record (bytes 36 and 46-47, pad
// in v5, are left for the caller).
func putV5Layout(b []byte, f testFlow) {
	copy(b[0:], f.Src.AsSlice())
	copy(b[4:], f.Dst.AsSlice())
	copy(b[8:], f.NextHop.AsSlice())
	be.PutUint16(b[12:], f.In)
	be.PutUint16(b[14:], f.Out)
	be.PutUint32(b[16:], f.Packets)
	be.PutUint32(b[20:], f.Octets)
	be.PutUint32(b[24:], f.First)
	be.PutUint32(b[28:], f.Last)
	be.PutUint16(b[32:], f.SrcPort)
	be.PutUint16(b[34:], f.DstPort)
	b[37] = f.TCPFlags
	b[38] = f.Proto
	b[39] = f.ToS
	be.PutUint16(b[40:], f.SrcAS)
	be.PutUint16(b[42:], f.DstAS)
	b[44] = f.SrcMask
	b[45] = f.DstMask
}

// fixedHeader24 writes the 24-byte header of v5, v6 and v7.
func fixedHeader24(b []byte, version uint16, n int) {
	be.PutUint16(b[0:], version)
	be.PutUint16(b[2:], uint16(n))
	be.PutUint32(b[4:], buildSysUptime)
	be.PutUint32(b[8:], buildUnixSecs)
	be.PutUint32(b[12:], 0)
	be.PutUint32(b[16:], 5000) // flow sequence
	if version != 7 {
		b[20], b[21] = 1, 2 // engine type, engine ID
	}
}

// buildV1 returns a v1 datagram of n records testFlowN(0..n-1).
func buildV1(n int) []byte {
	b := make([]byte, 16+48*n)
	be.PutUint16(b[0:], 1)
	be.PutUint16(b[2:], uint16(n))
	be.PutUint32(b[4:], buildSysUptime)
	be.PutUint32(b[8:], buildUnixSecs)
	for i := range n {
		r := b[16+48*i:]
		f := testFlowN(i)
		copy(r[0:], f.Src.AsSlice())
		copy(r[4:], f.Dst.AsSlice())
		copy(r[8:], f.NextHop.AsSlice())
		be.PutUint16(r[12:], f.In)
		be.PutUint16(r[14:], f.Out)
		be.PutUint32(r[16:], f.Packets)
		be.PutUint32(r[20:], f.Octets)
		be.PutUint32(r[24:], f.First)
		be.PutUint32(r[28:], f.Last)
		be.PutUint16(r[32:], f.SrcPort)
		be.PutUint16(r[34:], f.DstPort)
		r[38] = f.Proto
		r[39] = f.ToS
		r[40] = f.TCPFlags
	}
	return b
}

// buildV5 returns a v5 datagram of n records testFlowN(0..n-1), engine 1/2,
// sequence 5000, no sampling.
func buildV5(n int) []byte {
	b := make([]byte, 24+48*n)
	fixedHeader24(b, 5, n)
	for i := range n {
		putV5Layout(b[24+48*i:], testFlowN(i))
	}
	return b
}

// buildV6 is buildV5 with 52-byte v6 records: in_encaps i%7, out_encaps
// 8+i%7, peer next hop 10.4.i.4.
func buildV6(n int) []byte {
	b := make([]byte, 24+52*n)
	fixedHeader24(b, 6, n)
	for i := range n {
		r := b[24+52*i:]
		putV5Layout(r, testFlowN(i))
		r[46] = byte(i % 7)
		r[47] = byte(8 + i%7)
		copy(r[48:], []byte{10, 4, byte(i), 4})
	}
	return b
}

// buildV7 is buildV5 with 52-byte v7 records: flags i%2, field flags
// 0x100+i, router shortcut 10.5.i.5.
func buildV7(n int) []byte {
	b := make([]byte, 24+52*n)
	fixedHeader24(b, 7, n)
	for i := range n {
		r := b[24+52*i:]
		putV5Layout(r, testFlowN(i))
		r[36] = byte(i % 2)
		be.PutUint16(r[46:], uint16(0x100+i))
		copy(r[48:], []byte{10, 5, byte(i), 5})
	}
	return b
}

// benchTemplateID is the template ID of the v9 and IPFIX builders.
const benchTemplateID = 256

// tmplField is a field specifier for the builders.
type tmplField struct {
	id, length uint16
	pen        uint32
}

// v9BenchFields is the 18-field template of buildV9Template, in v9 types.
var v9BenchFields = []tmplField{
	{8, 4, 0}, {12, 4, 0}, {15, 4, 0}, {10, 2, 0}, {14, 2, 0}, {2, 4, 0}, {1, 4, 0},
	{22, 4, 0}, {21, 4, 0}, {7, 2, 0}, {11, 2, 0}, {6, 1, 0}, {4, 1, 0}, {5, 1, 0},
	{16, 2, 0}, {17, 2, 0}, {9, 1, 0}, {13, 1, 0},
}

// ipfixBenchFields is the same template in IPFIX IEs, with
// flowStartMilliseconds/flowEndMilliseconds (152/153) for the uptimes and
// 4-byte interfaces and AS numbers.
var ipfixBenchFields = []tmplField{
	{8, 4, 0}, {12, 4, 0}, {15, 4, 0}, {10, 4, 0}, {14, 4, 0}, {2, 8, 0}, {1, 8, 0},
	{152, 8, 0}, {153, 8, 0}, {7, 2, 0}, {11, 2, 0}, {6, 1, 0}, {4, 1, 0}, {5, 1, 0},
	{16, 4, 0}, {17, 4, 0}, {9, 1, 0}, {13, 1, 0},
}

// putField writes field id of flow f in length bytes.
func putField(b []byte, id, length uint16, f testFlow) int {
	var v uint64
	switch id {
	case 8:
		return copy(b, f.Src.AsSlice())
	case 12:
		return copy(b, f.Dst.AsSlice())
	case 15:
		return copy(b, f.NextHop.AsSlice())
	case 10:
		v = uint64(f.In)
	case 14:
		v = uint64(f.Out)
	case 2:
		v = uint64(f.Packets)
	case 1:
		v = uint64(f.Octets)
	case 22:
		v = uint64(f.First)
	case 21:
		v = uint64(f.Last)
	case 152:
		v = uint64(f.Start().UnixMilli())
	case 153:
		v = uint64(f.End().UnixMilli())
	case 7:
		v = uint64(f.SrcPort)
	case 11:
		v = uint64(f.DstPort)
	case 6:
		v = uint64(f.TCPFlags)
	case 4:
		v = uint64(f.Proto)
	case 5:
		v = uint64(f.ToS)
	case 16:
		v = uint64(f.SrcAS)
	case 17:
		v = uint64(f.DstAS)
	case 9:
		v = uint64(f.SrcMask)
	case 13:
		v = uint64(f.DstMask)
	}
	for i := int(length) - 1; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return int(length)
}

// flowRecords encodes testFlowN(0..n-1) with fields.
func flowRecords(fields []tmplField, n int) []byte {
	var out []byte
	rec := make([]byte, 0, 64)
	for i := range n {
		rec = rec[:0]
		for _, fl := range fields {
			l := len(rec)
			rec = append(rec, make([]byte, fl.length)...)
			putField(rec[l:], fl.id, fl.length, testFlowN(i))
		}
		out = append(out, rec...)
	}
	return out
}

// set returns a v9 flowset or IPFIX set: id, length, body, zero padding to
// a multiple of 4 (pad) or none.
func set(id uint16, body []byte, pad bool) []byte {
	n := 4 + len(body)
	if pad {
		n = (n + 3) &^ 3
	}
	b := make([]byte, n)
	be.PutUint16(b, id)
	be.PutUint16(b[2:], uint16(n))
	copy(b[4:], body)
	return b
}

// templateRecord returns a (v9 or IPFIX) template record. A field with a
// non-zero pen gets the enterprise bit and the PEN (IPFIX).
func templateRecord(id uint16, fields ...tmplField) []byte {
	b := be.AppendUint16(nil, id)
	b = be.AppendUint16(b, uint16(len(fields)))
	for _, f := range fields {
		if f.pen != 0 {
			b = be.AppendUint16(b, f.id|0x8000)
			b = be.AppendUint16(b, f.length)
			b = be.AppendUint32(b, f.pen)
			continue
		}
		b = be.AppendUint16(b, f.id)
		b = be.AppendUint16(b, f.length)
	}
	return b
}

// v9Packet returns a v9 datagram of the builders' header, source ID
// sourceID, sequence seq and the given flowsets. The header count is the
// number of flowsets (exporters disagree; the decoder ignores it).
func v9Packet(sourceID, seq uint32, flowsets ...[]byte) []byte {
	b := make([]byte, 20)
	be.PutUint16(b[0:], 9)
	be.PutUint16(b[2:], uint16(len(flowsets)))
	be.PutUint32(b[4:], buildSysUptime)
	be.PutUint32(b[8:], buildUnixSecs)
	be.PutUint32(b[12:], seq)
	be.PutUint32(b[16:], sourceID)
	for _, fs := range flowsets {
		b = append(b, fs...)
	}
	return b
}

// ipfixMessage returns an IPFIX message of the builders' export time,
// observation domain domain, sequence seq and the given sets.
func ipfixMessage(domain, seq uint32, sets ...[]byte) []byte {
	b := make([]byte, 16)
	be.PutUint16(b[0:], 10)
	be.PutUint32(b[4:], buildUnixSecs)
	be.PutUint32(b[8:], seq)
	be.PutUint32(b[12:], domain)
	for _, s := range sets {
		b = append(b, s...)
	}
	be.PutUint16(b[2:], uint16(len(b)))
	return b
}

// buildV9Template returns a v9 datagram (source ID 1) defining template 256
// of the 18 fields of v9BenchFields.
func buildV9Template() []byte {
	return v9Packet(1, 1, set(0, templateRecord(benchTemplateID, v9BenchFields...), false))
}

// buildV9Data returns a v9 datagram (source ID 1) with one data flowset of n
// records of template 256 (testFlowN(0..n-1)).
func buildV9Data(n int) []byte {
	return v9Packet(1, 2, set(benchTemplateID, flowRecords(v9BenchFields, n), true))
}

// buildV9 returns buildV9Template's template and buildV9Data's data in one
// datagram.
func buildV9(n int) []byte {
	return v9Packet(1, 2,
		set(0, templateRecord(benchTemplateID, v9BenchFields...), false),
		set(benchTemplateID, flowRecords(v9BenchFields, n), true))
}

// buildIPFIXTemplate returns an IPFIX message (domain 1) defining template
// 256 of ipfixBenchFields.
func buildIPFIXTemplate() []byte {
	return ipfixMessage(1, 0, set(2, templateRecord(benchTemplateID, ipfixBenchFields...), false))
}

// buildIPFIXData returns an IPFIX message (domain 1) with one data set of n
// records of template 256.
func buildIPFIXData(n int) []byte {
	return ipfixMessage(1, 0, set(benchTemplateID, flowRecords(ipfixBenchFields, n), false))
}

// buildIPFIX returns buildIPFIXTemplate's template and buildIPFIXData's data
// in one message.
func buildIPFIX(n int) []byte {
	return ipfixMessage(1, 0,
		set(2, templateRecord(benchTemplateID, ipfixBenchFields...), false),
		set(benchTemplateID, flowRecords(ipfixBenchFields, n), false))
}
