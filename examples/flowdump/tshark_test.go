package main

// flowdump's output against tshark's decode of the same captures
// (testdata/expected, read with testkit's one schema), record by record.

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/flowfmt"
	"github.com/flowkit/netflow/internal/testkit"
)

// tsharkFile is one of testdata/expected/*.json, made from tshark's decode
// of the same captures.
type tsharkFile = testkit.Expected

func loadTshark(t *testing.T, name string) *tsharkFile {
	t.Helper()
	f := testkit.LoadExpected(t, td+"expected/"+name)
	require.NotEmpty(t, f.Datagrams, name)
	return &f
}

func rfc3339(t time.Time) string { return t.UTC().Format(flowfmt.TimeLayout) }

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

// compareWithTshark checks flowdump's JSON objects, flows and options
// records in wire order, against tshark's decode. sysInit gives the time
// that IPFIX uptimes count from (nil: v5/v9 uptimes, relative to the
// header's export time and sysUptime).
func compareWithTshark(t *testing.T, objs []object, exp *tsharkFile, sysInit func(fields map[string]string) time.Time) {
	t.Helper()
	i, skipped := 0, 0
	var init time.Time
	for di, d := range exp.Datagrams {
		export := time.Unix(int64(val(d.UnixSecs)), int64(val(d.UnixNsecs)))
		skipped += len(d.SkippedSets)
		for fi, ef := range d.Flows {
			require.Less(t, i, len(objs), "flowdump printed fewer objects than tshark has (datagram %d flow %d)", di, fi)
			o := objs[i]
			i++
			where := fmt.Sprintf("datagram %d flow %d", di, fi)
			v, _ := o.num("version")
			assert.Equal(t, uint64(d.Version), v, "%s: version", where)
			if ef.Options {
				require.False(t, o.flows(), "%s: tshark has an options record, flowdump a flow: %v", where, o)
				id, _ := o.num("template_id")
				assert.Equal(t, uint64(val(ef.TemplateID)), id, "%s: template_id", where)
				if sysInit != nil {
					init = sysInit(ef.Fields)
				}
				continue
			}
			require.True(t, o.flows(), "%s: tshark has a flow, flowdump an options record: %v", where, o)
			// A key tshark does not show (ports of an ICMP flow) must be
			// missing from flowdump's object too.
			for _, c := range []struct {
				key  string
				want *uint64
			}{
				{"src_port", wide(ef.SrcPort)}, {"dst_port", wide(ef.DstPort)}, {"proto", wide(ef.Proto)},
				{"tcp_flags", wide(ef.TCPFlags)}, {"packets", ef.Packets}, {"bytes", ef.Bytes},
			} {
				got, ok := o.num(c.key)
				if c.want == nil {
					assert.False(t, ok, "%s: %s = %d, tshark has none", where, c.key, got)
					continue
				}
				if assert.True(t, ok, "%s: %s missing, tshark %d", where, c.key, *c.want) {
					assert.Equal(t, *c.want, got, "%s: %s", where, c.key)
				}
			}
			assert.Equal(t, val(ef.SrcAddr), o.str("src_addr"), "%s: src_addr", where)
			assert.Equal(t, val(ef.DstAddr), o.str("dst_addr"), "%s: dst_addr", where)
			first, last := val(ef.FirstUptimeMS), val(ef.LastUptimeMS)
			var start, end time.Time
			if sysInit != nil {
				start = init.Add(time.Duration(first) * time.Millisecond)
				end = init.Add(time.Duration(last) * time.Millisecond)
			} else {
				// Uptimes are 32-bit milliseconds that wrap: the flow began
				// sysUptime-first (mod 2^32) before the export.
				start = export.Add(-time.Duration(val(d.SysUptimeMS)-first) * time.Millisecond)
				end = export.Add(-time.Duration(val(d.SysUptimeMS)-last) * time.Millisecond)
			}
			assert.Equal(t, rfc3339(start), o.str("start"), "%s: start", where)
			assert.Equal(t, rfc3339(end), o.str("end"), "%s: end", where)
		}
	}
	if i < len(objs) && skipped > 0 {
		// tshark left out sets it could not decode (the last ones of
		// softflowd's datagrams): flowdump may print more.
		t.Logf("flowdump printed %d objects, tshark %d and %d skipped set(s)", len(objs), i, skipped)
		return
	}
	assert.Equal(t, i, len(objs), "objects flowdump printed, tshark's records")
}

