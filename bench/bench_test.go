// Package bench compares this module's decoder with goflow2's on the same
// datagrams. It is a module of its own so that the library's users never
// inherit goflow2 or benchstat. Run it from this folder:
//
//	go test -run='^$' -bench=. -count=6 | tee /tmp/bench.txt && go tool benchstat -col /impl /tmp/bench.txt
package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowkit/netflow"
	gfnetflow "github.com/netsampler/goflow2/v2/decoders/netflow"
	gflegacy "github.com/netsampler/goflow2/v2/decoders/netflowlegacy"
	gfutils "github.com/netsampler/goflow2/v2/decoders/utils"
)

// nRecords is the number of records of each synthetic data datagram.
const nRecords = 30

var exporter = netip.MustParseAddrPort("192.0.2.1:2055")

// A benchCase is one data datagram and the datagrams (templates) that are
// decoded once, before it, to warm both decoders' template caches.
type benchCase struct {
	name  string
	warm  [][]byte
	data  []byte
	flows int // flow records in data
}

// Real exporter datagrams from testdata/ on which both decoders succeed
// (and agree, see TestSameWork).
var fixtures = []struct {
	name, dir, tpl, data string
	flows                int
}{
	{"v9-cisco-asa", "logstash-codec-netflow", "netflow9_test_cisco_asa_1_tpl.dat", "netflow9_test_cisco_asa_1_data.dat", 14},
	{"ipfix-mikrotik", "logstash-codec-netflow", "ipfix_test_mikrotik_tpl.dat", "ipfix_test_mikrotik_data258.dat", 28},
}

func cases(tb testing.TB) []benchCase {
	tb.Helper()
	cs := []benchCase{
		{name: "v5", data: v5Datagram(nRecords), flows: nRecords},
		{name: "v9", warm: [][]byte{v9Template()}, data: v9Data(nRecords), flows: nRecords},
		{name: "ipfix", warm: [][]byte{ipfixTemplate()}, data: ipfixData(nRecords), flows: nRecords},
	}
	for _, f := range fixtures {
		read := func(name string) []byte {
			b, err := os.ReadFile(filepath.Join("..", "testdata", f.dir, name))
			if err != nil {
				tb.Fatal(err)
			}
			return b
		}
		cs = append(cs, benchCase{name: f.name, warm: [][]byte{read(f.tpl)}, data: read(f.data), flows: f.flows})
	}
	return cs
}

// ---- ours ----

// ours is this module's decoder on its reuse path.
type ours struct {
	dec   *netflow.Decoder
	buf   netflow.Buffer
	flows []netflow.Flow
}

func newOurs(tb testing.TB, c benchCase) *ours {
	o := &ours{dec: netflow.NewDecoder(netflow.Config{}), flows: make([]netflow.Flow, 0, 64)}
	for _, w := range c.warm {
		if _, err := o.dec.Decode(exporter, w); err != nil {
			tb.Fatalf("%s: template: %v", c.name, err)
		}
	}
	return o
}

// decode is the reuse path to Flow values: DecodeFlows gives the flows of
// DecodeInto + AppendFlows without building the typed records first.
func (o *ours) decode(data []byte) error {
	var err error
	o.flows, err = o.dec.DecodeFlows(&o.buf, o.flows[:0], exporter, data)
	return err
}

// ---- goflow2 ----

// theirs is goflow2's decoder, called as its collector's NetFlowPipe.DecodeFlow
// (utils/pipe.go) calls it, without the producer step that follows.
type theirs struct {
	templates gfnetflow.NetFlowTemplateSystem
	v5        gflegacy.PacketNetFlowV5
	v9        gfnetflow.NFv9Packet
	ipfix     gfnetflow.IPFIXPacket
}

func newTheirs(tb testing.TB, c benchCase) *theirs {
	t := &theirs{templates: gfnetflow.CreateTemplateSystem()}
	for _, w := range c.warm {
		if err := t.decode(w); err != nil {
			tb.Fatalf("%s: template: %v", c.name, err)
		}
	}
	return t
}

