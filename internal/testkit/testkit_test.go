package testkit

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const testdata = "../../testdata"

// TestExpectedSchema parses every tshark expectation with unknown keys
// refused, and resolves every datagram to its bytes: the one schema covers
// every file, and every file's inputs are shipped.
func TestExpectedSchema(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(testdata, "expected", "*.json"))
	require.NoError(t, err)
	more, err := filepath.Glob(filepath.Join(testdata, "expected", "logstash", "*.json"))
	require.NoError(t, err)
	paths = append(paths, more...)
	require.Greater(t, len(paths), 60)
	for _, p := range paths {
		doc := LoadExpected(t, p)
		require.NotEmpty(t, doc.Inputs, p)
		if strings.Contains(filepath.Base(p), "_tcp") {
			continue // IPFIX over TCP: messages of reassembled segments, not UDP payloads
		}
		payloads := doc.Payloads(t, testdata)
		require.Len(t, payloads, len(doc.Datagrams), p)
		for i, dg := range doc.Datagrams {
			require.GreaterOrEqual(t, len(payloads[i]), 2, p)
			// Over TCP a datagram is one message of a segment: only its
			// UDP and raw-file datagrams start with the version.
			if dg.Origin != nil {
				assert.Equal(t, dg.Version, binary.BigEndian.Uint16(payloads[i]), "%s datagram %d", p, i)
			}
		}
	}
}

func TestParseExpectedRefusesUnknownKey(t *testing.T) {
	_, err := ParseExpected([]byte(`{"source":"x","datagrams":[{"version":5,"flows":[{"src_adr":"10.0.0.1"}]}]}`))
	require.ErrorContains(t, err, "src_adr")
	doc, err := ParseExpected([]byte(`{"source":"x","datagrams":[{"version":5,"count":1,"flows":[{"src_addr":"10.0.0.1","fields":{"cflow.od_id":"1"}}]}]}`))
	require.NoError(t, err)
	require.Len(t, doc.Datagrams, 1)
	assert.Equal(t, uint16(1), *doc.Datagrams[0].Count)
	assert.Equal(t, "10.0.0.1", *doc.Datagrams[0].Flows[0].SrcAddr)
	assert.Equal(t, "1", doc.Datagrams[0].Flows[0].Fields["cflow.od_id"])
	assert.Nil(t, doc.Datagrams[0].SysUptimeMS)
}

// udpFrame serializes Ethernet/IPv4/UDP around payload.
func udpFrame(t *testing.T, payload []byte) []byte {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 1}, DstMAC: []byte{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: []byte{127, 0, 0, 1}, DstIP: []byte{127, 0, 0, 1}}
	udp := &layers.UDP{SrcPort: 2055, DstPort: 2055}
	require.NoError(t, udp.SetNetworkLayerForChecksum(ip))
	buf := gopacket.NewSerializeBuffer()
	require.NoError(t, gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ip, udp, gopacket.Payload(payload)))
	return buf.Bytes()
}

