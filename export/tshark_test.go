package export_test

// tshark (Wireshark's cflow dissector) decodes what the writer wrote: every
// value it shows must be the one encoded, taken from the flows themselves,
// not from our decoder. scripts/tshark_expected.py runs tshark and reduces
// its JSON to testkit's Expected schema, as it does for the fixtures.

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/flowkit/netflow/internal/testkit"
	"github.com/stretchr/testify/require"
)

// tsharkVersion is tshark's version, asked once for every decode.
var tsharkVersion = sync.OnceValue(func() string {
	out, _ := exec.Command("tshark", "--version").Output()
	if m := regexp.MustCompile(`TShark \(Wireshark\) (\S+)`).FindSubmatch(out); m != nil {
		return string(m[1])
	}
	return ""
})

// tsharkDecode writes msgs to files, one message each, has tshark decode
// them in order and returns its decode.
func tsharkDecode(t *testing.T, msgs [][]byte) testkit.Expected {
	t.Helper()
	testkit.NeedTool(t, "tshark")
	py := testkit.NeedTool(t, "python3")
	dir := t.TempDir()
	args := []string{filepath.Join("..", "scripts", "tshark_expected.py"), "decode", filepath.Join(dir, "out.json")}
	for i, m := range msgs {
		name := filepath.Join(dir, fmt.Sprintf("msg%05d.bin", i))
		require.NoError(t, os.WriteFile(name, m, 0o644))
		args = append(args, name)
	}
	cmd := exec.Command(py, args...)
	cmd.Env = append(os.Environ(), "TSHARK_VERSION="+tsharkVersion())
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	exp := testkit.LoadExpected(t, filepath.Join(dir, "out.json"))
	require.Len(t, exp.Datagrams, len(msgs))
	return exp
}

// queues hands out the flows written, per domain, in the order a writer
// puts them in messages.
type queues map[uint32][]netflow.Flow

func (q queues) next(t *testing.T, domain uint32) netflow.Flow {
	t.Helper()
	require.NotEmpty(t, q[domain], "tshark shows more flows of domain %d than were written", domain)
	f := q[domain][0]
	q[domain] = q[domain][1:]
	return f
}

// tsharkExtra names the tshark fields of the Flow fields beyond v5's,
// with how the flow's value reads there.
var tsharkExtra = []struct {
	field netflow.FlowFields
	names []string
	value func(f *netflow.Flow) string
}{
	{netflow.FieldSrcMAC, []string{"cflow.srcmac"}, func(f *netflow.Flow) string { return f.SrcMAC.String() }},
	{netflow.FieldDstMAC, []string{"cflow.dstmac"}, func(f *netflow.Flow) string { return f.DstMAC.String() }},
	{netflow.FieldVLAN, []string{"cflow.vlanid"}, func(f *netflow.Flow) string { return u(f.VLAN) }},
	{netflow.FieldPostVLAN, []string{"cflow.post_vlanid"}, func(f *netflow.Flow) string { return u(f.PostVLAN) }},
	{netflow.FieldEthType, []string{"cflow.ethernet_type"}, func(f *netflow.Flow) string { return u(f.EthType) }},
	{netflow.FieldDirection, []string{"cflow.direction"}, func(f *netflow.Flow) string { return u(f.Direction) }},
	{netflow.FieldEndReason, []string{"cflow.flow_end_reason"}, func(f *netflow.Flow) string { return u(f.EndReason) }},
	{netflow.FieldIPVersion, []string{"cflow.ip_version"}, func(f *netflow.Flow) string { return u(f.IPVersion) }},
	{netflow.FieldMPLSLabel, []string{"cflow.mpls_label"}, func(f *netflow.Flow) string { return u(f.MPLSLabel) }},
	{netflow.FieldInVRF, []string{"cflow.ingress_vrfid"}, func(f *netflow.Flow) string { return u(f.InVRF) }},
	{netflow.FieldOutVRF, []string{"cflow.egress_vrfid"}, func(f *netflow.Flow) string { return u(f.OutVRF) }},
	{netflow.FieldBGPNextHop, []string{"cflow.bgpnexthop", "cflow.bgpnexthopv6"}, func(f *netflow.Flow) string { return f.BGPNextHop.String() }},
	{netflow.FieldPostNATSrcAddr, []string{"cflow.post_natsource_ipv4_address", "cflow.post_nat_source_ipv6_address"}, func(f *netflow.Flow) string { return f.PostNATSrcAddr.String() }},
	{netflow.FieldPostNATDstAddr, []string{"cflow.post_natdestination_ipv4_address", "cflow.post_nat_destination_ipv6_address"}, func(f *netflow.Flow) string { return f.PostNATDstAddr.String() }},
	{netflow.FieldPostNATSrcPort, []string{"cflow.post_naptsource_transport_port"}, func(f *netflow.Flow) string { return u(f.PostNATSrcPort) }},
	{netflow.FieldPostNATDstPort, []string{"cflow.post_naptdestination_transport_port"}, func(f *netflow.Flow) string { return u(f.PostNATDstPort) }},
}

