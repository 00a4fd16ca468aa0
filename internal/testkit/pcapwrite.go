package testkit

import (
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// UDPDatagram is one UDP datagram: who sent it, to whom, its payload, and
// (read from a capture, ReadUDPDatagrams) when it was captured.
// WriteUDPPcap ignores Time.
type UDPDatagram struct {
	From, To netip.AddrPort
	Payload  []byte
	Time     time.Time
}

// WriteUDPPcap writes datagrams as a pcap capture of Ethernet frames
// (IPv4 or IPv6, UDP), one a millisecond from 2024-01-01, so that tshark,
// flowdump and the other capture readers see them as they would a capture
// of the wire.
func WriteUDPPcap(w io.Writer, datagrams []UDPDatagram) error {
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	ts := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	for _, d := range datagrams {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
		udp := &layers.UDP{SrcPort: layers.UDPPort(d.From.Port()), DstPort: layers.UDPPort(d.To.Port())}
		var ip gopacket.SerializableLayer
		if d.From.Addr().Is4() {
			eth.EthernetType = layers.EthernetTypeIPv4
			ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP,
				SrcIP: d.From.Addr().AsSlice(), DstIP: d.To.Addr().Unmap().AsSlice()}
			udp.SetNetworkLayerForChecksum(ip4)
			ip = ip4
		} else {
			eth.EthernetType = layers.EthernetTypeIPv6
			ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP,
				SrcIP: d.From.Addr().AsSlice(), DstIP: d.To.Addr().AsSlice()}
			udp.SetNetworkLayerForChecksum(ip6)
			ip = ip6
		}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload(d.Payload)); err != nil {
			return err
		}
		frame := buf.Bytes()
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(frame), Length: len(frame)}
		if err := pw.WritePacket(ci, frame); err != nil {
			return err
		}
		ts = ts.Add(time.Millisecond)
	}
	return nil
}
