package main

import (
	"encoding/json"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// tsharkCapture is the part of testdata/expected/*.json (tshark's decode of
// a capture, see testdata/README.md) the expected totals come from.
type tsharkCapture struct {
	Datagrams []struct {
		SysUptimeMS      int64 `json:"sys_uptime_ms"`
		UnixSecs         int64 `json:"unix_secs"`
		UnixNsecs        int64 `json:"unix_nsecs"`
		SamplingInterval int64 `json:"sampling_interval"`
		Flows            []struct {
			Options       bool              `json:"options"`
			SrcAddr       string            `json:"src_addr"`
			DstAddr       string            `json:"dst_addr"`
			SrcPort       *int              `json:"src_port"`
			DstPort       *int              `json:"dst_port"`
			Proto         *int              `json:"proto"`
			SrcAS         *int              `json:"src_as"`
			DstAS         *int              `json:"dst_as"`
			Packets       uint64            `json:"packets"`
			Bytes         uint64            `json:"bytes"`
			FirstUptimeMS int64             `json:"first_uptime_ms"`
			Fields        map[string]string `json:"fields"`
		} `json:"flows"`
	} `json:"datagrams"`
}

// expectedTotals are totals computed from tshark's decode: by
// granularity, bucket and field.
type expectedTotals map[string]map[string]map[string]statAnswer

// totalsFromTshark computes the hour and minute totals (field all and every
// tracked field tshark shows: proto, srcip, srcport, srcas, dstip, dstport,
// dstas) of the flows in tshark's decode at path that the netflowd
// rules count for a sender with prefixes, and the number of flows that
// match none of them. It uses only tshark's figures: a flow starts at the
// export time minus the uptime plus its first-packet uptime.
func totalsFromTshark(t *testing.T, path string, prefixes []netip.Prefix) (expectedTotals, uint64) {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var capt tsharkCapture
	require.NoError(t, json.Unmarshal(data, &capt))
	out := expectedTotals{"hours": {}, "minutes": {}}
	var unmatched uint64
	add := func(gran, bucket, field string, dir direction, packets, bytes uint64) {
		if out[gran][bucket] == nil {
			out[gran][bucket] = map[string]statAnswer{}
		}
		a := out[gran][bucket][field]
		inc := func(c *statCounts) { c.Flows++; c.Packets += packets; c.Bytes += bytes }
		inc(&a.statCounts)
		if dir&dirIn != 0 {
			inc(&a.In)
		}
		if dir&dirOut != 0 {
			inc(&a.Out)
		}
		out[gran][bucket][field] = a
	}
	for _, d := range capt.Datagrams {
		sampling := max(d.SamplingInterval, 1)
		exportMS := d.UnixSecs*1000 + d.UnixNsecs/1e6
		for _, f := range d.Flows {
			if f.Options {
				if n, err := strconv.ParseInt(f.Fields["cflow.sampling_interval"], 10, 64); err == nil && n > 0 {
					sampling = n
				}
				continue
			}
			src, dst := netip.MustParseAddr(f.SrcAddr), netip.MustParseAddr(f.DstAddr)
			var dir direction
			for _, p := range prefixes {
				if p.Contains(src) {
					dir |= dirOut
				}
				if p.Contains(dst) {
					dir |= dirIn
				}
			}
			if dir == 0 {
				unmatched++
				continue
			}
			start := time.UnixMilli(exportMS - d.SysUptimeMS + f.FirstUptimeMS).UTC()
			packets, bytes := f.Packets*uint64(sampling), f.Bytes*uint64(sampling)
			for gran, layout := range map[string]string{"hours": "2006-01-02 15", "minutes": "2006-01-02 15:04"} {
				bucket := start.Format(layout)
				add(gran, bucket, "all", dir, packets, bytes)
				add(gran, bucket, "srcip:"+src.String(), dir, packets, bytes)
				add(gran, bucket, "dstip:"+dst.String(), dir, packets, bytes)
				for name, v := range map[string]*int{"proto": f.Proto, "srcport": f.SrcPort, "dstport": f.DstPort, "srcas": f.SrcAS, "dstas": f.DstAS} {
					if v != nil {
						add(gran, bucket, name+":"+strconv.Itoa(*v), dir, packets, bytes)
					}
				}
			}
		}
	}
	return out, unmatched
}

// query returns the POST /stats body asking for every bucket and field of
// e.
func (e expectedTotals) query() map[string]map[string][]string {
	q := map[string]map[string][]string{}
	for gran, buckets := range e {
		q[gran] = map[string][]string{}
		for b, fields := range buckets {
			for f := range fields {
				q[gran][b] = append(q[gran][b], f)
			}
		}
	}
	return q
}

// statsOf asks the API at base for the totals of e's buckets and fields
// for sender ip.
func statsOf(t *testing.T, base, ip string, e expectedTotals) expectedTotals {
	t.Helper()
	status, raw := callAPI(t, base, "POST", "/stats/"+ip, e.query())
	require.Equal(t, 200, status, "%v", raw)
	data, err := json.Marshal(raw)
	require.NoError(t, err)
	var got expectedTotals
	require.NoError(t, json.Unmarshal(data, &got))
	return got
}
