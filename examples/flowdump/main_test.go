package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/flowfmt"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// td is the repository's shared capture corpus.
const td = "../../testdata/"

func flowdump(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// lines splits output into its lines, without the empty one after the last
// newline.
func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// object is one JSON line, decoded.
type object map[string]any

// jsonLines decodes -json output, checking that every line is one JSON
// object whose keys come in the documented order.
func jsonLines(t *testing.T, out string) []object {
	t.Helper()
	var objs []object
	for i, line := range lines(out) {
		keys := objectKeys(t, line)
		order := flowfmt.FlowKeys
		if len(keys) > 0 && keys[0] == "options" {
			order = []string{"options", "exporter", "version", "domain", "template_id", "fields"}
		}
		if !isSubsequence(keys, order) {
			t.Fatalf("line %d: keys %v are not in the order %v", i+1, keys, order)
		}
		var o object
		if err := json.Unmarshal([]byte(line), &o); err != nil {
			t.Fatalf("line %d: %v: %s", i+1, err, line)
		}
		objs = append(objs, o)
	}
	return objs
}

func objectKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
	}
	return keys
}

func isSubsequence(keys, order []string) bool {
	i := 0
	for _, k := range keys {
		for i < len(order) && order[i] != k {
			i++
		}
		if i == len(order) {
			return false
		}
		i++
	}
	return true
}

func (o object) str(key string) string {
	s, _ := o[key].(string)
	return s
}

func (o object) num(key string) (uint64, bool) {
	f, ok := o[key].(float64)
	return uint64(f), ok
}

func (o object) flows() bool { return o["options"] != true }

var goldenCases = []struct {
	golden string
	args   []string
}{
	{"fprobe_v5.jsonl", []string{"-json", td + "generated-fprobe/fprobe_v5.pcap"}},
	{"fprobe_v5.txt", []string{td + "generated-fprobe/fprobe_v5.pcap"}},
	{"fprobe_v1.jsonl", []string{"-json", td + "generated-fprobe/fprobe_v1.pcap"}},
	{"fprobe_v7.jsonl", []string{"-json", td + "generated-fprobe/fprobe_v7.pcap"}},
	{"netflow5.jsonl", []string{"-json", td + "logstash-codec-netflow/netflow5.dat"}},
	{"cisco_asa_1.jsonl", []string{"-json",
		td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_tpl.dat",
		td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_data.dat"}},
	{"ipfix.jsonl", []string{"-json", td + "logstash-codec-netflow/ipfix.dat"}},
	{"ipfix.txt", []string{td + "logstash-codec-netflow/ipfix.dat"}},
	{"ipfix_barracuda.jsonl", []string{"-json",
		td + "logstash-codec-netflow/ipfix_test_barracuda_tpl.dat",
		td + "logstash-codec-netflow/ipfix_test_barracuda_data256.dat"}},
	{"softflowd_v1.jsonl", []string{"-json", td + "softflowd/softflowd_v1.pcap"}},
	{"softflowd_v5.jsonl", []string{"-json", td + "softflowd/softflowd_v5.pcap"}},
	{"softflowd_v9.jsonl", []string{"-json", td + "softflowd/softflowd_v9.pcap"}},
	{"softflowd_v10.jsonl", []string{"-json", td + "softflowd/softflowd_v10.pcap"}},
}

// TestGolden compares the output for shipped captures with the files in
// testdata/golden. They are regression checks: `go test -update` rewrites
// them, and TestAgainstTshark is what checks the values.
func TestGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.golden, func(t *testing.T) {
			for _, a := range c.args {
				if !strings.HasPrefix(a, "-") {
					if _, err := os.Stat(a); err != nil {
						t.Skipf("capture not shipped: %v", err)
					}
				}
			}
			out, errOut, code := flowdump(t, c.args...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, errOut)
			}
			if strings.HasSuffix(c.golden, ".jsonl") {
				jsonLines(t, out)
			}
			path := filepath.Join("testdata", "golden", c.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./examples/flowdump -update)", err)
			}
			if out != string(want) {
				got, exp := lines(out), lines(string(want))
				for i := range max(len(got), len(exp)) {
					g, e := "<none>", "<none>"
					if i < len(got) {
						g = got[i]
					}
					if i < len(exp) {
						e = exp[i]
					}
					if g != e {
						t.Fatalf("output differs from %s at line %d:\ngot  %s\nwant %s", path, i+1, g, e)
					}
				}
			}
		})
	}
}

