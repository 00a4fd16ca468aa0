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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		require.True(t, isSubsequence(keys, order), "line %d: keys %v are not in the order %v", i+1, keys, order)
		var o object
		require.NoError(t, json.Unmarshal([]byte(line), &o), "line %d: %s", i+1, line)
		objs = append(objs, o)
	}
	return objs
}

func objectKeys(t *testing.T, line string) []string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	tok, err := dec.Token()
	require.NoError(t, err, line)
	require.Equal(t, json.Delim('{'), tok, "not a JSON object: %s", line)
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		require.NoError(t, err, line)
		keys = append(keys, tok.(string))
		var v json.RawMessage
		require.NoError(t, dec.Decode(&v), line)
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
			out, errOut, code := flowdump(t, c.args...)
			require.Equal(t, 0, code, "exit code; stderr:\n%s", errOut)
			require.Empty(t, errOut)
			if strings.HasSuffix(c.golden, ".jsonl") {
				jsonLines(t, out)
			}
			path := filepath.Join("testdata", "golden", c.golden)
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
				require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./examples/flowdump -update")
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
					require.Equal(t, e, g, "output differs from %s at line %d", path, i+1)
				}
			}
		})
	}
}

func TestMissingFile(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.pcap")
	out, errOut, code := flowdump(t, "-json", td+"logstash-codec-netflow/netflow5.dat", missing)
	assert.Equal(t, 1, code, "exit code")
	if got := lines(errOut); assert.Len(t, got, 1, "stderr: one line") {
		assert.Contains(t, got[0], missing)
	}
	assert.Len(t, lines(out), 30, "flows printed from the file that could be read")
}

func TestMalformedDatagram(t *testing.T) {
	file := td + "logstash-codec-netflow/netflow5_test_invalid01.dat"
	out, errOut, code := flowdump(t, "-json", "-stats", file)
	assert.Equal(t, 0, code, "exit code")
	assert.Empty(t, out, "stdout")
	first, _, _ := strings.Cut(errOut, "\n")
	assert.Contains(t, first, file+": datagram 0 ", "error line: the file and datagram 0")
	assert.Contains(t, first, "truncated", "error line: the error")
	assert.Contains(t, errOut, "errors: 1 datagrams (truncated 1)", "-stats counts the error by kind")
}

// TestPartialV9 decodes a v9 datagram whose second flowset is cut short:
// the error is reported and the flows of the first flowset still printed.
func TestPartialV9(t *testing.T) {
	tpl, err := os.ReadFile(td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_tpl.dat")
	require.NoError(t, err)
	data, err := os.ReadFile(td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_data.dat")
	require.NoError(t, err)
	// A second copy of the data flowset whose length runs past the end.
	set := data[20:]
	bad := append(slices.Clip(data), set[:len(set)/2]...)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tpl.dat"), tpl, 0o644)
	os.WriteFile(filepath.Join(dir, "bad.dat"), bad, 0o644)
	out, errOut, code := flowdump(t, "-json", filepath.Join(dir, "tpl.dat"), filepath.Join(dir, "bad.dat"))
	assert.Equal(t, 0, code, "exit code")
	assert.Contains(t, errOut, "bad.dat: datagram 0 ")
	assert.Contains(t, errOut, "truncated")
	whole, _, _ := flowdump(t, "-json", td+"logstash-codec-netflow/netflow9_test_cisco_asa_1_tpl.dat",
		td+"logstash-codec-netflow/netflow9_test_cisco_asa_1_data.dat")
	assert.NotEmpty(t, lines(out), "the good flowset's flows")
	assert.Equal(t, whole, out, "the good flowset's flows")
}

// TestTemplateAcrossFiles: one decoder reads all the files, so data finds
// the template of an earlier file, and data that came first is printed when
// its template comes.
func TestTemplateAcrossFiles(t *testing.T) {
	tpl := td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_tpl.dat"
	data := td + "logstash-codec-netflow/netflow9_test_cisco_asa_1_data.dat"
	fwd, _, _ := flowdump(t, "-json", tpl, data)
	require.Len(t, lines(fwd), 14, "flows")
	alone, errOut, _ := flowdump(t, "-json", data)
	assert.Empty(t, alone, "data without template: stdout")
	assert.Contains(t, errOut, "wait for a template", "data without template: stderr")
	rev, errOut, code := flowdump(t, "-json", data, tpl)
	assert.Equal(t, 0, code, "exit code")
	assert.Empty(t, errOut)
	assert.Equal(t, fwd, rev, "data before template")
}

func TestTableAndOptions(t *testing.T) {
	ipfix := td + "logstash-codec-netflow/ipfix.dat"
	out, _, _ := flowdump(t, ipfix, td+"generated-fprobe/fprobe_v5.pcap")
	ls := lines(out)
	assert.True(t, strings.HasPrefix(ls[0], "VER "), "no header line: %q", ls[0])
	headers, options := 0, 0
	for _, l := range ls {
		if strings.HasPrefix(l, "VER ") {
			headers++
		}
		if strings.HasPrefix(l, "# options 10 0.0.0.0:0 domain 0 template 256: ") {
			options++
		}
	}
	assert.Equal(t, 1, headers, "header lines:\n%s", out)
	assert.Equal(t, 1, options, "options lines:\n%s", out)
	assert.Len(t, ls, 1+1+12+14, "lines")
	out, _, _ = flowdump(t, "-json", "-flows-only", ipfix)
	for _, o := range jsonLines(t, out) {
		assert.True(t, o.flows(), "-flows-only printed %v", o)
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
	require.Equal(t, 0, code, "exit code")
	for _, want := range []string{
		"files: 2 read, 0 failed",
		"datagrams: 4 (v5 1, ipfix 3)",
		"flows: 26; options records: 1; templates: 3",
		"errors: 0 datagrams",
		"pending: held 0",
	} {
		assert.Contains(t, errOut, want, "-stats")
	}
}

func TestUsage(t *testing.T) {
	_, _, code := flowdump(t)
	assert.Equal(t, 2, code, "no files: exit code")
	_, _, code = flowdump(t, "-port", "70000", "x")
	assert.Equal(t, 2, code, "bad port: exit code")
}
