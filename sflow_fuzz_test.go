package netflow

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// sflowFixtureDatagrams returns the datagrams of testdata/sflow.
func sflowFixtureDatagrams(tb testing.TB) [][]byte {
	var out [][]byte
	for _, pat := range []string{"*/*.bin", "*/*.pcap"} {
		files, err := filepath.Glob(filepath.Join("testdata", "sflow", pat))
		require.NoError(tb, err)
		for _, f := range files {
			out = append(out, fixturePayloads(tb, f)...)
		}
	}
	return out
}

// FuzzSFlow decodes 00 00 00 05 followed by the input: every input is an
// sFlow datagram to the decoder, seeded with every sFlow fixture and built
// datagrams of every structure and tunnel. Besides FuzzDecode's invariants
// it checks the typed packet (structures within the datagram), that fields
// a flow does not know are zero, and that decapsulation changes only the
// header fields.
func FuzzSFlow(f *testing.F) {
	seeds := sflowFixtureDatagrams(f)
	seeds = append(seeds, buildSFlow(3))
	for _, c := range tunnelCases() {
		seeds = append(seeds, testkit.SFlowDatagram(sfAgent, 1, 2, 3, testkit.SFlowFlowSample(sfHead(1), testkit.SFlowRawHeader(1, 100, 0, c.frame))))
	}
	seeds = append(seeds, testkit.SFlowDatagram(sfAgent, 0, 1, 1,
		testkit.SFlowExpandedFlowSample(sfHead(1), testkit.SFlowRouter(sfHop, 8, 16),
			testkit.SFlowGateway(sfBGPHop, 1, 2, 3, []uint32{4, 5}, []uint32{6}, 7), testkit.SFlowNAT(sfSrc, sfDst)),
		testkit.SFlowCounterSample(2, 0, 1, testkit.SFlowInterfaceCounters{IfIndex: 3}.Record())))
	for _, s := range seeds {
		if isSFlow(s) {
			f.Add(s[4:])
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		data := append([]byte{0, 0, 0, 5}, body...)
		var problem error
		withWatchdog(t, fuzzTimeout, func() {
			if problem = fuzzDecodeOnce(data); problem == nil {
				problem = fuzzSFlowOnce(data)
			}
		})
		require.NoError(t, problem)
	})
}

func fuzzSFlowOnce(data []byte) error {
	p, err := NewDecoder(Config{Now: sflowTestNow}).Decode(testExporter, data)
	pd, errd := NewDecoder(Config{Now: sflowTestNow, Decapsulate: true}).Decode(testExporter, data)
	if (err == nil) != (errd == nil) || (p == nil) != (pd == nil) {
		return fmt.Errorf("decapsulation changed the decode: %v, %v", err, errd)
	}
	if err != nil {
		var de *DecodeError
		if !errors.As(err, &de) && !errors.As(errors.Unwrap(err), &de) {
			return fmt.Errorf("error without *DecodeError: %v", err)
		}
	}
	if p == nil {
		return nil
	}
	sp := p.(*SFlowPacket)
	within := func(b []byte) bool {
		if len(b) == 0 {
			return true
		}
		start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		at := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		return at >= start && at+uintptr(len(b)) <= start+uintptr(len(data))
	}
	for i := range sp.FlowSamples {
		s := &sp.FlowSamples[i]
		for _, r := range s.Records {
			if !within(r.Data) {
				return fmt.Errorf("flow sample %d: a record outside the datagram", i)
			}
		}
		if s.Has&SFlowHasHeader != 0 && !within(s.Header.Bytes) {
			return fmt.Errorf("flow sample %d: the header outside the datagram", i)
		}
		_ = s.Gateway.AppendASPath(nil)
		_ = s.Gateway.AppendCommunities(nil)
		_ = s.MPLS.AppendInStack(nil)
	}
	for _, s := range sp.OtherSamples {
		if !within(s.Data) {
			return errors.New("a sample outside the datagram")
		}
	}
	_ = sp.AppendInterfaceCounters(nil)
	flows, dflows := p.AppendFlows(nil), pd.AppendFlows(nil)
	if len(flows) != len(dflows) {
		return fmt.Errorf("decapsulation: %d flows, %d without", len(dflows), len(flows))
	}
	for i := range flows {
		for _, f := range []*Flow{&flows[i], &dflows[i]} {
			g := *f
			zeroUnknownHeaderFields(&g)
			if g != *f {
				return fmt.Errorf("flow %d: a header field not known is not zero: %+v", i, *f)
			}
		}
		// Decapsulation changes the header fields only.
		a, b := flows[i], dflows[i]
		a.Known &^= headerFields
		b.Known &^= headerFields
		clearHeaderFields(&a)
		clearHeaderFields(&b)
		if a != b {
			return fmt.Errorf("flow %d: decapsulation changed more than the header's fields", i)
		}
	}
	return nil
}

// clearHeaderFields zeroes the fields the packet header parser fills.
func clearHeaderFields(f *Flow) {
	k := f.Known
	f.Known = 0
	zeroUnknownHeaderFields(f)
	f.Known = k
}

// FuzzPacketHeader parses any bytes as a packet header from every start,
// with and without decapsulation: no panic, only header fields known, and
// the unknown ones zero.
func FuzzPacketHeader(f *testing.F) {
	for _, c := range tunnelCases() {
		f.Add(c.frame)
	}
	f.Add(tcp4())
	f.Add(testkit.IPv6(phSrc6, phDst6, 0, 0, append(ipv6Ext(44, 0), 6, 0, 0, 1, 0, 0, 0, 0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		for start := startEthernet; start <= startTransport; start++ {
			for _, decap := range []bool{false, true} {
				var fl Flow
				if start == startTransport { // it reads the protocol
					fl.Proto, fl.Known = protoUDP, FieldProto
				}
				parsePacketHeader(&fl, b, start, decap)
				require.Zero(t, fl.Known&^headerFields)
				g := fl
				zeroUnknownHeaderFields(&g)
				require.Equal(t, g, fl)
			}
		}
	})
}
