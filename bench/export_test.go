package bench

// The encoder: this module's export.Writer beside vmware/go-ipfix's IPFIX
// encoder on the same 30 flows, and goflow2 decoding what export.Writer
// writes.
//
//	go test -run='^$' -bench=Encode -count=6 | tee /tmp/enc.txt && go tool benchstat -col /impl /tmp/enc.txt

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	gfnetflow "github.com/netsampler/goflow2/v2/decoders/netflow"
	"github.com/vmware/go-ipfix/pkg/entities"
	ipfixexporter "github.com/vmware/go-ipfix/pkg/exporter"
	"github.com/vmware/go-ipfix/pkg/registry"
)

// encodeExport is the export time of the encoded messages.
var encodeExport = time.Unix(unixSecs, 0).UTC()

// encodeFlows are synthetic records 0..n-1 (synthRec, the decoder
// benchmark's) as flows: the fields v5 carries, times absolute.
func encodeFlows(n int) []netflow.Flow {
	flows := make([]netflow.Flow, n)
	for i := range flows {
		r := synthRec(i)
		flows[i] = netflow.Flow{
			SrcAddr: netip.AddrFrom4(r.src), DstAddr: netip.AddrFrom4(r.dst), NextHop: netip.AddrFrom4(r.nextHop),
			SrcPort: r.srcPort, DstPort: r.dstPort, Proto: r.proto, ToS: r.tos, TCPFlags: r.tcpFlags,
			SrcMask: r.srcMask, DstMask: r.dstMask, Packets: uint64(r.packets), Bytes: uint64(r.bytes),
			Start: encodeExport.Add(-time.Duration(sysUptime-r.first) * time.Millisecond),
			End:   encodeExport.Add(-time.Duration(sysUptime-r.last) * time.Millisecond),
			InIf:  uint32(r.in), OutIf: uint32(r.out), SrcAS: uint32(r.srcAS), DstAS: uint32(r.dstAS),
			Known: netflow.FieldSrcAddr | netflow.FieldDstAddr | netflow.FieldNextHop | netflow.FieldSrcPort |
				netflow.FieldDstPort | netflow.FieldProto | netflow.FieldToS | netflow.FieldTCPFlags |
				netflow.FieldSrcMask | netflow.FieldDstMask | netflow.FieldPackets | netflow.FieldBytes |
				netflow.FieldStart | netflow.FieldEnd | netflow.FieldInIf | netflow.FieldOutIf |
				netflow.FieldSrcAS | netflow.FieldDstAS,
		}
	}
	return flows
}

// ---- ours ----

