package receiver_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/flowkit/netflow/receiver"
)

// rxTraffic is the input pcap of the softflowd test: five unidirectional
// flows between documentation addresses.
type rxFlowKey struct {
	src, dst     netip.Addr
	sport, dport uint16
	proto        uint8
}

func (k rxFlowKey) String() string {
	return fmt.Sprintf("%v:%d->%v:%d proto %d", k.src, k.sport, k.dst, k.dport, k.proto)
}

type rxFlowWant struct {
	packets, bytes uint64
	tcpFlags       uint8
	start, end     time.Time
}

type rxPkt struct {
	src, dst     string
	sport, dport uint16
	tcpFlags     uint8 // 0 for UDP
	udp          bool
	payload      int
}

func rxWritePcap(t *testing.T, path string, base time.Time) map[rxFlowKey]*rxFlowWant {
	const syn, psh, ack = 0x02, 0x08, 0x10
	pkts := []rxPkt{
		{"192.0.2.10", "198.51.100.20", 40001, 80, syn, false, 0},
		{"198.51.100.20", "192.0.2.10", 80, 40001, syn | ack, false, 0},
		{"192.0.2.10", "198.51.100.20", 40001, 80, ack | psh, false, 100},
		{"198.51.100.20", "192.0.2.10", 80, 40001, ack, false, 300},
		{"192.0.2.10", "198.51.100.20", 40001, 80, ack, false, 200},
		{"192.0.2.11", "198.51.100.21", 5353, 53, 0, true, 40},
		{"198.51.100.21", "192.0.2.11", 53, 5353, 0, true, 120},
		{"192.0.2.11", "198.51.100.21", 5353, 53, 0, true, 60},
		{"203.0.113.5", "192.0.2.12", 123, 123, 0, true, 48},
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	want := make(map[rxFlowKey]*rxFlowWant)
	for i, p := range pkts {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2},
			EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, SrcIP: net.ParseIP(p.src).To4(), DstIP: net.ParseIP(p.dst).To4()}
		var l4 gopacket.SerializableLayer
		l4len := 20
		if p.udp {
			ip.Protocol = layers.IPProtocolUDP
			u := &layers.UDP{SrcPort: layers.UDPPort(p.sport), DstPort: layers.UDPPort(p.dport)}
			u.SetNetworkLayerForChecksum(ip)
			l4, l4len = u, 8
		} else {
			ip.Protocol = layers.IPProtocolTCP
			tc := &layers.TCP{SrcPort: layers.TCPPort(p.sport), DstPort: layers.TCPPort(p.dport), Seq: uint32(i), Window: 65535,
				SYN: p.tcpFlags&syn != 0, ACK: p.tcpFlags&ack != 0, PSH: p.tcpFlags&psh != 0}
			tc.SetNetworkLayerForChecksum(ip)
			l4 = tc
		}
		buf := gopacket.NewSerializeBuffer()
		err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, l4, gopacket.Payload(make([]byte, p.payload)))
		if err != nil {
			t.Fatal(err)
		}
		ts := base.Add(time.Duration(i) * 100 * time.Millisecond)
		frame := buf.Bytes()
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			t.Fatal(err)
		}
		k := rxFlowKey{netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst), p.sport, p.dport, uint8(ip.Protocol)}
		fw := want[k]
		if fw == nil {
			fw = &rxFlowWant{start: ts}
			want[k] = fw
		}
		fw.packets++
		// softflowd counts the frame less the Ethernet header,
		// padding of short frames included.
		fw.bytes += uint64(len(frame) - 14)
		if len(frame)-14 < 20+l4len+p.payload {
			t.Fatalf("frame %d: %d bytes", i, len(frame))
		}
		fw.tcpFlags |= p.tcpFlags
		fw.end = ts
	}
	return want
}

// TestReceiverSoftflowd runs the softflowd exporter on a pcap made here and
// checks the flows the receiver hands over against the traffic in it.
func TestReceiverSoftflowd(t *testing.T) {
	bin := testkit.NeedTool(t, "softflowd")
	base := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	in := filepath.Join(t.TempDir(), "in.pcap")
	want := rxWritePcap(t, in, base)
	for _, version := range []int{1, 5, 9, 10} {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			rxNoLeak(t)
			var sink rxSink
			r := receiver.New(sink.handle, receiver.Config{Workers: 2})
			addr, cancel, err := r.Listen(context.Background(), "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			ctx, stop := context.WithTimeout(context.Background(), time.Minute)
			defer stop()
			cmd := exec.CommandContext(ctx, bin, "-r", in, "-a", "-d", "-c", "none",
				"-p", filepath.Join(t.TempDir(), "pid"), "-n", addr.String(), "-v", fmt.Sprint(version))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", cmd, err, out)
			}
			rxWaitFor(t, "flows", func() bool {
				st := r.Stats().Total
				return st.Flows >= uint64(len(want)) || st.Failed > 0
			})
			time.Sleep(50 * time.Millisecond) // anything more would be a duplicate
			cancel()
			st := r.Stats()
			if st.Total.Failed > 0 {
				t.Fatalf("decode errors: %v", sink.errs)
			}
			got := make(map[rxFlowKey]netflow.Flow)
			for _, f := range sink.flows {
				k := rxFlowKey{f.SrcAddr, f.DstAddr, f.SrcPort, f.DstPort, f.Proto}
				if _, dup := got[k]; dup {
					t.Errorf("flow %v exported twice", k)
				}
				got[k] = f
			}
			for k, w := range want {
				f, ok := got[k]
				if !ok {
					t.Errorf("flow %v missing", k)
					continue
				}
				if f.Packets != w.packets || f.Bytes != w.bytes {
					t.Errorf("flow %v: %d packets, %d bytes; want %d, %d", k, f.Packets, f.Bytes, w.packets, w.bytes)
				}
				if k.proto == 6 && f.Known.Has(netflow.FieldTCPFlags) && f.TCPFlags != w.tcpFlags {
					t.Errorf("flow %v: TCP flags %#x, want %#x", k, f.TCPFlags, w.tcpFlags)
				}
				if int(f.Version) != version {
					t.Errorf("flow %v: version %d", k, f.Version)
				}
				if f.Exporter.Addr() != netip.MustParseAddr("127.0.0.1") {
					t.Errorf("flow %v: exporter %v", k, f.Exporter)
				}
				// The traffic spans base to base+0.8s. softflowd gives
				// both directions the times of the whole conversation,
				// and a v9 header carries the export time in whole
				// seconds only, so times may come up to 1s early.
				if f.Known.Has(netflow.FieldStart|netflow.FieldEnd) &&
					(f.Start.Before(base.Add(-time.Second)) || f.End.After(base.Add(time.Second)) || f.End.Before(f.Start)) {
					t.Errorf("flow %v: start %v end %v, want within %v and %v", k, f.Start, f.End, w.start, w.end)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d flows, want %d", len(got), len(want))
			}
			if st.Total.Flows != uint64(len(sink.flows)) || st.Total.Datagrams != st.Total.Decoded {
				t.Errorf("counters %+v, %d flows handed over", st.Total, len(sink.flows))
			}
			t.Logf("v%d: %d datagrams, %d flows from softflowd %v", version, st.Total.Datagrams, st.Total.Flows, addr)
		})
	}
}
