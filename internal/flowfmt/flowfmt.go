// Package flowfmt formats decoded flows and options records for the
// example programs: fixed-width table rows for people to read, and the
// JSON object of an options data record. The JSON encoding of flows and
// record fields is the root package's (Flow.AppendJSON,
// Record.AppendFieldsJSON); this package only frames options records with it.
//
// Every function appends to a caller-owned byte slice and returns it, so a
// program can reuse one line buffer; none appends a trailing newline.
package flowfmt

import (
	"net/netip"
	"strconv"

	"github.com/flowkit/netflow"
)

// TimeLayout is how times are written in JSON (netflow.JSONTimeLayout).
const TimeLayout = netflow.JSONTimeLayout

// FlowKeys lists the JSON keys of a flow object in the order
// netflow.Flow.AppendJSONWithFields writes them. Only exporter and version
// are always present; "protocol" and "agent" only for sFlow flows; the
// others appear when the flow's Known mask has
// them, and fields when a record is given. A test holds it to the root
// package's encoder.
var FlowKeys = []string{
	"exporter", "version", "protocol", "agent", "domain", "sequence",
	"src_addr", "dst_addr", "next_hop", "src_port", "dst_port",
	"proto", "tos", "tcp_flags", "packets", "bytes", "start", "end",
	"in_if", "out_if", "src_as", "dst_as", "src_mask", "dst_mask",
	"sampling_interval", "scaled", "src_mac", "dst_mac", "vlan", "post_vlan",
	"direction", "end_reason", "bgp_next_hop", "icmp_type", "icmp_code",
	"ip_version", "in_vrf", "out_vrf", "mpls_label", "eth_type",
	"post_nat_src_addr", "post_nat_dst_addr", "post_nat_src_port", "post_nat_dst_port",
	"fields",
}

// AppendOptionsJSON appends an options data record as one JSON object with
// the keys options (always true), exporter, version, domain, template_id and
// fields (netflow.Record.AppendFieldsJSON), in that order.
func AppendOptionsJSON(dst []byte, exporter netip.AddrPort, version uint16, domain uint32, rec *netflow.Record) []byte {
	dst = append(dst, `{"options":true,"exporter":"`...)
	if exporter.IsValid() {
		dst = exporter.AppendTo(dst)
	}
	dst = append(dst, `","version":`...)
	dst = strconv.AppendUint(dst, uint64(version), 10)
	dst = append(dst, `,"domain":`...)
	dst = strconv.AppendUint(dst, uint64(domain), 10)
	dst = append(dst, `,"template_id":`...)
	dst = strconv.AppendUint(dst, uint64(rec.Template.ID), 10)
	dst = append(dst, `,"fields":`...)
	dst = rec.AppendFieldsJSON(dst)
	return append(dst, '}')
}

// forEachField calls fn with the unique name and the text of every value of
// rec, the names as netflow.Record.AppendFieldsJSON writes them.
func forEachField(rec *netflow.Record, fn func(name, value string)) {
	var seen []string
	for v := range rec.All() {
		name := v.Name()
		n := 1
		for _, s := range seen {
			if s == name {
				n++
			}
		}
		seen = append(seen, name)
		if n > 1 {
			name += "#" + strconv.Itoa(n)
		}
		fn(name, v.String())
	}
}