// tsharkFile is the part of testdata/expected/*.json, made from tshark's
// decode of the same captures, that the tests compare with.
type tsharkFile struct {
	Datagrams []struct {
		Version     int    `json:"version"`
		SysUptimeMs uint32 `json:"sys_uptime_ms"`
		UnixSecs    int64  `json:"unix_secs"`
		UnixNsecs   int64  `json:"unix_nsecs"`
		Flows       []struct {
			TemplateID    int               `json:"template_id"`
			Options       bool              `json:"options"`
			SrcAddr       string            `json:"src_addr"`
			DstAddr       string            `json:"dst_addr"`
			SrcPort       *uint64           `json:"src_port"`
			DstPort       *uint64           `json:"dst_port"`
			Proto         *uint64           `json:"proto"`
			TCPFlags      *uint64           `json:"tcp_flags"`
			Packets       *uint64           `json:"packets"`
			Bytes         *uint64           `json:"bytes"`
			FirstUptimeMs uint32            `json:"first_uptime_ms"`
			LastUptimeMs  uint32            `json:"last_uptime_ms"`
			Fields        map[string]string `json:"fields"`
		} `json:"flows"`
		// SkippedSets are sets tshark could not decode and left out.
		SkippedSets []struct {
			SetID int `json:"set_id"`
		} `json:"tshark_skipped_sets"`
	} `json:"datagrams"`
}

func loadTshark(t *testing.T, name string) *tsharkFile {
	t.Helper()
	b, err := os.ReadFile(td + "expected/" + name)
	if err != nil {
		t.Skipf("no tshark decode: %v", err)
	}
	var f tsharkFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Datagrams) == 0 {
		t.Fatalf("%s: no datagrams", name)
	}
	return &f
}

func rfc3339(t time.Time) string { return t.UTC().Format(flowfmt.TimeLayout) }

// compareWithTshark checks flowdump's JSON objects, flows and options
// records in wire order, against tshark's decode. sysInit gives the time
// that IPFIX uptimes count from (nil: v5/v9 uptimes, relative to the
// header's export time and sysUptime).
func compareWithTshark(t *testing.T, objs []object, exp *tsharkFile, sysInit func(fields map[string]string) time.Time) {
	t.Helper()
	i, skipped := 0, 0
	var init time.Time
	for di, d := range exp.Datagrams {
		export := time.Unix(d.UnixSecs, d.UnixNsecs)
		skipped += len(d.SkippedSets)
		for fi, ef := range d.Flows {
			if i >= len(objs) {
				t.Fatalf("flowdump printed %d objects, tshark has more (datagram %d flow %d)", len(objs), di, fi)
			}
			o := objs[i]
			i++
			where := fmt.Sprintf("datagram %d flow %d", di, fi)
			if v, _ := o.num("version"); int(v) != d.Version {
				t.Errorf("%s: version %d, tshark %d", where, v, d.Version)
			}
			if ef.Options {
				if o.flows() {
					t.Fatalf("%s: tshark has an options record, flowdump a flow: %v", where, o)
				}
				if id, _ := o.num("template_id"); int(id) != ef.TemplateID {
					t.Errorf("%s: template_id %d, tshark %d", where, id, ef.TemplateID)
				}
				if sysInit != nil {
					init = sysInit(ef.Fields)
				}
				continue
			}
			if !o.flows() {
				t.Fatalf("%s: tshark has a flow, flowdump an options record: %v", where, o)
			}
			// A key tshark does not show (ports of an ICMP flow) must be
			// missing from flowdump's object too.
			for _, c := range []struct {
				key  string
				want *uint64
			}{
				{"src_port", ef.SrcPort}, {"dst_port", ef.DstPort}, {"proto", ef.Proto},
				{"tcp_flags", ef.TCPFlags}, {"packets", ef.Packets}, {"bytes", ef.Bytes},
			} {
				got, ok := o.num(c.key)
				switch {
				case c.want == nil && ok:
					t.Errorf("%s: %s = %d, tshark has none", where, c.key, got)
				case c.want != nil && (!ok || got != *c.want):
					t.Errorf("%s: %s = %v, tshark %d", where, c.key, o[c.key], *c.want)
				}
			}
			if o.str("src_addr") != ef.SrcAddr || o.str("dst_addr") != ef.DstAddr {
				t.Errorf("%s: %s -> %s, tshark %s -> %s", where, o.str("src_addr"), o.str("dst_addr"), ef.SrcAddr, ef.DstAddr)
			}
			var start, end time.Time
			if sysInit != nil {
				start = init.Add(time.Duration(ef.FirstUptimeMs) * time.Millisecond)
				end = init.Add(time.Duration(ef.LastUptimeMs) * time.Millisecond)
			} else {
				// Uptimes are 32-bit milliseconds that wrap: the flow began
				// sysUptime-first (mod 2^32) before the export.
				start = export.Add(-time.Duration(d.SysUptimeMs-ef.FirstUptimeMs) * time.Millisecond)
				end = export.Add(-time.Duration(d.SysUptimeMs-ef.LastUptimeMs) * time.Millisecond)
			}
			if o.str("start") != rfc3339(start) || o.str("end") != rfc3339(end) {
				t.Errorf("%s: %s .. %s, tshark gives %s .. %s", where, o.str("start"), o.str("end"), rfc3339(start), rfc3339(end))
			}
		}
	}
	switch {
	case i < len(objs) && skipped > 0:
		// tshark left out sets it could not decode (the last ones of
		// softflowd's datagrams): flowdump may print more.
		t.Logf("flowdump printed %d objects, tshark %d and %d skipped set(s)", len(objs), i, skipped)
	case i != len(objs):
		t.Errorf("flowdump printed %d objects, tshark has %d", len(objs), i)
	}
}

