package export_test

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
)

// byteSource reads fuzz input as values; past its end it reads zeros.
type byteSource struct{ b []byte }

func (s *byteSource) u8() uint8 {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *byteSource) u16() uint16 { return uint16(s.u8())<<8 | uint16(s.u8()) }
func (s *byteSource) u32() uint32 { return uint32(s.u16())<<16 | uint32(s.u16()) }
func (s *byteSource) u64() uint64 { return uint64(s.u32())<<32 | uint64(s.u32()) }

// addr reads an IPv4 or (v6) IPv6 address.
func (s *byteSource) addr(v6 bool) netip.Addr {
	if v6 {
		var b [16]byte
		for i := range b {
			b[i] = s.u8()
		}
		return netip.AddrFrom16(b)
	}
	return netip.AddrFrom4([4]byte{s.u8(), s.u8(), s.u8(), s.u8()})
}

// fuzzFlow reads one flow: any values, within or beyond what a version
// carries, times up to about 50 days around testExport.
func fuzzFlow(s *byteSource) netflow.Flow {
	flags := s.u8()
	v6 := flags&1 != 0
	f := netflow.Flow{
		Known:   netflow.FlowFields(s.u64()) & (netflow.FieldScaled - 1) &^ netflow.FieldSequence,
		SrcAddr: s.addr(v6), DstAddr: s.addr(v6), NextHop: s.addr(flags&2 != 0),
		SrcPort: s.u16(), DstPort: s.u16(), Proto: s.u8(), ToS: s.u8(), TCPFlags: s.u8(),
		SrcMask: s.u8(), DstMask: s.u8(),
		Packets: s.u64() >> (s.u8() % 64), Bytes: s.u64() >> (s.u8() % 64),
		InIf: s.u32() >> (s.u8() % 32), OutIf: s.u32() >> (s.u8() % 32),
		SrcAS: s.u32() >> (s.u8() % 32), DstAS: s.u32() >> (s.u8() % 32),
		SamplingInterval: s.u32() >> (s.u8() % 32),
		Domain:           uint32(s.u8() % 3),
	}
	f.Start = testExport.Add(time.Duration(int32(s.u32())) * time.Millisecond * 2)
	f.End = f.Start.Add(time.Duration(s.u32()))
	if flags&4 != 0 {
		f.SrcMAC, f.DstMAC = netflow.MAC{s.u8(), s.u8(), 0, 0, 0, s.u8()}, netflow.MAC{s.u8(), 0, 0, 0, 0, s.u8()}
		f.VLAN, f.PostVLAN, f.EthType = s.u16(), s.u16(), s.u16()
		f.Direction, f.EndReason, f.IPVersion = s.u8(), s.u8(), s.u8()
		f.ICMPType, f.ICMPCode = s.u8(), s.u8()
		f.MPLSLabel = s.u32() >> (s.u8() % 32)
		f.InVRF, f.OutVRF = s.u32(), s.u32()
		f.BGPNextHop, f.PostNATSrcAddr, f.PostNATDstAddr = s.addr(flags&8 != 0), s.addr(flags&16 != 0), s.addr(v6)
		f.PostNATSrcPort, f.PostNATDstPort = s.u16(), s.u16()
	}
	zeroUnknown(&f)
	return f
}