func u[T uint8 | uint16 | uint32 | uint64](v T) string { return strconv.FormatUint(uint64(v), 10) }

// TestTshark writes random flows (IPv4 and IPv6, sampled and not, two
// domains, every field) with every version and checks each value tshark
// decodes against the flow written: headers (domain, sequence), addresses,
// ports, counters, times (from tshark's uptimes and header clock for
// v1-v9), interfaces, AS numbers, masks, the fields beyond v5's, and the
// sampling interval (v5 header; v9 and IPFIX options data by sampler ID).
func TestTshark(t *testing.T) {
	for _, c := range []struct {
		version uint16
		tf      export.TimeFormat
	}{{1, 0}, {5, 0}, {7, 0}, {9, 0}, {10, 0}, {10, export.TimeNanos}, {9, export.TimeMillis}} {
		t.Run(fmt.Sprintf("v%d/time%d", c.version, c.tf), func(t *testing.T) {
			t.Parallel() // waits on tshark
			o := genOptions{version: c.version, ipv6: true, sampling: true, domains: 2}
			flows := genFlows(uint64(c.version)*10+uint64(c.tf), 300, o)
			cfg := export.Config{Version: c.version, TimeFormat: c.tf, Now: fixedNow}
			exp := tsharkDecode(t, write(t, cfg, flows))
			q := queues{}
			for _, f := range flows {
				d := f.Domain
				if c.version == 1 || c.version == 7 {
					d = 0
				}
				q[d] = append(q[d], f)
			}
			seq := map[uint32]uint64{}
			samplers := map[string]uint64{}
			n := 0
			for di, dg := range exp.Datagrams {
				require.Empty(t, dg.SkippedSets, "datagram %d", di)
				require.False(t, dg.Malformed, "datagram %d: %v", di, dg.Expert)
				var domain uint32
				switch c.version {
				case 5:
					domain = uint32(*dg.EngineType)<<8 | uint32(*dg.EngineID)
				case 9, 10:
					domain = *dg.SourceID
				}
				if c.version != 1 {
					require.Equal(t, seq[domain], uint64(*dg.Sequence), "datagram %d sequence", di)
				}
				export := time.Unix(int64(*dg.UnixSecs), int64(val(dg.UnixNsecs)))
				for fi, ef := range dg.Flows {
					what := fmt.Sprintf("datagram %d flow %d", di, fi)
					switch c.version {
					case 5, 7:
						seq[domain]++
					case 10:
						seq[domain]++ // data records, options data included
					}
					if ef.Options {
						id := ef.Fields["cflow.sampler_id"] + ef.Fields["cflow.selector_id"]
						iv, _ := strconv.ParseUint(ef.Fields["cflow.sampler_random_interval"], 10, 32)
						if sp, ok := ef.Fields["cflow.sampling_packet_space"]; ok {
							space, _ := strconv.ParseUint(sp, 10, 32)
							pi, _ := strconv.ParseUint(ef.Fields["cflow.sampling_packet_interval"], 10, 32)
							iv = (pi + space) / pi
						}
						require.NotZero(t, iv, what)
						samplers[id] = iv
						continue
					}
					f := q.next(t, domain)
					n++
					checkTsharkFlow(t, what, &f, &ef, c.version, c.tf, export, dg)
					switch {
					case f.Known&netflow.FieldSamplingInterval == 0:
					case c.version == 5:
						require.Equal(t, uint16(f.SamplingInterval), *dg.SamplingInterval, what)
						require.Equal(t, uint8(1), *dg.SamplingMode, what)
					case c.version >= 9:
						id := ef.Fields["cflow.sampler_id"] + ef.Fields["cflow.selector_id"]
						require.Equal(t, uint64(f.SamplingInterval), samplers[id], what+" sampling interval of sampler "+id)
					}
				}
				if c.version == 9 {
					seq[domain]++
				}
			}
			require.Equal(t, len(flows), n)
		})
	}
}