// TestAgainstTshark checks flowdump's values against tshark's decode of the
// same captures (testdata/expected), field by field.
func TestAgainstTshark(t *testing.T) {
	sysInitTime := func(fields map[string]string) time.Time {
		s := fields["cflow.sys_init_time"]
		tm, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", s)
		require.NoError(t, err, "tshark sys_init_time %q", s)
		return tm
	}
	for _, c := range []struct {
		expected, capture string
		ipfix             bool
	}{
		{"fprobe_v5.json", "generated-fprobe/fprobe_v5.pcap", false},
		{"fprobe_v1.json", "generated-fprobe/fprobe_v1.pcap", false},
		{"fprobe_v7.json", "generated-fprobe/fprobe_v7.pcap", false},
		{"netflow5.json", "logstash-codec-netflow/netflow5.dat", false},
		{"softflowd_v5.json", "softflowd/softflowd_v5.pcap", false},
		{"softflowd_v9.json", "softflowd/softflowd_v9.pcap", false},
		{"softflowd_v10.json", "softflowd/softflowd_v10.pcap", true},
	} {
		t.Run(c.expected, func(t *testing.T) {
			exp := loadTshark(t, c.expected)
			out, errOut, code := flowdump(t, "-json", td+c.capture)
			require.Equal(t, 0, code, "exit code; stderr:\n%s", errOut)
			require.Empty(t, errOut)
			var init func(map[string]string) time.Time
			if c.ipfix {
				init = sysInitTime
			}
			compareWithTshark(t, jsonLines(t, out), exp, init)
		})
	}
}

// TestFprobeV5FirstLast spells out the first and last flow of fprobe_v5.pcap
// as tshark decodes them (testdata/expected/fprobe_v5.json): export time
// 1795760350 s + 907000 ns, sysUptime 1048580999 ms.
func TestFprobeV5FirstLast(t *testing.T) {
	out, _, code := flowdump(t, "-json", td+"generated-fprobe/fprobe_v5.pcap")
	require.Equal(t, 0, code, "exit code")
	objs := jsonLines(t, out)
	require.Len(t, objs, 14)
	export := time.Unix(1795760350, 907000)
	at := func(uptime int64) string {
		return rfc3339(export.Add(-time.Duration(1048580999-uptime) * time.Millisecond))
	}
	for _, c := range []struct {
		o                      object
		src, dst               string
		sport, dport           uint64
		packets, bytes         uint64
		first, last            int64
		exporter               string
		proto, flags, sequence uint64
	}{
		{objs[0], "127.0.0.1", "127.0.0.1", 44192, 18080, 7, 451, 1048573549, 1048573549, "127.0.0.1:46222", 6, 27, 0},
		{objs[13], "127.0.0.1", "127.0.0.1", 18080, 44212, 6, 1275, 1048573584, 1048573584, "127.0.0.1:46222", 6, 27, 0},
	} {
		o := c.o
		assert.Equal(t, c.exporter, o.str("exporter"), "%v", o)
		assert.Equal(t, c.src, o.str("src_addr"), "%v", o)
		assert.Equal(t, c.dst, o.str("dst_addr"), "%v", o)
		for key, want := range map[string]uint64{
			"src_port": c.sport, "dst_port": c.dport, "packets": c.packets, "bytes": c.bytes,
			"proto": c.proto, "tcp_flags": c.flags, "sequence": c.sequence, "version": 5,
		} {
			got, ok := o.num(key)
			assert.True(t, ok, "%s missing", key)
			assert.Equal(t, want, got, key)
		}
		assert.Equal(t, at(c.first), o.str("start"))
		assert.Equal(t, at(c.last), o.str("end"))
	}
	assert.Equal(t, "2026-11-27T06:19:02.550907000Z", objs[0].str("start"), "first start")
}