// TestReadUDPPayloadsPcapAndPcapng writes the same frames (and one ARP
// frame, skipped) as pcap and as pcapng and reads back the payloads.
func TestReadUDPPayloadsPcapAndPcapng(t *testing.T) {
	payloads := [][]byte{V5(2), IPFIX(3), V9(1)}
	arp := make([]byte, 42)
	copy(arp[12:], []byte{0x08, 0x06})
	frames := [][]byte{udpFrame(t, payloads[0]), arp, udpFrame(t, payloads[1]), udpFrame(t, payloads[2])}
	ci := func(b []byte) gopacket.CaptureInfo {
		return gopacket.CaptureInfo{Timestamp: time.Unix(UnixSecs, 0), CaptureLength: len(b), Length: len(b)}
	}
	dir := t.TempDir()

	var pcap bytes.Buffer
	w := pcapgo.NewWriter(&pcap)
	require.NoError(t, w.WriteFileHeader(65535, layers.LinkTypeEthernet))
	for _, f := range frames {
		require.NoError(t, w.WritePacket(ci(f), f))
	}
	pcapPath := filepath.Join(dir, "a.pcap")
	require.NoError(t, os.WriteFile(pcapPath, pcap.Bytes(), 0o644))

	var ng bytes.Buffer
	nw, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	require.NoError(t, err)
	for _, f := range frames {
		require.NoError(t, nw.WritePacket(ci(f), f))
	}
	require.NoError(t, nw.Flush())
	ngPath := filepath.Join(dir, "a.pcapng")
	require.NoError(t, os.WriteFile(ngPath, ng.Bytes(), 0o644))

	for _, p := range []string{pcapPath, ngPath} {
		got, err := ReadUDPPayloads(p)
		require.NoError(t, err, p)
		assert.Equal(t, payloads, got, p)
	}
	_, err = ReadUDPPayloads(filepath.Join(dir, "missing.pcap"))
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestBuilders checks the builders' framing against the RFC layouts: v5
// header 24 bytes and 48-byte records (RFC 3954 has none; Cisco's v5
// format), v9 header 20 bytes (RFC 3954 section 5.1), IPFIX header 16
// bytes with the message length in bytes 2-3 (RFC 7011 section 3.1).
func TestBuilders(t *testing.T) {
	assert.Len(t, V1(3), 16+48*3)
	assert.Len(t, V5(3), 24+48*3)
	assert.Len(t, V6(3), 24+52*3)
	assert.Len(t, V7(3), 24+52*3)
	v9 := V9(2)
	assert.Equal(t, uint16(9), binary.BigEndian.Uint16(v9))
	assert.Equal(t, uint16(2), binary.BigEndian.Uint16(v9[2:]), "v9 count: flowsets")
	tmpl := v9[20:]
	assert.Equal(t, uint16(0), binary.BigEndian.Uint16(tmpl), "v9 template flowset ID 0")
	assert.Equal(t, uint16(4+4+4*18), binary.BigEndian.Uint16(tmpl[2:]))
	ipfix := IPFIX(2)
	assert.Equal(t, uint16(10), binary.BigEndian.Uint16(ipfix))
	assert.Equal(t, uint16(len(ipfix)), binary.BigEndian.Uint16(ipfix[2:]))
	assert.Equal(t, uint16(2), binary.BigEndian.Uint16(ipfix[16:]), "IPFIX template set ID 2")

	rec := TemplateRecord(300, Field{ID: 1, Length: 4}, Field{ID: 7, Length: 2, PEN: 9})
	assert.Equal(t, []byte{1, 44, 0, 2, 0, 1, 0, 4, 0x80, 7, 0, 2, 0, 0, 0, 9}, rec)
	opt := IPFIXOptionsTemplate(301, 1, Field{ID: 149, Length: 4}, Field{ID: 34, Length: 4})
	assert.Equal(t, []byte{1, 45, 0, 2, 0, 1, 0, 149, 0, 4, 0, 34, 0, 4}, opt)
	v9opt := V9OptionsTemplate(302, []Field{{ID: 1, Length: 4}}, []Field{{ID: 34, Length: 4}, {ID: 35, Length: 1}})
	assert.Equal(t, []byte{1, 46, 0, 4, 0, 8, 0, 1, 0, 4, 0, 34, 0, 4, 0, 35, 0, 1}, v9opt)
	assert.Len(t, Set(256, []byte{1, 2, 3}, true), 8)
	assert.Len(t, Set(256, []byte{1, 2, 3}, false), 7)
	assert.Equal(t, []byte{0, 0, 1, 2}, UintBytes(258, 4))
	assert.Equal(t, []byte{2, 'h', 'i'}, VarText("hi"))

	f := FlowN(3)
	assert.Equal(t, "10.1.3.1", f.Src.String())
	assert.Equal(t, Export.Add(-time.Minute+30*time.Millisecond), f.Start())
}