// FuzzRoundTrip writes fuzz-made flows with every version and time format
// and checks that what the writer accepts decodes to the flow as its
// version carries it, that what it refuses is refused with a sentinel,
// and (v9, IPFIX) that the decoded records written again with
// WriteRecords decode to the same bytes.
func FuzzRoundTrip(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 16 {
		b := make([]byte, 400)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		f.Add(b)
	}
	f.Add([]byte{1, 0})
	f.Add([]byte{4, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		s := &byteSource{b: data}
		version := []uint16{1, 5, 7, 9, 10}[s.u8()%5]
		cfg := export.Config{Version: version, Now: fixedNow, MaxTemplates: 64}
		if version >= 9 {
			cfg.TimeFormat = export.TimeFormat(s.u8() % 7)
		}
		if s.u8()%4 == 0 {
			cfg.MTU = 100 + int(s.u16()%2000)
		}
		var out messages
		w, err := export.NewWriter(&out, cfg)
		if err != nil {
			if !errors.Is(err, netflow.ErrLimit) {
				t.Fatalf("NewWriter: %v", err)
			}
			return
		}
		var kept []netflow.Flow
		for len(s.b) > 0 && len(kept) < 64 {
			fl := fuzzFlow(s)
			if err := w.WriteFlows([]netflow.Flow{fl}); err != nil {
				if !errors.Is(err, export.ErrRange) && !errors.Is(err, netflow.ErrLimit) && !errors.Is(err, netflow.ErrMalformed) {
					t.Fatalf("refusal matches no sentinel: %v", err)
				}
				continue
			}
			kept = append(kept, fl)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		mtu := cfg.MTU
		if mtu == 0 {
			mtu = export.DefaultMTU
		}
		for i, m := range out.msgs {
			if len(m) > mtu {
				t.Fatalf("message %d of %d bytes, MTU %d", i, len(m), mtu)
			}
		}
		got := byDomain(decodeAll(t, out.msgs))
		if len(got) != len(kept) {
			t.Fatalf("%d flows decoded, %d written", len(got), len(kept))
		}
		for i := range kept {
			kept[i] = want(kept[i], cfg)
		}
		kept = byDomain(kept)
		res := resolution(cfg.Version, cfg.TimeFormat)
		for i := range kept {
			g := got[i]
			g.Sequence = 0
			g.Start, g.End = g.Start.Truncate(res), g.End.Truncate(res)
			if !equalFlows(kept[i], g) {
				t.Fatalf("flow %d:\nwant %v\ngot  %v", i, kept[i], g)
			}
		}
		if version >= 9 {
			checkRewrite(t, out.msgs)
		}
	})
}

// checkRewrite decodes msgs, writes their records again with WriteRecords
// and checks that they decode to the same bytes and templates, domain by
// domain: each domain's message fills up on its own, so records of
// several domains may come out in another order across domains than they
// went in (a small MTU's early message of one domain, then another's).
func checkRewrite(t *testing.T, msgs [][]byte) {
	t.Helper()
	dec := netflow.NewDecoder(netflow.Config{})
	var w *export.Writer
	var out messages
	orig := map[uint32][]netflow.Record{}
	for _, m := range msgs {
		p, err := dec.Decode(testExporter, m)
		if err != nil {
			t.Fatal(err)
		}
		if w == nil {
			if w, err = export.NewWriter(&out, export.Config{Version: p.Version(), Now: fixedNow}); err != nil {
				t.Fatal(err)
			}
		}
		h, _ := export.HeaderOf(p)
		for _, ds := range setsOf(p).DataSets {
			if err := w.WriteRecords(h, ds.Records); err != nil {
				t.Fatal(err)
			}
			for _, r := range ds.Records {
				orig[h.Domain] = append(orig[h.Domain], netflow.Record{Template: r.Template, Data: append([]byte(nil), r.Data...)})
			}
		}
	}
	if w == nil {
		return
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	dec = netflow.NewDecoder(netflow.Config{})
	next := map[uint32]int{}
	for _, m := range out.msgs {
		p, err := dec.Decode(testExporter, m)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := export.HeaderOf(p)
		want := orig[h.Domain]
		for _, ds := range setsOf(p).DataSets {
			for _, r := range ds.Records {
				i := next[h.Domain]
				if i >= len(want) {
					t.Fatalf("domain %d: more records than written", h.Domain)
				}
				if string(r.Data) != string(want[i].Data) || len(r.Template.Fields) != len(want[i].Template.Fields) {
					t.Fatalf("domain %d record %d: %x of %v, want %x of %v", h.Domain, i, r.Data, r.Template.Fields, want[i].Data, want[i].Template.Fields)
				}
				next[h.Domain]++
			}
		}
	}
	for d, want := range orig {
		if next[d] != len(want) {
			t.Fatalf("domain %d: %d records, want %d", d, next[d], len(want))
		}
	}
}

// setsOf returns the sets of a v9 or IPFIX packet.
func setsOf(p netflow.Packet) *netflow.Sets {
	if p9, ok := p.(*netflow.V9Packet); ok {
		return &p9.Sets
	}
	return &p.(*netflow.IPFIXPacket).Sets
}
