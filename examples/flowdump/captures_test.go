package main

// Synthetic captures: pcap and pcapng files written by the tests, with
// link types, VLAN tags, IPv6, IPv4 fragments and a cut last frame.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// v5Messages are the twelve v5 datagrams of netflow5.dat (2, 4, 4, 4
// flows, then 2 each).
func v5Messages(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile(td + "logstash-codec-netflow/netflow5.dat")
	require.NoError(t, err)
	var msgs [][]byte
	for len(b) > 0 {
		n := 24 + 48*int(binary.BigEndian.Uint16(b[2:]))
		msgs = append(msgs, b[:n])
		b = b[n:]
	}
	require.Len(t, msgs, 12, "netflow5.dat messages")
	return msgs
}

// ipUDP serializes an IPv4 or IPv6 packet holding one UDP datagram.
func ipUDP(t *testing.T, src, dst netip.AddrPort, payload []byte) []byte {
	t.Helper()
	udp := &layers.UDP{SrcPort: layers.UDPPort(src.Port()), DstPort: layers.UDPPort(dst.Port())}
	var ip gopacket.SerializableLayer
	if src.Addr().Is4() {
		ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		udp.SetNetworkLayerForChecksum(ip4)
		ip = ip4
	} else {
		ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		udp.SetNetworkLayerForChecksum(ip6)
		ip = ip6
	}
	return serialize(t, ip, udp, gopacket.Payload(payload))
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...))
	return slices.Clone(buf.Bytes())
}

// ethernet puts an IP packet in an Ethernet frame.
func ethernet(t *testing.T, ip []byte) []byte {
	t.Helper()
	et := layers.EthernetTypeIPv4
	if ip[0]>>4 == 6 {
		et = layers.EthernetTypeIPv6
	}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: et}
	return serialize(t, eth, gopacket.Payload(ip))
}

var (
	exporter4 = netip.MustParseAddrPort("192.0.2.1:40000")
	exporter6 = netip.MustParseAddrPort("[2001:db8::1]:40001")
	collector = netip.MustParseAddrPort("192.0.2.9:2055")
	dns       = netip.MustParseAddrPort("192.0.2.53:53")
)

// writeNg writes a pcapng file with an Ethernet interface (0) and a raw IP
// interface (1).
func writeNg(t *testing.T, frames []gopacket.CaptureInfo, data [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "capture.pcapng")
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	require.NoError(t, err)
	_, err = w.AddInterface(pcapgo.NgInterface{Name: "raw", LinkType: layers.LinkTypeRaw, SnapLength: 65535})
	require.NoError(t, err)
	for i := range frames {
		require.NoError(t, w.WritePacket(frames[i], data[i]))
	}
	require.NoError(t, w.Flush())
	return path
}

func frame(iface int, data []byte) gopacket.CaptureInfo {
	return gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, 0), CaptureLength: len(data), Length: len(data), InterfaceIndex: iface}
}

// TestPcapngAndPort reads a pcapng capture with two link types, IPv4 and
// IPv6, a TCP segment and a DNS datagram, with and without -port.
func TestPcapngAndPort(t *testing.T) {
	msgs := v5Messages(t)
	v6collector := netip.MustParseAddrPort("[2001:db8::9]:9995")
	tcpIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 9}}
	tcpSeg := &layers.TCP{SrcPort: 1, DstPort: 2055}
	tcpSeg.SetNetworkLayerForChecksum(tcpIP)
	tcp := serialize(t, tcpIP, tcpSeg, gopacket.Payload(msgs[0]))
	data := [][]byte{
		ethernet(t, ipUDP(t, exporter4, collector, msgs[0])),
		ethernet(t, tcp),
		ipUDP(t, dns, netip.MustParseAddrPort("192.0.2.9:53"), []byte("\x12\x34\x01\x00 not netflow")),
		ipUDP(t, exporter6, v6collector, msgs[1]),
		ethernet(t, ipUDP(t, exporter4, collector, msgs[2])),
	}
	infos := []gopacket.CaptureInfo{frame(0, data[0]), frame(0, data[1]), frame(1, data[2]), frame(1, data[3]), frame(0, data[4])}
	path := writeNg(t, infos, data)

	out, errOut, code := flowdump(t, "-json", path)
	assert.Equal(t, 0, code, "exit code")
	assert.Contains(t, errOut, "datagram 1 (frame 3, exporter 192.0.2.53:53)", "the error line for the DNS datagram")
	assert.Len(t, lines(errOut), 1, "one error line:\n%s", errOut)
	counts := map[string]int{}
	for _, o := range jsonLines(t, out) {
		counts[o.str("exporter")]++
	}
	assert.Equal(t, map[string]int{"192.0.2.1:40000": 2 + 4, "[2001:db8::1]:40001": 4}, counts, "flows by exporter")

	out, errOut, code = flowdump(t, "-json", "-port", "2055", path)
	assert.Equal(t, 0, code, "-port 2055: exit code")
	assert.Empty(t, errOut, "-port 2055: stderr")
	assert.Len(t, jsonLines(t, out), 6, "-port 2055: flows")
	out, _, _ = flowdump(t, "-json", "-port", "9995", path)
	objs := jsonLines(t, out)
	if assert.Len(t, objs, 4, "-port 9995") {
		assert.Equal(t, "[2001:db8::1]:40001", objs[0].str("exporter"), "-port 9995")
		assert.Equal(t, "10.0.2.2", objs[0].str("src_addr"), "-port 9995")
	}
}