// TestAgainstTshark checks flowdump's values against tshark's decode of the
// same captures (testdata/expected), field by field.
func TestAgainstTshark(t *testing.T) {
	sysInitTime := func(fields map[string]string) time.Time {
		s := fields["cflow.sys_init_time"]
		tm, err := time.Parse("Jan 2, 2006 15:04:05.000000000 MST", s)
		if err != nil {
			t.Fatalf("tshark sys_init_time %q: %v", s, err)
		}
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
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr:\n%s", code, errOut)
			}
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
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	objs := jsonLines(t, out)
	if len(objs) != 14 {
		t.Fatalf("%d flows, want 14", len(objs))
	}
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
		if o.str("exporter") != c.exporter || o.str("src_addr") != c.src || o.str("dst_addr") != c.dst {
			t.Errorf("%v: want exporter %s, %s -> %s", o, c.exporter, c.src, c.dst)
		}
		for key, want := range map[string]uint64{
			"src_port": c.sport, "dst_port": c.dport, "packets": c.packets, "bytes": c.bytes,
			"proto": c.proto, "tcp_flags": c.flags, "sequence": c.sequence, "version": 5,
		} {
			if got, ok := o.num(key); !ok || got != want {
				t.Errorf("%s = %v, want %d", key, o[key], want)
			}
		}
		if o.str("start") != at(c.first) || o.str("end") != at(c.last) {
			t.Errorf("start/end %s %s, want %s %s", o.str("start"), o.str("end"), at(c.first), at(c.last))
		}
	}
	if got := objs[0].str("start"); got != "2026-11-27T06:19:02.550907000Z" {
		t.Errorf("first start %s", got)
	}
}

func TestMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pcap")
	out, errOut, code := flowdump(t, "-json", td+"logstash-codec-netflow/netflow5.dat", missing)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if got := lines(errOut); len(got) != 1 || !strings.Contains(got[0], missing) {
		t.Errorf("stderr %q: want one line naming %s", errOut, missing)
	}
	if n := len(lines(out)); n != 30 {
		t.Errorf("%d flows printed from the file that could be read, want 30", n)
	}
}

func TestMalformedDatagram(t *testing.T) {
	file := td + "logstash-codec-netflow/netflow5_test_invalid01.dat"
	out, errOut, code := flowdump(t, "-json", "-stats", file)
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	first, _, _ := strings.Cut(errOut, "\n")
	if !strings.Contains(first, file+": datagram 0 ") || !strings.Contains(first, "truncated") {
		t.Errorf("error line %q: want the file, datagram 0 and the error", first)
	}
	if !strings.Contains(errOut, "errors: 1 datagrams (truncated 1)") {
		t.Errorf("-stats does not count the error by kind:\n%s", errOut)
	}
}

