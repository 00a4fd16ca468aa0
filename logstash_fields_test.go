package netflow_test

// logstash field names by meaning: which Flow field or record value each
// logstash key stands for, and how its expected value compares with ours.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowkit/netflow"
)

// The meanings of logstash fields that our Flow carries.
type flowMeaning int

const (
	mNone flowMeaning = iota
	mSrcAddr
	mDstAddr
	mNextHop
	mSrcPort
	mDstPort
	mProto
	mToS
	mTCPFlags
	mPackets
	mBytes
	mInIf
	mOutIf
	mSrcAS
	mDstAS
	mSrcMask
	mDstMask
	mStart
	mEnd
)

// lsMeaning maps logstash field names (v5/v9 names from its netflow.yaml,
// IPFIX names from ipfix.yaml) to Flow fields. Only the element that our
// flow plan prefers for a Flow field is listed: octetTotalCount, say, fills
// Flow.Bytes only when the record has no octetDeltaCount, so it is compared
// as a record value.
var lsMeaning = map[string]flowMeaning{
	"ipv4_src_addr": mSrcAddr, "ipv6_src_addr": mSrcAddr, "sourceIPv4Address": mSrcAddr, "sourceIPv6Address": mSrcAddr,
	"ipv4_dst_addr": mDstAddr, "ipv6_dst_addr": mDstAddr, "destinationIPv4Address": mDstAddr, "destinationIPv6Address": mDstAddr,
	"ipv4_next_hop": mNextHop, "ipNextHopIPv4Address": mNextHop, "ipNextHopIPv6Address": mNextHop,
	"l4_src_port": mSrcPort, "sourceTransportPort": mSrcPort,
	"l4_dst_port": mDstPort, "destinationTransportPort": mDstPort,
	"protocol": mProto, "protocolIdentifier": mProto,
	"src_tos": mToS, "ipClassOfService": mToS,
	"tcp_flags": mTCPFlags, "tcpControlBits": mTCPFlags,
	"in_pkts": mPackets, "packetDeltaCount": mPackets,
	"in_bytes": mBytes, "octetDeltaCount": mBytes,
	"input_snmp": mInIf, "ingressInterface": mInIf,
	"output_snmp": mOutIf, "egressInterface": mOutIf,
	"src_as": mSrcAS, "bgpSourceAsNumber": mSrcAS,
	"dst_as": mDstAS, "bgpDestinationAsNumber": mDstAS,
	"src_mask": mSrcMask, "sourceIPv4PrefixLength": mSrcMask,
	"dst_mask": mDstMask, "destinationIPv4PrefixLength": mDstMask,
	"first_switched": mStart, "flowStartSeconds": mStart, "flowStartMilliseconds": mStart,
	"flowStartMicroseconds": mStart, "flow_start_msec": mStart,
	"last_switched": mEnd, "flowEndSeconds": mEnd, "flowEndMilliseconds": mEnd, "flowEndMicroseconds": mEnd,
}

// lsAlias maps the logstash names (its netflow.yaml) of v9 fields that are
// neither our element name nor the RFC 3954 / Cisco name in lower case to
// field types. Where logstash gives one name to an NSEL field and to the
// IANA element of the same meaning, both are listed.
var lsAlias = map[string][]uint16{
	"conn_id":                 {148},        // flowId (ASA NF_F_CONN_ID, Palo Alto)
	"icmp_type":               {176},        // icmpTypeIPv4
	"icmp_code":               {177},        // icmpCodeIPv4
	"tcp_src_port":            {182},        // tcpSourcePort
	"udp_dst_port":            {181},        // udpDestinationPort
	"ip_dscp":                 {195},        // ipDiffServCodePoint
	"flow_end_reason":         {136},        // flowEndReason
	"event_time_msec":         {323},        // observationTimeMilliseconds (ASA NF_F_EVENT_TIME_MSEC)
	"fwd_flow_delta_bytes":    {231},        // initiatorOctets (ASA NF_F_FWD_FLOW_DELTA_BYTES)
	"rev_flow_delta_bytes":    {232},        // responderOctets
	"xlate_src_addr_ipv4":     {40001, 225}, // NF_F_XLATE_SRC_ADDR_IPV4, postNATSourceIPv4Address
	"xlate_dst_addr_ipv4":     {40002, 226}, // NF_F_XLATE_DST_ADDR_IPV4, postNATDestinationIPv4Address
	"xlate_src_port":          {40003, 227}, // NF_F_XLATE_SRC_PORT, postNAPTSourceTransportPort
	"xlate_dst_port":          {40004, 228}, // NF_F_XLATE_DST_PORT, postNAPTDestinationTransportPort
	"fw_event":                {40005, 233}, // NF_F_FW_EVENT, firewallEvent
	"fw_ext_event":            {33002},      // NF_F_FW_EXT_EVENT
	"ingress_acl_id":          {33000},      // NF_F_INGRESS_ACL_ID
	"egress_acl_id":           {33001},      // NF_F_EGRESS_ACL_ID
	"username":                {40000},      // NF_F_USERNAME
	"app_id":                  {56701},      // Palo Alto PANOS_APPID
	"user_id":                 {56702},      // Palo Alto PANOS_USERID
	"nprobe_proto":            {57590},      // nProbe L7_PROTO
	"nprobe_proto_name":       {57591},      // nProbe L7_PROTO_NAME
	"application_id":          {95},         // applicationId, formatted by lsApplicationID
	"mpls_label_stack_octets": {201},        // mplsLabelStackLength (4 bytes), as a label stack entry
}

