package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowkit/netflow/internal/flowfmt"
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
	if o.str("exporter") != "0.0.0.0:0" || fields["samplingPacketInterval"] != "1" || fields["systemInitTimeMilliseconds"] != "2015-05-13T11:20:13.506Z" {
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
