package receiver_test

import (
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
	"github.com/stretchr/testify/require"
)

// releasedSink records the Datagrams a Receiver hands over, released ones
// apart.
type releasedSink struct {
	mu       sync.Mutex
	flows    []netflow.Flow // of every Datagram
	released []receiver.Datagram
	options  int // options records in released Datagrams
}

func (s *releasedSink) handle(d *receiver.Datagram) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.Packet != nil {
		s.flows = d.Packet.AppendFlows(s.flows)
	}
	if !d.Released {
		return
	}
	cp := *d
	cp.Packet = nil // the packet is the receiver's: keep what was asked
	s.released = append(s.released, cp)
	if p, ok := d.Packet.(*netflow.V9Packet); ok {
		for _, ds := range p.DataSets {
			if ds.Options() {
				s.options += len(ds.Records)
			}
		}
	}
}

func (s *releasedSink) snapshot() (flows []netflow.Flow, released []receiver.Datagram, options int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netflow.Flow(nil), s.flows...), append([]receiver.Datagram(nil), s.released...), s.options
}

// TestReleasedDatagrams: three receivers whose decoders share a store (as
// three collectors share Redis) get the four datagrams of an exporter with
// a sampler round-robin (options template to 0, options data to 1,
// template to 2, data to 0), each data datagram before its template.
// Nothing else is sent, yet receiver 1 hands its options data and receiver
// 0 the 4 flows, scaled by the options data's interval, to their handlers
// as released Datagrams. (Before, held data waited for the exporter's next
// datagram to the same receiver: 0 of 4 flows.)
func TestReleasedDatagrams(t *testing.T) {
	rxNoLeak(t)
	store := netflow.NewMemoryStore(netflow.MemoryStoreConfig{})
	var (
		sinks [3]releasedSink
		decs  [3]*netflow.Decoder
		rxs   [3]*receiver.Receiver
		addrs [3]netip.AddrPort
	)
	for i := range rxs {
		decs[i] = netflow.NewDecoder(netflow.Config{Store: store})
		defer decs[i].Close()
		rxs[i] = receiver.New(sinks[i].handle, receiver.Config{Decoder: decs[i], Workers: 1})
		a, cancel, err := rxs[i].Listen(t.Context(), "127.0.0.1:0")
		require.NoError(t, err)
		defer cancel()
		addrs[i] = a
	}
	ex, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer ex.Close()
	exporter := ex.LocalAddr().(*net.UDPAddr).AddrPort()
	send := func(i int, b []byte) {
		t.Helper()
		_, err := ex.WriteToUDPAddrPort(b, addrs[i])
		require.NoError(t, err)
	}
	held := func(i, n int) func() bool {
		return func() bool { return decs[i].Stats().Pending.Held == n }
	}

	fields := append(append([]testkit.Field(nil), testkit.V9Fields...), testkit.Field{ID: 48, Length: 1})
	optTemplate := testkit.V9Packet(1, 1, testkit.Set(1, testkit.V9OptionsTemplate(300,
		[]testkit.Field{{ID: 1, Length: 4}}, []testkit.Field{{ID: 48, Length: 1}, {ID: 34, Length: 4}}), true))
	optData := testkit.V9Packet(1, 2, testkit.Set(300, append(append(testkit.UintBytes(0, 4), 1), testkit.UintBytes(100, 4)...), true))
	template := testkit.V9Packet(1, 3, testkit.Set(0, testkit.TemplateRecord(256, fields...), true))
	data := testkit.V9Packet(1, 4, testkit.Set(256, testkit.FlowRecordsWith(testkit.V9Fields, 4, func(int) []byte { return []byte{1} }), true))

	send(0, data)
	rxWaitFor(t, "receiver 0 holds the data", held(0, 1))
	send(1, optData)
	rxWaitFor(t, "receiver 1 holds the options data", held(1, 1))
	send(0, optTemplate)
	rxWaitFor(t, "receiver 1 releases the options data", func() bool { _, _, o := sinks[1].snapshot(); return o == 1 })
	rxWaitFor(t, "the options state reaches the store", func() bool {
		_, ok := decs[0].ExporterState(exporter, 9, 1)
		return ok
	})
	send(2, template)
	rxWaitFor(t, "receiver 0 releases the 4 flows", func() bool { f, _, _ := sinks[0].snapshot(); return len(f) == 4 })

	flows, released, _ := sinks[0].snapshot()
	for i, f := range flows {
		w := testkit.FlowN(i)
		require.Equal(t, w.Src, f.SrcAddr)
		require.Equal(t, uint64(w.Octets), f.Bytes)
		require.Equal(t, uint32(100), f.SamplingInterval, "the interval of the options data receiver 1 released")
	}
	require.Len(t, released, 1)
	d := released[0]
	require.True(t, d.Released)
	require.Nil(t, d.Data)
	require.NoError(t, d.Err)
	require.Equal(t, exporter, d.Exporter)
	require.Equal(t, receiver.UDP, d.Transport)
	require.False(t, d.Received.IsZero())

	st := rxs[0].Stats()
	require.Equal(t, uint64(1), st.Total.Released)
	require.Equal(t, uint64(4), st.Total.Flows, "the released flows")
	require.Equal(t, uint64(2), st.Total.Datagrams)
	require.Equal(t, uint64(1), st.Exporters[exporter].Released)
	require.Equal(t, uint64(1), rxs[1].Stats().Total.Released)
	require.Zero(t, rxs[2].Stats().Total.Released)
	for i := range decs {
		require.Zero(t, decs[i].Stats().Pending.Held, "decoder %d", i)
	}
}