// writePcap writes a pcap file of link type lt (written by hand, for link
// types above 255 that gopacket's LinkType cannot hold).
func writePcap(t *testing.T, lt uint32, frames ...[]byte) string {
	t.Helper()
	var b bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], lt)
	b.Write(hdr)
	w := pcapgo.NewWriter(&b)
	for _, f := range frames {
		require.NoError(t, w.WritePacket(frame(0, f), f))
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("lt%d.pcap", lt))
	require.NoError(t, os.WriteFile(path, b.Bytes(), 0o644))
	return path
}

// TestLinkTypes reads the same datagram behind each supported link layer.
func TestLinkTypes(t *testing.T) {
	msg := v5Messages(t)[0]
	ip := ipUDP(t, exporter4, collector, msg)
	ip6 := ipUDP(t, exporter6, netip.MustParseAddrPort("[2001:db8::9]:2055"), msg)
	sll := append([]byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}, ip...)
	sll2 := append([]byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0}, ip...)
	null := append(binary.LittleEndian.AppendUint32(nil, 2), ip...)
	loop := append(binary.BigEndian.AppendUint32(nil, 24), ip6...) // OpenBSD AF_INET6
	vlan := serialize(t, &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, gopacket.Payload(ip))
	for _, c := range []struct {
		name     string
		lt       uint32
		frame    []byte
		exporter string
	}{
		{"ethernet+vlan", 1, vlan, "192.0.2.1:40000"},
		{"sll", 113, sll, "192.0.2.1:40000"},
		{"sll2", 276, sll2, "192.0.2.1:40000"},
		{"raw", 101, ip, "192.0.2.1:40000"},
		{"raw6", 101, ip6, "[2001:db8::1]:40001"},
		{"ipv4", 228, ip, "192.0.2.1:40000"},
		{"null", 0, null, "192.0.2.1:40000"},
		{"loop", 108, loop, "[2001:db8::1]:40001"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, code := flowdump(t, "-json", writePcap(t, c.lt, c.frame))
			objs := jsonLines(t, out)
			assert.Equal(t, 0, code, "exit code")
			assert.Empty(t, errOut, "stderr")
			if assert.Len(t, objs, 2, "flows") {
				assert.Equal(t, c.exporter, objs[0].str("exporter"))
			}
		})
	}
	t.Run("unsupported", func(t *testing.T) {
		_, errOut, code := flowdump(t, writePcap(t, 105, ip, ip)) // 802.11
		assert.Equal(t, 0, code, "exit code")
		assert.Len(t, lines(errOut), 1, "stderr %q", errOut)
		assert.Contains(t, errOut, "not supported")
	})
}

// TestFragments reassembles a v5 datagram sent in two IPv4 fragments.
func TestFragments(t *testing.T) {
	// The v5 datagram of fprobe_v5.pcap, 14 flows in 696 bytes, after its
	// Ethernet, IPv4 and UDP headers.
	msg := testkit.UDPPayloads(t, td+"generated-fprobe/fprobe_v5.pcap")[0]
	whole := ipUDP(t, exporter4, collector, msg)
	body := whole[20:] // UDP header and payload
	frag := func(off int, part []byte, more bool) []byte {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, Id: 7,
			SrcIP: net.IP{192, 0, 2, 1}, DstIP: net.IP{192, 0, 2, 9}, FragOffset: uint16(off / 8)}
		if more {
			ip.Flags = layers.IPv4MoreFragments
		}
		return ethernet(t, serialize(t, ip, gopacket.Payload(part)))
	}
	path := writePcap(t, 1, frag(0, body[:600], true), frag(600, body[600:], false))
	out, errOut, code := flowdump(t, "-json", "-stats", path)
	assert.Equal(t, 0, code, "exit code")
	assert.Contains(t, errOut, "datagrams: 1 (v5 1); frames skipped: 1")
	if objs := jsonLines(t, out); assert.Len(t, objs, 14, "flows") {
		assert.Equal(t, "192.0.2.1:40000", objs[0].str("exporter"))
	}
}

// TestTruncatedCapture: a capture file that ends inside a packet could not
// be read to its end; what came before is still printed.
func TestTruncatedCapture(t *testing.T) {
	b, err := os.ReadFile(td + "generated-fprobe/fprobe_v5.pcap")
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(path, b[:len(b)-10], 0o644)
	_, errOut, code := flowdump(t, path)
	assert.Equal(t, 1, code, "exit code")
	assert.Contains(t, errOut, "cut.pcap: frame 1: capture file ends inside a packet")
}