func (t *theirs) decode(data []byte) error {
	buf := bytes.NewBuffer(data)
	var version uint16
	if err := gfutils.BinaryDecoder(buf, &version); err != nil {
		return err
	}
	switch version {
	case 5:
		t.v5 = gflegacy.PacketNetFlowV5{Version: 5}
		return gflegacy.DecodeMessage(buf, &t.v5)
	case 9:
		t.v9 = gfnetflow.NFv9Packet{Version: 9}
		return gfnetflow.DecodeMessageNetFlow(buf, t.templates, &t.v9)
	case 10:
		t.ipfix = gfnetflow.IPFIXPacket{Version: 10}
		return gfnetflow.DecodeMessageIPFIX(buf, t.templates, &t.ipfix)
	}
	return fmt.Errorf("version %d", version)
}

// ---- benchmark ----

func BenchmarkDecode(b *testing.B) {
	for _, c := range cases(b) {
		b.Run(c.name+"/impl=netflow", func(b *testing.B) {
			o := newOurs(b, c)
			if err := o.decode(c.data); err != nil { // warm the Buffer
				b.Fatal(err)
			}
			run(b, c, o.decode)
		})
		b.Run(c.name+"/impl=goflow2", func(b *testing.B) {
			t := newTheirs(b, c)
			if err := t.decode(c.data); err != nil {
				b.Fatal(err)
			}
			run(b, c, t.decode)
		})
	}
}