// TestPartialV9 decodes a v9 datagram whose second flowset is cut short:
// the error is reported and the flows of the first flowset still printed.
func TestPartialV9(t *testing.T) {
	tpl, err := os.ReadFile(td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_tpl.dat")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_data.dat")
	if err != nil {
		t.Fatal(err)
	}
	// A second copy of the data flowset whose length runs past the end.
	set := data[20:]
	bad := append(slices.Clip(data), set[:len(set)/2]...)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tpl.dat"), tpl, 0o644)
	os.WriteFile(filepath.Join(dir, "bad.dat"), bad, 0o644)
	out, errOut, code := flowdump(t, "-json", filepath.Join(dir, "tpl.dat"), filepath.Join(dir, "bad.dat"))
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(errOut, "bad.dat: datagram 0 ") || !strings.Contains(errOut, "truncated") {
		t.Errorf("stderr %q", errOut)
	}
	whole, _, _ := flowdump(t, "-json", td+"logstash-codec-netflow/netflow9_test_cisco_asa_1_tpl.dat",
		td+"logstash-codec-netflow/netflow9_test_cisco_asa_1_data.dat")
	if len(lines(out)) == 0 || out != whole {
		t.Errorf("the good flowset's flows are not printed:\n%s", out)
	}
}

// TestTemplateAcrossFiles: one decoder reads all the files, so data finds
// the template of an earlier file, and data that came first is printed when
// its template comes.
func TestTemplateAcrossFiles(t *testing.T) {
	tpl := td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_tpl.dat"
	data := td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_data.dat"
	fwd, _, _ := flowdump(t, "-json", tpl, data)
	if n := len(lines(fwd)); n != 14 {
		t.Fatalf("%d flows, want 14", n)
	}
	alone, errOut, _ := flowdump(t, "-json", data)
	if alone != "" || !strings.Contains(errOut, "wait for a template") {
		t.Errorf("data without template: stdout %q stderr %q", alone, errOut)
	}
	rev, errOut, code := flowdump(t, "-json", data, tpl)
	if code != 0 || errOut != "" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if rev != fwd {
		t.Errorf("data before template:\n%s\nwant\n%s", rev, fwd)
	}
}

func TestTableAndOptions(t *testing.T) {
	ipfix := td + "logstash-codec-netflow/ipfix.dat"
	out, _, _ := flowdump(t, ipfix, td+"generated-fprobe/fprobe_v5.pcap")
	ls := lines(out)
	if !strings.HasPrefix(ls[0], "VER ") {
		t.Errorf("no header line: %q", ls[0])
	}
	headers, options := 0, 0
	for _, l := range ls {
		if strings.HasPrefix(l, "VER ") {
			headers++
		}
		if strings.HasPrefix(l, "# options 10 0.0.0.0:0 domain 0 template 256: ") {
			options++
		}
	}
	if headers != 1 || options != 1 || len(ls) != 1+1+12+14 {
		t.Errorf("%d header lines, %d options lines, %d lines:\n%s", headers, options, len(ls), out)
	}
	out, _, _ = flowdump(t, "-json", "-flows-only", ipfix)
	for _, o := range jsonLines(t, out) {
		if !o.flows() {
			t.Errorf("-flows-only printed %v", o)
		}
	}
	out, _, _ = flowdump(t, "-json", ipfix)
	o := jsonLines(t, out)[0]
	fields, _ := o["fields"].(map[string]any)
	if o.str("exporter") != "0.0.0.0:0" || fields["samplingPacketInterval"] != 1.0 || fields["systemInitTimeMilliseconds"] != "2015-05-13T11:20:13.506000000Z" {
		t.Errorf("options record %v", o)
	}
}

func TestStats(t *testing.T) {
	_, errOut, code := flowdump(t, "-stats", td+"logstash-codec-netflow/ipfix.dat", td+"generated-fprobe/fprobe_v5.pcap")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{
		"files: 2 read, 0 failed",
		"datagrams: 4 (v5 1, ipfix 3)",
		"flows: 26; options records: 1; templates: 3",
		"errors: 0 datagrams",
		"pending: held 0",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("-stats lacks %q:\n%s", want, errOut)
		}
	}
}

func TestUsage(t *testing.T) {
	if _, _, code := flowdump(t); code != 2 {
		t.Errorf("no files: exit %d, want 2", code)
	}
	if _, _, code := flowdump(t, "-port", "70000", "x"); code != 2 {
		t.Errorf("bad port: exit %d, want 2", code)
	}
}