// checkTsharkFlow compares one data record tshark decoded with the flow
// written.
func checkTsharkFlow(t *testing.T, what string, f *netflow.Flow, ef *testkit.ExpectedFlow, version uint16, tf export.TimeFormat, export time.Time, dg testkit.ExpectedDatagram) {
	t.Helper()
	addr := func(known netflow.FlowFields, a netip.Addr, got *string, name string) {
		if f.Known&known != 0 || version < 9 {
			want := a.String()
			if !a.IsValid() {
				want = "0.0.0.0"
			}
			require.NotNil(t, got, "%s %s", what, name)
			require.Equal(t, want, *got, "%s %s", what, name)
		}
	}
	num := func(known netflow.FlowFields, want uint64, got *uint64, name string) {
		if f.Known&known != 0 {
			require.NotNil(t, got, "%s %s", what, name)
			require.Equal(t, want, *got, "%s %s", what, name)
		}
	}
	addr(netflow.FieldSrcAddr, f.SrcAddr, ef.SrcAddr, "src_addr")
	addr(netflow.FieldDstAddr, f.DstAddr, ef.DstAddr, "dst_addr")
	addr(netflow.FieldNextHop, f.NextHop, ef.NextHop, "next_hop")
	num(netflow.FieldSrcPort, uint64(f.SrcPort), wide(ef.SrcPort), "src_port")
	num(netflow.FieldDstPort, uint64(f.DstPort), wide(ef.DstPort), "dst_port")
	num(netflow.FieldProto, uint64(f.Proto), wide(ef.Proto), "proto")
	num(netflow.FieldToS, uint64(f.ToS), wide(ef.ToS), "tos")
	num(netflow.FieldTCPFlags, uint64(f.TCPFlags), wide(ef.TCPFlags), "tcp_flags")
	num(netflow.FieldPackets, f.Packets, ef.Packets, "packets")
	num(netflow.FieldBytes, f.Bytes, ef.Bytes, "bytes")
	num(netflow.FieldInIf, uint64(f.InIf), wide(ef.InIf), "in_if")
	num(netflow.FieldOutIf, uint64(f.OutIf), wide(ef.OutIf), "out_if")
	if version != 1 {
		num(netflow.FieldSrcAS, uint64(f.SrcAS), wide(ef.SrcAS), "src_as")
		num(netflow.FieldDstAS, uint64(f.DstAS), wide(ef.DstAS), "dst_as")
		num(netflow.FieldSrcMask, uint64(f.SrcMask), wide(ef.SrcMask), "src_mask")
		num(netflow.FieldDstMask, uint64(f.DstMask), wide(ef.DstMask), "dst_mask")
	}
	times := []struct {
		known  netflow.FlowFields
		want   time.Time
		uptime *uint32
		abs    *string
		name   string
	}{{netflow.FieldStart, f.Start, ef.FirstUptimeMS, ef.Start, "start"}, {netflow.FieldEnd, f.End, ef.LastUptimeMS, ef.End, "end"}}
	for _, tm := range times {
		if f.Known&tm.known == 0 {
			continue
		}
		switch {
		case tm.uptime != nil:
			// The time the header's clock gives the uptime.
			got := export.Add(-time.Duration(int32(*dg.SysUptimeMS-*tm.uptime)) * time.Millisecond)
			require.Equal(t, tm.want.Truncate(time.Millisecond).UTC(), got.UTC(), "%s %s", what, tm.name)
		default:
			require.NotNil(t, tm.abs, "%s %s", what, tm.name)
			got, err := time.Parse(time.RFC3339Nano, *tm.abs)
			require.NoError(t, err)
			require.Equal(t, tm.want.Truncate(resolution(version, tf)).UTC(), got.UTC(), "%s %s", what, tm.name)
		}
	}
	if version < 9 {
		return
	}
	for _, x := range tsharkExtra {
		if f.Known&x.field == 0 {
			continue
		}
		got, ok := "", false
		for _, name := range x.names {
			if v, found := ef.Fields[name]; found {
				got, ok = v, true
			}
		}
		require.True(t, ok, "%s: tshark shows none of %v in %v", what, x.names, ef.Fields)
		require.Equal(t, x.value(f), got, "%s %v", what, x.names)
	}
	const icmp = netflow.FieldICMPType | netflow.FieldICMPCode
	if f.Known&icmp == icmp {
		if v, ok := ef.Fields["cflow.icmp_type_code_ipv4"]; ok {
			require.Equal(t, fmt.Sprintf("0x%04x", uint16(f.ICMPType)<<8|uint16(f.ICMPCode)), v, what+" icmp")
		} else {
			require.Equal(t, u(f.ICMPType), ef.Fields["cflow.icmp_ipv6_type"], what+" icmp type")
			require.Equal(t, u(f.ICMPCode), ef.Fields["cflow.icmp_ipv6_code"], what+" icmp code")
		}
	}
}

// val is *p, or the zero value where tshark gave no such key.
func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// wide is p as a *uint64 (nil stays nil).
func wide[T uint8 | uint16 | uint32 | uint64](p *T) *uint64 {
	if p == nil {
		return nil
	}
	v := uint64(*p)
	return &v
}
