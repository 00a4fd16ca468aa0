package netflow

// The issue 14 Flow fields against tshark's decode of every fixture
// (testdata/expected/rich, from `scripts/tshark_expected.py rich`): MACs,
// VLANs, direction, end reason, BGP next hop, ICMP type and code, IP
// version, VRFs, EtherType, post-NAT addresses and ports, and the next hop
// being IE 15/62 only.

import (
	"encoding/json"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// richDoc is one testdata/expected/rich file.
type richDoc struct {
	Inputs    []string `json:"inputs"`
	Datagrams []struct {
		Index  int `json:"index"`
		Origin *struct {
			File           string `json:"file"`
			Offset, Length int
		} `json:"origin"`
		Version   uint16 `json:"version"`
		Undecoded bool   `json:"undecoded"`
		Skipped   []any  `json:"tshark_skipped_sets"`
		Flows     []struct {
			TemplateID *uint16           `json:"template_id"`
			Options    bool              `json:"options"`
			Rich       map[string]string `json:"rich"`
		} `json:"flows"`
	} `json:"datagrams"`
}

// richPayloads returns the datagram of each expected datagram: by origin in
// a raw file, or by index among the UDP payloads of the pcap.
func richPayloads(t *testing.T, doc *richDoc) [][]byte {
	var pcap [][]byte
	for _, in := range doc.Inputs {
		if strings.HasSuffix(in, ".pcap") {
			pcap = append(pcap, readPcapPayloads(t, filepath.Join("testdata", in))...)
		}
	}
	out := make([][]byte, len(doc.Datagrams))
	for i, dg := range doc.Datagrams {
		if o := dg.Origin; o != nil {
			data, err := os.ReadFile(filepath.Join("testdata", o.File))
			require.NoError(t, err)
			out[i] = data[o.Offset : o.Offset+o.Length]
			continue
		}
		if dg.Index < len(pcap) {
			out[i] = pcap[dg.Index]
		}
	}
	return out
}

// richCounts counts the values compared, per Flow field.
type richCounts map[string]int

func TestRichFlowFieldsAgainstTshark(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "expected", "rich", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	counts := richCounts{}
	for _, fn := range files {
		if strings.Contains(fn, "_tcp") {
			continue // IPFIX over TCP: the same records as softflowd_v10 over UDP
		}
		t.Run(filepath.Base(fn), func(t *testing.T) {
			data, err := os.ReadFile(fn)
			require.NoError(t, err)
			var doc richDoc
			require.NoError(t, json.Unmarshal(data, &doc))
			payloads := richPayloads(t, &doc)
			d := NewDecoder(Config{})
			defer d.Close()
			for i, dg := range doc.Datagrams {
				if dg.Undecoded || payloads[i] == nil {
					continue
				}
				p, _ := d.Decode(testExporter, payloads[i])
				if p == nil || len(dg.Skipped) > 0 {
					continue // tshark did not decode all of it: nothing to line up
				}
				got := ownFlows(p)
				var want []map[string]string
				for _, f := range dg.Flows {
					if !f.Options {
						want = append(want, f.Rich)
					}
				}
				if len(got) != len(want) {
					counts["datagrams not lined up"]++
					continue // a set held or released across datagrams; the conformance test covers the order
				}
				counts["datagrams"]++
				counts["flows"] += len(want)
				for j := range want {
					checkRichFlow(t, counts, want[j], &got[j], dg.Version)
				}
			}
		})
	}
	t.Logf("values compared: %v", counts)
	for _, k := range []string{"src_mac", "dst_mac", "vlan", "post_vlan", "direction", "end_reason", "bgp_next_hop",
		"icmp_type", "icmp_code", "icmp_from_port", "ip_version", "in_vrf", "out_vrf", "eth_type",
		"post_nat_src_addr", "post_nat_dst_addr", "post_nat_src_port", "post_nat_dst_port", "next_hop"} {
		require.Positive(t, counts[k], "no %s compared", k)
	}
}

// ownFlows returns the flows of a packet's own (not late) data sets, in
// wire order.
func ownFlows(p Packet) []Flow {
	var s *Sets
	switch p := p.(type) {
	case *V9Packet:
		s = &p.Sets
	case *IPFIXPacket:
		s = &p.Sets
	default:
		return p.AppendFlows(nil)
	}
	var out []Flow
	for i := range s.DataSets {
		if ds := &s.DataSets[i]; !ds.Late && !ds.Options() {
			out = ds.AppendFlows(out)
		}
	}
	return out
}

// firstOf returns the first of keys that rec has.
func firstOf(rec map[string]string, keys ...string) (string, bool) {
	for _, k := range keys {
		if v, ok := rec[k]; ok {
			return v, true
		}
	}
	return "", false
}

func richUint(t *testing.T, s string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(s, 0, 64)
	require.NoError(t, err, s)
	return n
}

// checkRichFlow compares one flow with tshark's fields of its record.
func checkRichFlow(t *testing.T, counts richCounts, rec map[string]string, f *Flow, version uint16) {
	t.Helper()
	what := func(k string) string {
		return k + " of " + strconv.Itoa(int(version)) + " flow " + f.SrcAddr.String() + " " + f.DstAddr.String()
	}
	mac := func(key string, bit FlowFields, got MAC, keys ...string) {
		v, ok := firstOf(rec, keys...)
		require.Equal(t, ok, f.Known.Has(bit), what(key))
		if ok {
			hw, err := net.ParseMAC(v)
			require.NoError(t, err)
			require.Equal(t, v, got.String(), what(key))
			require.Equal(t, []byte(hw), got[:], what(key))
			counts[key]++
		}
	}
	num := func(key string, bit FlowFields, got uint64, keys ...string) {
		v, ok := firstOf(rec, keys...)
		require.Equal(t, ok, f.Known.Has(bit), what(key))
		if ok {
			require.Equal(t, richUint(t, v), got, what(key))
			counts[key]++
		}
	}
	// addr: the first candidate that is not unspecified (a template may
	// carry the IPv4 and the IPv6 element and fill one).
	addr := func(key string, bit FlowFields, got netip.Addr, keys ...string) {
		present, want := false, netip.Addr{}
		for _, k := range keys {
			if v, ok := rec[k]; ok {
				present = true
				if a := netip.MustParseAddr(v); !a.IsUnspecified() && !want.IsValid() {
					want = a
				}
			}
		}
		require.Equal(t, present, f.Known.Has(bit), what(key))
		if !present {
			return
		}
		if want.IsValid() {
			require.Equal(t, want, got, what(key))
		} else {
			require.True(t, got.IsUnspecified(), what(key))
		}
		counts[key]++
	}
	mac("src_mac", FieldSrcMAC, f.SrcMAC, "srcmac", "post_srcmac")
	mac("dst_mac", FieldDstMAC, f.DstMAC, "dstmac", "post_dstmac")
	num("vlan", FieldVLAN, uint64(f.VLAN), "vlanid", "dot1q_vlan_id")
	num("post_vlan", FieldPostVLAN, uint64(f.PostVLAN), "post_vlanid", "post_dot1q_vlan_id")
	num("direction", FieldDirection, uint64(f.Direction), "direction")
	num("end_reason", FieldEndReason, uint64(f.EndReason), "flow_end_reason")
	num("ip_version", FieldIPVersion, uint64(f.IPVersion), "ip_version")
	num("in_vrf", FieldInVRF, uint64(f.InVRF), "ingress_vrfid")
	num("out_vrf", FieldOutVRF, uint64(f.OutVRF), "egress_vrfid")
	num("eth_type", FieldEthType, uint64(f.EthType), "ethernet_type")
	num("mpls_label", FieldMPLSLabel, uint64(f.MPLSLabel), "mpls_label")
	num("post_nat_src_port", FieldPostNATSrcPort, uint64(f.PostNATSrcPort), "post_naptsource_transport_port")
	num("post_nat_dst_port", FieldPostNATDstPort, uint64(f.PostNATDstPort), "post_naptdestination_transport_port")
	addr("bgp_next_hop", FieldBGPNextHop, f.BGPNextHop, "bgpnexthop", "bgpnexthopv6")
	addr("next_hop", FieldNextHop, f.NextHop, "nexthop", "nexthopv6")
	addr("post_nat_src_addr", FieldPostNATSrcAddr, f.PostNATSrcAddr, "post_natsource_ipv4_address", "post_nat_source_ipv6_address")
	addr("post_nat_dst_addr", FieldPostNATDstAddr, f.PostNATDstAddr, "post_natdestination_ipv4_address", "post_nat_destination_ipv6_address")
	checkRichICMP(t, counts, rec, f, what("icmp"))
}

// checkRichICMP: element values for ICMP flows (the first not zero of the
// IPv4 and IPv6 elements), else type<<8|code from the destination port of
// an ICMP flow whose source port is 0, else unknown.
func checkRichICMP(t *testing.T, counts richCounts, rec map[string]string, f *Flow, what string) {
	t.Helper()
	proto, hasProto := rec["protocol"]
	icmp := hasProto && (proto == "1" || proto == "58")
	var typ, code uint64
	elements := false
	pick := func(v *uint64, n uint64) {
		if *v == 0 {
			*v = n
		}
	}
	if v, ok := rec["icmp_type_code_ipv4"]; ok {
		elements = true
		n := richUint(t, v)
		pick(&typ, n>>8)
		pick(&code, n&0xff)
	}
	for _, k := range []string{"icmp_ipv4_type", "icmp_ipv6_type"} {
		if v, ok := rec[k]; ok {
			elements = true
			pick(&typ, richUint(t, v))
		}
	}
	for _, k := range []string{"icmp_ipv4_code", "icmp_ipv6_code"} {
		if v, ok := rec[k]; ok {
			elements = true
			pick(&code, richUint(t, v))
		}
	}
	switch {
	case !icmp:
		require.False(t, f.Known.Has(FieldICMPType) || f.Known.Has(FieldICMPCode), what)
		require.Zero(t, f.ICMPType, what)
	case elements:
		require.True(t, f.Known.Has(FieldICMPType|FieldICMPCode), what)
		require.Equal(t, typ, uint64(f.ICMPType), what)
		require.Equal(t, code, uint64(f.ICMPCode), what)
		counts["icmp_type"]++
		counts["icmp_code"]++
	case rec["srcport"] == "0" && rec["dstport"] != "":
		port := richUint(t, rec["dstport"])
		require.True(t, f.Known.Has(FieldICMPType|FieldICMPCode), what)
		require.Equal(t, port>>8, uint64(f.ICMPType), what)
		require.Equal(t, port&0xff, uint64(f.ICMPCode), what)
		counts["icmp_from_port"]++
	default:
		require.False(t, f.Known.Has(FieldICMPType) || f.Known.Has(FieldICMPCode), what)
	}
}