// Synthetic captures.

// v5Messages are the twelve v5 datagrams of netflow5.dat (2, 4, 4, 4
// flows, then 2 each).
func v5Messages(t *testing.T) [][]byte {
	t.Helper()
	b, err := os.ReadFile(td + "logstash-codec-netflow/netflow5.dat")
	if err != nil {
		t.Fatal(err)
	}
	var msgs [][]byte
	for len(b) > 0 {
		n := 24 + 48*int(binary.BigEndian.Uint16(b[2:]))
		msgs = append(msgs, b[:n])
		b = b[n:]
	}
	if len(msgs) != 12 {
		t.Fatalf("netflow5.dat: %d messages", len(msgs))
	}
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
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := pcapgo.NewNgWriter(f, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.AddInterface(pcapgo.NgInterface{Name: "raw", LinkType: layers.LinkTypeRaw, SnapLength: 65535}); err != nil {
		t.Fatal(err)
	}
	for i := range frames {
		if err := w.WritePacket(frames[i], data[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
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
	if code != 0 {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(errOut, "datagram 1 (frame 3, exporter 192.0.2.53:53)") || len(lines(errOut)) != 1 {
		t.Errorf("want one error line for the DNS datagram, got:\n%s", errOut)
	}
	counts := map[string]int{}
	for _, o := range jsonLines(t, out) {
		counts[o.str("exporter")]++
	}
	if want := map[string]int{"192.0.2.1:40000": 2 + 4, "[2001:db8::1]:40001": 4}; !mapsEqual(counts, want) {
		t.Errorf("flows by exporter %v, want %v", counts, want)
	}

	out, errOut, code = flowdump(t, "-json", "-port", "2055", path)
	if code != 0 || errOut != "" {
		t.Errorf("-port 2055: exit %d, stderr %q", code, errOut)
	}
	if n := len(jsonLines(t, out)); n != 6 {
		t.Errorf("-port 2055: %d flows, want 6", n)
	}
	out, _, _ = flowdump(t, "-json", "-port", "9995", path)
	objs := jsonLines(t, out)
	if len(objs) != 4 || objs[0].str("exporter") != "[2001:db8::1]:40001" || objs[0].str("src_addr") != "10.0.2.2" {
		t.Errorf("-port 9995: %v", objs)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
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
		if err := w.WritePacket(frame(0, f), f); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), fmt.Sprintf("lt%d.pcap", lt))
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
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
			if code != 0 || errOut != "" || len(objs) != 2 || objs[0].str("exporter") != c.exporter {
				t.Errorf("exit %d, stderr %q, flows %v", code, errOut, objs)
			}
		})
	}
	t.Run("unsupported", func(t *testing.T) {
		_, errOut, code := flowdump(t, writePcap(t, 105, ip, ip)) // 802.11
		if code != 0 || len(lines(errOut)) != 1 || !strings.Contains(errOut, "not supported") {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
	})
}

// TestFragments reassembles a v5 datagram sent in two IPv4 fragments.
func TestFragments(t *testing.T) {
	// The v5 datagram of fprobe_v5.pcap, 14 flows in 696 bytes, after its
	// Ethernet, IPv4 and UDP headers.
	msg := firstFrame(t, td+"generated-fprobe/fprobe_v5.pcap")[14+20+8:]
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
	if code != 0 || !strings.Contains(errOut, "datagrams: 1 (v5 1); frames skipped: 1") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	if objs := jsonLines(t, out); len(objs) != 14 || objs[0].str("exporter") != "192.0.2.1:40000" {
		t.Errorf("%d flows: %v", len(objs), objs)
	}
}

// TestTruncatedCapture: a capture file that ends inside a packet could not
// be read to its end; what came before is still printed.
func TestTruncatedCapture(t *testing.T) {
	b, err := os.ReadFile(td + "generated-fprobe/fprobe_v5.pcap")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cut.pcap")
	os.WriteFile(path, b[:len(b)-10], 0o644)
	_, errOut, code := flowdump(t, path)
	if code != 1 || !strings.Contains(errOut, "cut.pcap: frame 1: capture file ends inside a packet") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func firstFrame(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	data, _, err := r.ReadPacketData()
	if err != nil {
		t.Fatal(err)
	}
	return data
}