func run(b *testing.B, c benchCase, decode func([]byte) error) {
	b.SetBytes(int64(len(c.data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := decode(c.data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.flows), "ns/flow")
}

// ---- sanity: both do the same work ----

// key is what TestSameWork compares of a record.
type key struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Bytes, Packets   uint64
}

func TestSameWork(t *testing.T) {
	for _, c := range cases(t) {
		t.Run(c.name, func(t *testing.T) {
			o := newOurs(t, c)
			if err := o.decode(c.data); err != nil {
				t.Fatal(err)
			}
			th := newTheirs(t, c)
			if err := th.decode(c.data); err != nil {
				t.Fatal(err)
			}
			theirKeys := th.keys()
			if len(o.flows) != c.flows || len(theirKeys) != c.flows {
				t.Fatalf("flows: ours %d, goflow2 %d, want %d", len(o.flows), len(theirKeys), c.flows)
			}
			for _, i := range []int{0, c.flows - 1} {
				f := o.flows[i]
				our := key{f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Bytes, f.Packets}
				if our != theirKeys[i] {
					t.Errorf("record %d: ours %+v, goflow2 %+v", i, our, theirKeys[i])
				}
				if !our.Src.IsValid() || !our.Dst.IsValid() || our.Bytes == 0 {
					t.Errorf("record %d: empty %+v", i, our)
				}
			}
			if c.name == "v5" || c.name == "v9" || c.name == "ipfix" {
				for i, want := range []key{synthKey(0), synthKey(nRecords - 1)} {
					if got := o.flows[i*(nRecords-1)]; got.SrcAddr != want.Src || got.Packets != want.Packets || got.DstPort != want.DstPort {
						t.Errorf("record %d: %+v, built %+v", i*(nRecords-1), got, want)
					}
				}
			}
		})
	}
}

// TestZeroAllocs checks the warm reuse path allocates nothing.
func TestZeroAllocs(t *testing.T) {
	for _, c := range cases(t) {
		o := newOurs(t, c)
		if err := o.decode(c.data); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(100, func() { _ = o.decode(c.data) }); n != 0 {
			t.Errorf("%s: %v allocs per datagram", c.name, n)
		}
	}
}

// keys extracts the compared values from goflow2's decoded packet: the v5
// record fields, or the v9/IPFIX fields by element ID (8/27 source, 12/28
// destination, 7/11 ports, 1 or else 85 bytes, 2 or else 86 packets).
func (t *theirs) keys() []key {
	var ks []key
	for _, r := range t.v5.Records {
		ks = append(ks, key{v4(uint32(r.SrcAddr)), v4(uint32(r.DstAddr)), r.SrcPort, r.DstPort, uint64(r.DOctets), uint64(r.DPkts)})
	}
	sets := append(append([]any(nil), t.v9.FlowSets...), t.ipfix.FlowSets...)
	for _, s := range sets {
		ds, ok := s.(gfnetflow.DataFlowSet)
		if !ok {
			continue
		}
		for _, r := range ds.Records {
			vals := map[uint16][]byte{}
			for _, v := range r.Values {
				if b, ok := v.Value.([]byte); ok && !v.PenProvided {
					if _, dup := vals[v.Type]; !dup {
						vals[v.Type] = b
					}
				}
			}
			addr := func(v4id, v6id uint16) netip.Addr {
				if b, ok := vals[v4id]; ok {
					a, _ := netip.AddrFromSlice(b)
					return a
				}
				a, _ := netip.AddrFromSlice(vals[v6id])
				return a
			}
			num := func(ids ...uint16) uint64 {
				for _, id := range ids {
					if b, ok := vals[id]; ok {
						var n uint64
						for _, x := range b {
							n = n<<8 | uint64(x)
						}
						return n
					}
				}
				return 0
			}
			ks = append(ks, key{addr(8, 27), addr(12, 28), uint16(num(7)), uint16(num(11)), num(1, 85), num(2, 86)})
		}
	}
	return ks
}

func v4(a uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
}

// ---- synthetic datagrams ----

// rec is the content of synthetic record i, the same in v5, v9 and IPFIX.
type rec struct {
	src, dst, nextHop [4]byte
	in, out           uint16
	packets, bytes    uint32
	first, last       uint32 // sysUptime ms
	srcPort, dstPort  uint16
	tcpFlags, proto   uint8
	tos               uint8
	srcAS, dstAS      uint16
	srcMask, dstMask  uint8
}

const (
	sysUptime = 3_600_000     // ms
	unixSecs  = 1_700_000_000 // export time
)

func synthRec(i int) rec {
	protos := [...]uint8{6, 17, 6, 1, 6}
	dports := [...]uint16{443, 53, 80, 0, 22}
	k := i % len(protos)
	return rec{
		src:      [4]byte{10, byte(i >> 8), byte(i), byte(1 + i%250)},
		dst:      [4]byte{192, 168, byte(i * 7), byte(2 + i%200)},
		nextHop:  [4]byte{172, 16, 0, byte(1 + i%3)},
		in:       uint16(1 + i%8),
		out:      uint16(10 + i%4),
		packets:  uint32(1 + i*13),
		bytes:    uint32(60 + i*1531),
		first:    uint32(sysUptime - 60_000 + i*100),
		last:     uint32(sysUptime - 1_000 + i*10),
		srcPort:  uint16(1024 + i*97),
		dstPort:  dports[k],
		tcpFlags: uint8(0x18 | i&1),
		proto:    protos[k],
		tos:      uint8(i % 4 * 32),
		srcAS:    uint16(64512 + i),
		dstAS:    uint16(65000 + i%5),
		srcMask:  24,
		dstMask:  uint8(16 + i%17),
	}
}

func synthKey(i int) key {
	r := synthRec(i)
	return key{netip.AddrFrom4(r.src), netip.AddrFrom4(r.dst), r.srcPort, r.dstPort, uint64(r.bytes), uint64(r.packets)}
}

func u16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func u32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// v5Datagram: 24-byte header and n 48-byte records.
func v5Datagram(n int) []byte {
	b := u16(nil, 5)
	b = u16(b, uint16(n))
	b = u32(b, sysUptime)
	b = u32(b, unixSecs)
	b = u32(b, 0)    // nsecs
	b = u32(b, 1000) // flow sequence
	b = append(b, 0, 0)
	b = u16(b, 0) // no sampling
	for i := range n {
		r := synthRec(i)
		b = append(b, r.src[:]...)
		b = append(b, r.dst[:]...)
		b = append(b, r.nextHop[:]...)
		b = u16(b, r.in)
		b = u16(b, r.out)
		b = u32(b, r.packets)
		b = u32(b, r.bytes)
		b = u32(b, r.first)
		b = u32(b, r.last)
		b = u16(b, r.srcPort)
		b = u16(b, r.dstPort)
		b = append(b, 0, r.tcpFlags, r.proto, r.tos)
		b = u16(b, r.srcAS)
		b = u16(b, r.dstAS)
		b = append(b, r.srcMask, r.dstMask, 0, 0)
	}
	return b
}

// field is a template field: element ID and length.
type field struct{ id, length uint16 }

// v9Fields are the 18 fields of template 256 (53-byte records).
var v9Fields = []field{
	{8, 4}, {12, 4}, {15, 4}, {10, 4}, {14, 4}, {2, 4}, {1, 4}, {22, 4}, {21, 4},
	{7, 2}, {11, 2}, {6, 1}, {4, 1}, {5, 1}, {16, 4}, {17, 4}, {9, 1}, {13, 1},
}

// ipfixFields are the same 18 IEs with flowStart/EndMilliseconds (152/153)
// instead of 22/21 and 8-byte counters (69-byte records).
var ipfixFields = []field{
	{8, 4}, {12, 4}, {15, 4}, {10, 4}, {14, 4}, {2, 8}, {1, 8}, {152, 8}, {153, 8},
	{7, 2}, {11, 2}, {6, 1}, {4, 1}, {5, 1}, {16, 4}, {17, 4}, {9, 1}, {13, 1},
}

const templateID = 256

// appendRecord appends record r laid out by fields.
func appendRecord(b []byte, fields []field, r rec) []byte {
	for _, f := range fields {
		var v uint64
		switch f.id {
		case 8:
			b = append(b, r.src[:]...)
			continue
		case 12:
			b = append(b, r.dst[:]...)
			continue
		case 15:
			b = append(b, r.nextHop[:]...)
			continue
		case 10:
			v = uint64(r.in)
		case 14:
			v = uint64(r.out)
		case 2:
			v = uint64(r.packets)
		case 1:
			v = uint64(r.bytes)
		case 22:
			v = uint64(r.first)
		case 21:
			v = uint64(r.last)
		case 152: // absolute ms: export time minus uptime plus first
			v = uint64(unixSecs)*1000 - sysUptime + uint64(r.first)
		case 153:
			v = uint64(unixSecs)*1000 - sysUptime + uint64(r.last)
		case 7:
			v = uint64(r.srcPort)
		case 11:
			v = uint64(r.dstPort)
		case 6:
			v = uint64(r.tcpFlags)
		case 4:
			v = uint64(r.proto)
		case 5:
			v = uint64(r.tos)
		case 16:
			v = uint64(r.srcAS)
		case 17:
			v = uint64(r.dstAS)
		case 9:
			v = uint64(r.srcMask)
		case 13:
			v = uint64(r.dstMask)
		default:
			panic(f.id)
		}
		switch f.length {
		case 1:
			b = append(b, byte(v))
		case 2:
			b = u16(b, uint16(v))
		case 4:
			b = u32(b, uint32(v))
		case 8:
			b = u64(b, v)
		}
	}
	return b
}

func appendTemplateSet(b []byte, setID uint16, fields []field) []byte {
	b = u16(b, setID)
	b = u16(b, uint16(4+4+4*len(fields)))
	b = u16(b, templateID)
	b = u16(b, uint16(len(fields)))
	for _, f := range fields {
		b = u16(b, f.id)
		b = u16(b, f.length)
	}
	return b
}

// appendDataSet appends a data set of n records, padded to 4 bytes when pad.
func appendDataSet(b []byte, fields []field, n int, pad bool) []byte {
	start := len(b)
	b = u16(b, templateID)
	b = u16(b, 0) // length, set below
	for i := range n {
		b = appendRecord(b, fields, synthRec(i))
	}
	for pad && (len(b)-start)%4 != 0 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint16(b[start+2:], uint16(len(b)-start))
	return b
}

func v9Header(count uint16, seq uint32) []byte {
	b := u16(nil, 9)
	b = u16(b, count)
	b = u32(b, sysUptime)
	b = u32(b, unixSecs)
	b = u32(b, seq)
	return u32(b, 1) // source ID
}

// v9Template: 20-byte header and a template flowset (ID 0) with template 256.
func v9Template() []byte {
	return appendTemplateSet(v9Header(1, 0), 0, v9Fields)
}

// v9Data: 20-byte header and data flowset 256 of n records, padded.
func v9Data(n int) []byte {
	return appendDataSet(v9Header(uint16(n), 1), v9Fields, n, true)
}

func ipfixMessage(seq uint32, body []byte) []byte {
	b := u16(nil, 10)
	b = u16(b, uint16(16+len(body)))
	b = u32(b, unixSecs)
	b = u32(b, seq)
	b = u32(b, 1) // observation domain
	return append(b, body...)
}

// ipfixTemplate: 16-byte header and a template set (ID 2) with template 256.
func ipfixTemplate() []byte {
	return ipfixMessage(0, appendTemplateSet(nil, 2, ipfixFields))
}

// ipfixData: 16-byte header and data set 256 of n records.
func ipfixData(n int) []byte {
	return ipfixMessage(0, appendDataSet(nil, ipfixFields, n, false))
}