// lsEnterpriseAlias maps the logstash names (its ipfix.yaml) of
// enterprise elements that our registry names otherwise.
var lsEnterpriseAlias = map[string]netflow.TemplateField{
	"vmwareEgressInterfaceAttr":  {PEN: 6876, ID: 888},
	"vmwareVxlanExportRole":      {PEN: 6876, ID: 889},
	"vmwareIngressInterfaceAttr": {PEN: 6876, ID: 890},
}

// lsUnknownPEN gives the PEN of logstash's "<vendor>UnknownNNN" names for
// enterprise elements it has no name for.
var lsUnknownPEN = map[string]uint32{"netscaler": 5951, "vmware": 6876}

// findValue returns the record's value that logstash calls key.
func findValue(r *netflow.Record, key string) (netflow.Value, bool) {
	var unknown netflow.TemplateField
	for prefix, pen := range lsUnknownPEN {
		if rest, ok := strings.CutPrefix(key, prefix+"Unknown"); ok {
			if id, err := strconv.ParseUint(rest, 10, 16); err == nil {
				unknown = netflow.TemplateField{PEN: pen, ID: uint16(id)}
			}
		}
	}
	for v := range r.All() {
		if v.Name() == key {
			return v, true
		}
		if a, ok := lsEnterpriseAlias[key]; ok && a.PEN == v.Field.PEN && a.ID == v.Field.ID {
			return v, true
		}
		if unknown.PEN != 0 && unknown.PEN == v.Field.PEN && unknown.ID == v.Field.ID {
			return v, true
		}
		if r.Template.Version == 9 && v.Field.PEN == 0 && !v.Scope {
			if n := netflow.V9Name(v.Field.ID); n != "" && strings.ToLower(n) == key {
				return v, true
			}
			if slices.Contains(lsAlias[key], v.Field.ID) {
				return v, true
			}
		}
	}
	return netflow.Value{}, false
}

// lsApplicationID formats an applicationId (95) as logstash does:
// "engine..selector", or for classification engine 20 (an application
// registered under a PEN) "20..PEN..selector".
func lsApplicationID(raw []byte) string {
	if len(raw) == 9 && raw[0] == 20 {
		return fmt.Sprintf("%d..%d..%d", raw[0], beUint(raw[1:5]), beUint(raw[5:]))
	}
	if len(raw) < 2 {
		return ""
	}
	return fmt.Sprintf("%d..%d", raw[0], beUint(raw[1:]))
}

func beUint(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		n = n<<8 | uint64(c)
	}
	return n
}

// compareField compares one expected field of one event.
func compareField(ctx string, ev *lsEvent, key string, want any, ts *tsharkDecode) error {
	switch key {
	case "version":
		return equalNumber(want, uint64(ev.version))
	case "@timestamp":
		// logstash prints its timestamps to the millisecond.
		return equalTime(want, ev.exportTime.Truncate(time.Millisecond))
	case "flow_seq_num":
		return equalNumber(want, uint64(ev.sequence))
	case "flowset_id":
		return equalNumber(want, uint64(ev.setID))
	}
	if ev.v5 != nil {
		switch key {
		case "engine_type":
			return equalNumber(want, uint64(ev.v5.EngineType))
		case "engine_id":
			return equalNumber(want, uint64(ev.v5.EngineID))
		case "sampling_algorithm":
			return equalNumber(want, uint64(ev.v5.SamplingMode))
		case "sampling_interval":
			if err := equalNumber(want, uint64(ev.flow.SamplingInterval)); err != nil {
				return err
			}
			return equalNumber(want, uint64(ev.v5.SamplingInterval))
		case "flow_records":
			return equalNumber(want, uint64(ev.v5.Count))
		}
	}
	m := lsMeaning[key]
	compared := false
	if ev.rec != nil {
		v, ok := findValue(ev.rec, key)
		if ok {
			if err := equalValue(want, v); err != nil {
				if m == mStart || m == mEnd {
					// Checked on the Flow below.
				} else {
					return fmt.Errorf("record value %s (%d.%d): %w", v.Name(), v.Field.PEN, v.Field.ID, err)
				}
			}
			compared = true
		}
	}
	if m != mNone && ev.hasFlow {
		if err := compareFlow(ctx, ev, key, m, want, ts); err != nil {
			return fmt.Errorf("flow: %w", err)
		}
		compared = true
	}
	if !compared {
		if ev.rec != nil {
			var names []string
			for v := range ev.rec.All() {
				names = append(names, fmt.Sprintf("%s(%d.%d)=%s", v.Name(), v.Field.PEN, v.Field.ID, v.String()))
			}
			return fmt.Errorf("no value for %q (want %v) in %s", key, want, strings.Join(names, " "))
		}
		return fmt.Errorf("no value for %q (want %v)", key, want)
	}
	return nil
}