// newWriter returns a warm export.Writer of version to out: its template
// made and sent.
func newWriter(tb testing.TB, version uint16, out io.Writer, flows []netflow.Flow) *export.Writer {
	w, err := export.NewWriter(out, export.Config{Version: version, MTU: 1500, Now: func() time.Time { return encodeExport }})
	if err != nil {
		tb.Fatal(err)
	}
	if err := w.WriteFlows(flows); err != nil {
		tb.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	return w
}

// ---- go-ipfix ----

// goIPFIX encodes flows as go-ipfix's users do: a data set of records made
// of typed elements, serialized as one IPFIX message into a buffer.
type goIPFIX struct {
	ies [18]*entities.InfoElement
	buf bytes.Buffer
	seq uint32
}

// goIPFIXElements are the elements of the template, as export.Writer's
// chosen one has them (go-ipfix writes tcpControlBits in its registry's two
// bytes).
var goIPFIXElements = [18]string{
	"sourceIPv4Address", "destinationIPv4Address", "ipNextHopIPv4Address", "sourceTransportPort",
	"destinationTransportPort", "protocolIdentifier", "ipClassOfService", "tcpControlBits",
	"sourceIPv4PrefixLength", "destinationIPv4PrefixLength", "packetDeltaCount", "octetDeltaCount",
	"flowStartMilliseconds", "flowEndMilliseconds", "ingressInterface", "egressInterface",
	"bgpSourceAsNumber", "bgpDestinationAsNumber",
}

func newGoIPFIX(tb testing.TB) *goIPFIX {
	registry.LoadRegistry()
	g := &goIPFIX{}
	for i, name := range goIPFIXElements {
		ie, err := registry.GetInfoElement(name, registry.IANAEnterpriseID)
		if err != nil {
			tb.Fatal(err)
		}
		g.ies[i] = ie
	}
	return g
}

// elements returns the record of f.
func (g *goIPFIX) elements(f *netflow.Flow) []entities.InfoElementWithValue {
	ip := func(a netip.Addr) net.IP { b := a.As4(); return net.IP(b[:]) }
	return []entities.InfoElementWithValue{
		entities.NewIPAddressInfoElement(g.ies[0], ip(f.SrcAddr)),
		entities.NewIPAddressInfoElement(g.ies[1], ip(f.DstAddr)),
		entities.NewIPAddressInfoElement(g.ies[2], ip(f.NextHop)),
		entities.NewUnsigned16InfoElement(g.ies[3], f.SrcPort),
		entities.NewUnsigned16InfoElement(g.ies[4], f.DstPort),
		entities.NewUnsigned8InfoElement(g.ies[5], f.Proto),
		entities.NewUnsigned8InfoElement(g.ies[6], f.ToS),
		entities.NewUnsigned16InfoElement(g.ies[7], uint16(f.TCPFlags)),
		entities.NewUnsigned8InfoElement(g.ies[8], f.SrcMask),
		entities.NewUnsigned8InfoElement(g.ies[9], f.DstMask),
		entities.NewUnsigned64InfoElement(g.ies[10], f.Packets),
		entities.NewUnsigned64InfoElement(g.ies[11], f.Bytes),
		entities.NewDateTimeMillisecondsInfoElement(g.ies[12], uint64(f.Start.UnixMilli())),
		entities.NewDateTimeMillisecondsInfoElement(g.ies[13], uint64(f.End.UnixMilli())),
		entities.NewUnsigned32InfoElement(g.ies[14], f.InIf),
		entities.NewUnsigned32InfoElement(g.ies[15], f.OutIf),
		entities.NewUnsigned32InfoElement(g.ies[16], f.SrcAS),
		entities.NewUnsigned32InfoElement(g.ies[17], f.DstAS),
	}
}

// template returns the message of the template set.
func (g *goIPFIX) template(tb testing.TB, flows []netflow.Flow) []byte {
	set := entities.NewSet(false)
	if err := set.PrepareSet(entities.Template, entities.TemplateSetID); err != nil {
		tb.Fatal(err)
	}
	if err := set.AddRecordV2(g.elements(&flows[0]), 256); err != nil {
		tb.Fatal(err)
	}
	set.UpdateLenInHeader()
	msg, err := ipfixexporter.CreateIPFIXMsg(set, 1, 0, encodeExport)
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

// encode writes flows as one message into g.buf.
func (g *goIPFIX) encode(flows []netflow.Flow) error {
	set := entities.NewSet(false)
	if err := set.PrepareSet(entities.Data, 256); err != nil {
		return err
	}
	for i := range flows {
		if err := set.AddRecordV2(g.elements(&flows[i]), 256); err != nil {
			return err
		}
	}
	set.UpdateLenInHeader()
	g.buf.Reset()
	_, err := ipfixexporter.WriteIPFIXMsgToBuffer(set, 1, g.seq, encodeExport, &g.buf)
	g.seq += uint32(len(flows))
	return err
}

// ---- benchmark ----

// BenchmarkEncode encodes the same 30 flows a call: export.Writer as v5,
// v9 and IPFIX messages (into io.Discard, the messages full at 30), and
// go-ipfix as one IPFIX message.
func BenchmarkEncode(b *testing.B) {
	flows := encodeFlows(nRecords)
	for _, c := range []struct {
		name    string
		version uint16
	}{{"v5", 5}, {"v9", 9}, {"ipfix", 10}} {
		b.Run(c.name+"/impl=netflow", func(b *testing.B) {
			w := newWriter(b, c.version, io.Discard, flows)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := w.WriteFlows(flows); err != nil {
					b.Fatal(err)
				}
				if err := w.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(flows)), "ns/flow")
		})
	}
	b.Run("ipfix/impl=go-ipfix", func(b *testing.B) {
		g := newGoIPFIX(b)
		if err := g.encode(flows); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := g.encode(flows); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(flows)), "ns/flow")
	})
}

