package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/require"
)

// A live export with sampling: real softflowd (-v 10 -s 10, periodic
// sampling of one packet in ten) reads a generated capture of one-packet
// UDP flows and exports IPFIX over UDP to the test, which then replays the
// datagrams over three collectors sharing Redis. The expectation comes from
// the input and softflowd's configuration, not from a decoder: every
// exported flow is one of the input's, with one packet, its IP length in
// bytes, and sampling interval 10; one flow in ten is exported.

const (
	sampledFlows    = 3000
	samplingRate    = 10
	sampledPayload  = 30
	sampledIPLength = 20 + 8 + sampledPayload
)

// sampledInput writes a capture of sampledFlows one-packet UDP flows, flow
// i from 192.0.2.(i/250+1):(20000+i) to 198.51.100.(i%250+1):9000, one
// millisecond apart, and returns the flows' keys.
func sampledInput(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w := pcapgo.NewWriter(f)
	require.NoError(t, w.WriteFileHeader(65536, layers.LinkTypeEthernet))
	base := time.Date(2023, 11, 14, 22, 13, 20, 0, time.UTC)
	keys := make(map[string]bool, sampledFlows)
	for i := range sampledFlows {
		src := netip.AddrFrom4([4]byte{192, 0, 2, byte(i/250 + 1)})
		dst := netip.AddrFrom4([4]byte{198, 51, 100, byte(i%250 + 1)})
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		udp := &layers.UDP{SrcPort: layers.UDPPort(20000 + i), DstPort: 9000}
		require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
		buf := gopacket.NewSerializeBuffer()
		require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
			eth, ip, udp, gopacket.Payload(make([]byte, sampledPayload))))
		ts := base.Add(time.Duration(i) * time.Millisecond)
		require.NoError(t, w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(buf.Bytes()), Length: len(buf.Bytes())}, buf.Bytes()))
		keys[fmt.Sprintf("%v:%d>%v:%d/17 p1 b%d s%d", src, 20000+i, dst, 9000, sampledIPLength, samplingRate)] = true
	}
	return keys
}

// sampledKey is the key of a flow line as sampledInput keys the input.
func (f collectorFlow) sampledKey() string {
	return fmt.Sprintf("%s:%d>%s:%d/%d p%d b%d s%d", f.SrcAddr, f.SrcPort, f.DstAddr, f.DstPort, f.Proto, f.Packets, f.Bytes, f.Sampling)
}

// softflowdExport runs softflowd over input, exporting IPFIX over UDP with
// sampling to a socket of the test, and returns the datagrams it sent.
func softflowdExport(t *testing.T, input string) [][]byte {
	t.Helper()
	bin := testkit.NeedTool(t, "softflowd")
	l, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	require.NoError(t, err)
	defer l.Close()
	dir := filepath.Dir(input)
	cmd := exec.Command(bin, "-r", filepath.Base(input), "-a", "-d", "-c", "none", "-p", filepath.Join(dir, "softflowd.pid"),
		"-n", l.LocalAddr().String(), "-v", "10", "-s", fmt.Sprint(samplingRate))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput() // softflowd -r exports everything and exits
	require.NoError(t, err, "softflowd: %s", out)
	var msgs [][]byte
	buf := make([]byte, 65536)
	for {
		require.NoError(t, l.SetReadDeadline(time.Now().Add(500*time.Millisecond)))
		n, err := l.Read(buf)
		if err != nil {
			break // nothing for half a second after softflowd exited: all read
		}
		msgs = append(msgs, append([]byte(nil), buf[:n]...))
	}
	return msgs
}

// TestCollectorsShareRedisSampled: softflowd's sampled export spread over
// three collectors on one Redis: the union equals one collector's decode,
// and every flow is scaled by the sampling interval softflowd was given,
// including on the collectors that never saw the options record.
func TestCollectorsShareRedisSampled(t *testing.T) {
	t.Parallel() // a collector process: waits
	r := redistest.Start(t)
	input := filepath.Join(t.TempDir(), "input.pcap")
	inputFlows := sampledInput(t, input)
	msgs := softflowdExport(t, input)
	require.GreaterOrEqual(t, len(msgs), 5, "datagrams from softflowd")
	require.Positive(t, templateCount(t, msgs[0]), "templates in the first datagram")
	for i, m := range msgs[1:] {
		require.Zero(t, templateCount(t, m), "datagram %d: data only", i+1)
	}

	ex := newExporter(t)
	single := startCollector(t)
	for _, m := range msgs {
		ex.send(single.addr, m)
	}
	want := sampledFlows/samplingRate + 1 // and the options record
	single.waitLines(want, "single collector")
	single.stop()
	lines := outputLines(single.stdout.String())
	require.Len(t, lines, want)

	// Lines per datagram, by the IPFIX sequence number (records exported
	// before the message) each flow line carries.
	bySeq := map[uint32]int{}
	for _, line := range lines {
		var f struct {
			Options  bool   `json:"options"`
			Sequence uint32 `json:"sequence"`
		}
		require.NoError(t, json.Unmarshal([]byte(line), &f))
		if !f.Options {
			bySeq[f.Sequence]++
		}
	}
	perMsg := make([]int, len(msgs))
	for i, m := range msgs {
		perMsg[i] = bySeq[binary.BigEndian.Uint32(m[8:])]
	}
	perMsg[0]++ // the options record

	got := shareRedis(t, r, ex, msgs, perMsg)
	require.ElementsMatch(t, lines, got, "the union of the three collectors' output against one collector's")
	n := 0
	for _, line := range got {
		var f collectorFlow
		require.NoError(t, json.Unmarshal([]byte(line), &f))
		if f.Options {
			continue
		}
		n++
		key := f.sampledKey()
		require.True(t, inputFlows[key], "flow %s is not one of the input's, with sampling interval %d", key, samplingRate)
		delete(inputFlows, key)
	}
	require.Equal(t, sampledFlows/samplingRate, n, "one flow in %d exported", samplingRate)
}