func compareFlow(ctx string, ev *lsEvent, key string, m flowMeaning, want any, ts *tsharkDecode) error {
	f := &ev.flow
	if (m == mSrcAddr || m == mDstAddr || m == mNextHop) && ev.rec != nil {
		// A template may carry both the IPv4 and the IPv6 element (Procera
		// does); the Flow holds the one of its family, and the other is
		// compared as a record value.
		if _, hasV4 := ev.rec.Lookup(map[flowMeaning]uint16{mSrcAddr: 8, mDstAddr: 12, mNextHop: 15}[m]); hasV4 {
			if _, hasV6 := ev.rec.Lookup(map[flowMeaning]uint16{mSrcAddr: 27, mDstAddr: 28, mNextHop: 62}[m]); hasV6 {
				v6key := strings.Contains(strings.ToLower(key), "ipv6")
				if v6key != (m == mSrcAddr && f.SrcAddr.Is6() || m == mDstAddr && f.DstAddr.Is6() || m == mNextHop && f.NextHop.Is6()) {
					return nil
				}
			}
		}
	}
	switch m {
	case mSrcAddr:
		return equalAddr(want, f.SrcAddr)
	case mDstAddr:
		return equalAddr(want, f.DstAddr)
	case mNextHop:
		return equalAddr(want, f.NextHop)
	case mSrcPort:
		return equalNumber(want, uint64(f.SrcPort))
	case mDstPort:
		return equalNumber(want, uint64(f.DstPort))
	case mProto:
		return equalNumber(want, uint64(f.Proto))
	case mToS:
		return equalNumber(want, uint64(f.ToS))
	case mTCPFlags:
		return equalNumber(want, uint64(f.TCPFlags))
	case mPackets:
		return equalNumber(want, f.Packets)
	case mBytes:
		return equalNumber(want, f.Bytes)
	case mInIf:
		return equalNumber(want, uint64(f.InIf))
	case mOutIf:
		return equalNumber(want, uint64(f.OutIf))
	case mSrcAS:
		return equalNumber(want, uint64(f.SrcAS))
	case mDstAS:
		return equalNumber(want, uint64(f.DstAS))
	case mSrcMask:
		return equalNumber(want, uint64(f.SrcMask))
	case mDstMask:
		return equalNumber(want, uint64(f.DstMask))
	case mStart, mEnd:
		got := f.Start
		if m == mEnd {
			got = f.End
		}
		if key == "first_switched" || key == "last_switched" {
			_, tsharkFailed := tsharkCountDiffers[ctx]
			return equalSwitched(ev, m, want, got, ts, tsharkFailed)
		}
		if why, ok := lsTimeFromTshark[ctx+"/"+key]; ok {
			if err := equalTsharkTime(ev, m, got, ts); err != nil {
				return fmt.Errorf("%w (%s)", err, why)
			}
			return nil
		}
		return equalTimeKey(key, want, got)
	}
	return fmt.Errorf("no meaning %d", m)
}

func wantString(want any) (string, bool) {
	switch w := want.(type) {
	case string:
		return w, true
	case json.Number:
		return w.String(), true
	}
	return "", false
}

func equalNumber(want any, got uint64) error {
	s, _ := wantString(want)
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("want %v, not a number", want)
	}
	if n != got {
		return fmt.Errorf("got %d, want %d", got, n)
	}
	return nil
}

func equalAddr(want any, got netip.Addr) error {
	s, _ := wantString(want)
	a, err := netip.ParseAddr(s)
	if err != nil {
		return fmt.Errorf("want %v, not an address", want)
	}
	if a != got {
		return fmt.Errorf("got %v, want %v", got, a)
	}
	return nil
}