// ---- sanity: the encoders do the same work ----

// messages keeps what a Writer writes.
type messages [][]byte

func (m *messages) Write(b []byte) (int, error) {
	*m = append(*m, bytes.Clone(b))
	return len(b), nil
}

// decodeOurs decodes msgs with this module's decoder.
func decodeOurs(tb testing.TB, msgs ...[]byte) []netflow.Flow {
	dec := netflow.NewDecoder(netflow.Config{})
	var flows []netflow.Flow
	for _, m := range msgs {
		p, err := dec.Decode(exporter, m)
		if err != nil {
			tb.Fatal(err)
		}
		flows = p.AppendFlows(flows)
	}
	return flows
}

// TestEncodersSameWork checks that both encoders' messages decode to the
// flows encoded, and that export.Writer's allocate nothing when warm.
func TestEncodersSameWork(t *testing.T) {
	flows := encodeFlows(nRecords)
	var ours messages
	w := newWriter(t, 10, &ours, flows)
	g := newGoIPFIX(t)
	if err := g.encode(flows); err != nil {
		t.Fatal(err)
	}
	theirs := decodeOurs(t, g.template(t, flows), g.buf.Bytes())
	got := decodeOurs(t, ours...)
	if len(got) != len(flows) || len(theirs) != len(flows) {
		t.Fatalf("flows: ours %d, go-ipfix %d, want %d", len(got), len(theirs), len(flows))
	}
	for i := range flows {
		for _, f := range []netflow.Flow{got[i], theirs[i]} {
			if f.SrcAddr != flows[i].SrcAddr || f.Packets != flows[i].Packets || !f.Start.Equal(flows[i].Start) ||
				f.DstAS != flows[i].DstAS || f.TCPFlags != flows[i].TCPFlags {
				t.Fatalf("flow %d: %v, encoded %v", i, f, flows[i])
			}
		}
	}
	w = newWriter(t, 10, io.Discard, flows)
	if n := testing.AllocsPerRun(100, func() { _ = w.WriteFlows(flows); _ = w.Flush() }); n != 0 {
		t.Errorf("export.Writer: %v allocations per 30 flows", n)
	}
}

// TestGoflow2DecodesExport checks that goflow2's decoder reads what
// export.Writer writes, in every version, to the values encoded:
// addresses, ports, bytes and packets of every flow (IPv6 ones too in v9
// and IPFIX).
func TestGoflow2DecodesExport(t *testing.T) {
	flows := encodeFlows(100)
	for i := range flows {
		if i%3 == 1 {
			flows[i].SrcAddr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i)})
			flows[i].DstAddr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 15: byte(i)})
			flows[i].NextHop = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 2, 15: 1})
		}
	}
	for _, version := range []uint16{5, 9, 10} {
		in := flows
		if version == 5 {
			in = encodeFlows(100)
		}
		var msgs messages
		newWriter(t, version, &msgs, in)
		th := &theirs{templates: gfnetflow.CreateTemplateSystem()}
		var keys []key
		for i, m := range msgs {
			if err := th.decode(m); err != nil {
				t.Fatalf("v%d message %d: goflow2: %v", version, i, err)
			}
			keys = append(keys, th.keys()...)
		}
		if len(keys) != len(in) {
			t.Fatalf("v%d: goflow2 decoded %d flows, %d written", version, len(keys), len(in))
		}
		for i, f := range in {
			want := key{f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Bytes, f.Packets}
			if keys[i] != want {
				t.Errorf("v%d flow %d: goflow2 %+v, written %+v", version, i, keys[i], want)
			}
		}
	}
}