func equalTime(want any, got time.Time) error {
	s, _ := wantString(want)
	w, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("want %v, not a time", want)
	}
	if !w.Equal(got) {
		return fmt.Errorf("got %v, want %v", got.Format(time.RFC3339Nano), w.Format(time.RFC3339Nano))
	}
	return nil
}

// equalTimeKey compares a time that logstash gives as an ISO time or, for
// some keys, as seconds or milliseconds since 1970.
func equalTimeKey(key string, want any, got time.Time) error {
	if n, ok := want.(json.Number); ok {
		v, err := n.Int64()
		if err != nil {
			return err
		}
		var w time.Time
		switch {
		case strings.Contains(key, "Seconds"):
			w = time.Unix(v, 0)
		default:
			w = time.UnixMilli(v)
		}
		if !w.Equal(got) {
			return fmt.Errorf("got %v, want %v", got, w.UTC())
		}
		return nil
	}
	return equalTime(want, got)
}

// equalValue compares a record value with logstash's, by the value's type.
func equalValue(want any, v netflow.Value) error {
	switch w := want.(type) {
	case map[string]any:
		return equalObject(w, v)
	case string:
		if v.Field.PEN == 0 && v.Field.ID == 95 {
			if got := lsApplicationID(v.Raw); got != w {
				return fmt.Errorf("got %s (%x), want %s", got, v.Raw, w)
			}
			return nil
		}
	case bool:
		b, ok := v.Bool()
		if !ok || b != w {
			return fmt.Errorf("got %s, want %v", v, w)
		}
		return nil
	}
	s, _ := wantString(want)
	got := v.String()
	if got == s {
		return nil
	}
	if n, ok := want.(json.Number); ok {
		if u, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
			if g, ok := v.Uint(); ok && g == u {
				return nil
			}
		}
		if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
			if g, ok := v.Int(); ok && g == i {
				return nil
			}
		}
		if fl, err := n.Float64(); err == nil {
			if g, ok := v.Float(); ok && math.Abs(g-fl) <= 1e-6*math.Max(1, math.Abs(fl)) {
				return nil
			}
		}
		return fmt.Errorf("got %s, want %s", got, n)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if g, ok := v.Addr(); ok && g == a {
			return nil
		}
	}
	if w, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if g, ok := v.Time(); ok && g.Equal(w) {
			return nil
		}
	}
	if strings.EqualFold(got, s) {
		return nil // MAC addresses, hex
	}
	// Octet arrays: logstash prints MACs with colons and the ASA ACL IDs
	// as three dash-separated words.
	if h, err := hex.DecodeString(strings.NewReplacer(":", "", "-", "").Replace(s)); err == nil && len(h) > 0 && bytes.Equal(h, v.Raw) {
		return nil
	}
	if v.Text() == s {
		return nil
	}
	// Binary strings (nProbe's L7_PROTO_NAME holds garbage): logstash's
	// JSON holds the bytes as Latin-1 characters.
	if latin1, ok := latin1Bytes(s); ok && bytes.Equal(bytes.TrimRight(v.Raw, "\x00"), bytes.TrimRight(latin1, "\x00")) {
		return nil
	}
	return fmt.Errorf("got %q, want %q", got, s)
}

func latin1Bytes(s string) ([]byte, bool) {
	var b []byte
	for _, r := range s {
		if r > 255 {
			return nil, false
		}
		b = append(b, byte(r))
	}
	return b, true
}

// equalObject compares a logstash object value: forwarding_status (v9 89)
// split into its 2-bit status and 6-bit reason, or a 4-byte MPLS label
// stack entry (label 20 bits, experimental 3, bottom of stack 1, TTL 8).
func equalObject(w map[string]any, v netflow.Value) error {
	if _, ok := w["label"]; ok {
		u, ok := v.Uint()
		if !ok || len(v.Raw) != 4 {
			return fmt.Errorf("got %s, want %v", v, w)
		}
		for _, p := range []struct {
			k string
			n uint64
		}{{"label", u >> 12}, {"experimental", u >> 9 & 7}, {"bottom_of_stack", u >> 8 & 1}, {"ttl", u & 0xff}} {
			if err := equalNumber(w[p.k], p.n); err != nil {
				return fmt.Errorf("%s: %w", p.k, err)
			}
		}
		return nil
	}
	u, ok := v.Uint()
	if !ok || len(v.Raw) != 1 {
		return fmt.Errorf("got %s, want %v", v, w)
	}
	if err := equalNumber(w["status"], u>>6); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	if err := equalNumber(w["reason"], u&0x3f); err != nil {
		return fmt.Errorf("reason: %w", err)
	}
	return nil
}
