package netflow

import (
	"bufio"
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

var updateGolden = flag.Bool("update-json-golden", false, "rewrite testdata/json/schema.golden")

// fullFlow has every field known, with values that show each type.
var fullFlow = Flow{
	Exporter: netip.MustParseAddrPort("[2001:db8::1]:2055"), Version: 10, Domain: 7, Sequence: 42,
	SrcAddr: netip.MustParseAddr("192.0.2.1"), DstAddr: netip.MustParseAddr("2001:db8::2"), NextHop: netip.MustParseAddr("192.0.2.254"),
	SrcPort: 1234, DstPort: 443, Proto: 6, ToS: 0x10, TCPFlags: 0x1b, SrcMask: 24, DstMask: 64,
	Packets: 10, Bytes: 18446744073709551615,
	Start: time.Date(2024, 1, 2, 3, 4, 5, 6000, time.FixedZone("x", 3600)), End: time.Date(2024, 1, 2, 2, 4, 6, 0, time.UTC),
	InIf: 3, OutIf: 4, SrcAS: 64496, DstAS: 4200000000, SamplingInterval: 100,
	Known: FieldDomain | FieldSequence | FieldSrcAddr | FieldDstAddr | FieldNextHop | FieldSrcPort | FieldDstPort |
		FieldProto | FieldToS | FieldTCPFlags | FieldSrcMask | FieldDstMask | FieldPackets | FieldBytes |
		FieldStart | FieldEnd | FieldInIf | FieldOutIf | FieldSrcAS | FieldDstAS | FieldSamplingInterval,
}

const fullFlowJSON = `{"exporter":"[2001:db8::1]:2055","version":10,"domain":7,"sequence":42,` +
	`"src_addr":"192.0.2.1","dst_addr":"2001:db8::2","next_hop":"192.0.2.254","src_port":1234,"dst_port":443,` +
	`"proto":6,"tos":16,"tcp_flags":27,"packets":10,"bytes":18446744073709551615,` +
	`"start":"2024-01-02T02:04:05.000006000Z","end":"2024-01-02T02:04:06.000000000Z",` +
	`"in_if":3,"out_if":4,"src_as":64496,"dst_as":4200000000,"src_mask":24,"dst_mask":64,"sampling_interval":100}`

func TestFlowJSON(t *testing.T) {
	require.Equal(t, fullFlowJSON, string(fullFlow.AppendJSON(nil)))

	// Only known fields: the zero times and addresses of the others stay out.
	f := Flow{Exporter: netip.MustParseAddrPort("192.0.2.9:9995"), Version: 5, SrcPort: 53, Packets: 2,
		Known: FieldSrcPort | FieldPackets}
	require.Equal(t, `{"exporter":"192.0.2.9:9995","version":5,"src_port":53,"packets":2}`, string(f.AppendJSON(nil)))
	require.Equal(t, `{"exporter":"","version":0}`, string((&Flow{}).AppendJSON(nil)))

	// Appends after what dst holds; a nil record adds no fields.
	got := f.AppendJSONWithFields([]byte("x"), nil)
	require.Equal(t, `x{"exporter":"192.0.2.9:9995","version":5,"src_port":53,"packets":2}`, string(got))
}

// TestFlowMarshalJSON: json.Marshal agrees with AppendJSON byte for byte,
// for a value and a pointer, and the JSON reads back.
func TestFlowMarshalJSON(t *testing.T) {
	for _, f := range []Flow{fullFlow, {}, {Version: 9, Known: FieldStart, Start: time.Unix(-1, 5)}} {
		want := f.AppendJSON(nil)
		got, err := json.Marshal(f)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
		got, err = json.Marshal(&f)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	}
	var back struct {
		Exporter string    `json:"exporter"`
		SrcAddr  string    `json:"src_addr"`
		Bytes    uint64    `json:"bytes"`
		DstAS    uint32    `json:"dst_as"`
		Start    time.Time `json:"start"`
	}
	require.NoError(t, json.Unmarshal(fullFlow.AppendJSON(nil), &back))
	require.Equal(t, "[2001:db8::1]:2055", back.Exporter)
	require.Equal(t, "192.0.2.1", back.SrcAddr)
	require.Equal(t, uint64(18446744073709551615), back.Bytes)
	require.Equal(t, uint32(4200000000), back.DstAS)
	require.True(t, back.Start.Equal(fullFlow.Start))
}

func TestFlowString(t *testing.T) {
	f := Flow{Exporter: netip.MustParseAddrPort("192.0.2.9:9995"), Version: 9, SrcAddr: netip.MustParseAddr("10.0.0.1"),
		Proto: 17, Start: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC), Known: FieldSrcAddr | FieldProto | FieldStart}
	require.Equal(t, "exporter=192.0.2.9:9995 version=9 src_addr=10.0.0.1 proto=17 start=2024-05-06T07:08:09.000000000Z", f.String())
	require.Equal(t, "exporter= version=0", Flow{}.String())
	require.NotContains(t, fullFlow.String(), `"`)

	require.Equal(t, "src_addr|proto|start", f.Known.String())
	require.Equal(t, "0", FlowFields(0).String())
	require.Equal(t, "domain|0x8000000000000000", (FieldDomain | 1<<63).String())
}

// TestJSONStringLikeEncodingJSON: strings are escaped as encoding/json
// escapes them, for hand-picked and random byte strings.
func TestJSONStringLikeEncodingJSON(t *testing.T) {
	cases := []string{"", "plain", `q"b\s`, "tab\tnl\ncr\rbs\bff\f", "\x00\x1f\x7f", "<a href='x'>&amp;</a>",
		"héllo ✓ 😀", "bad\xff\xfeutf8", "\u2028\u2029", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe0\x80\xaf",
		"\xc0\xaf", "\xf0\x9f\x98", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf"}
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{'a', '"', '\\', '<', 0, 0x1f, 0x7f, 0x80, 0xbf, 0xc2, 0xdf, 0xe0, 0xe2, 0xed, 0xef, 0xf0, 0xf4, 0xff, 0xa0, 0x9f}
	for range 20000 {
		b := make([]byte, rng.IntN(8))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		want, err := json.Marshal(s)
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendJSONString(nil, s)), "%q", s)
		require.Equal(t, string(want), string(appendJSONString(nil, []byte(s))), "%q", s)
	}
}

func TestDecodeRune(t *testing.T) {
	for c := range 1 << 16 {
		for _, tail := range []string{"", "\x80", "\x80\x80", "\xbf\xbf\xbf"} {
			s := string([]byte{byte(c >> 8), byte(c)}) + tail
			r1, n1 := decodeRune(s)
			r2, n2 := utf8.DecodeRuneInString(s)
			if r1 != r2 || n1 != n2 {
				t.Fatalf("%q: got %U %d, utf8 %U %d", s, r1, n1, r2, n2)
			}
		}
	}
}

// TestJSONTime: the hand-written digits agree with Time.AppendFormat.
func TestJSONTime(t *testing.T) {
	times := []time.Time{time.Unix(0, 0), time.Unix(-1, 999999999), time.Date(2000, 2, 29, 23, 59, 59, 1, time.UTC),
		time.Date(1900, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC), {}, time.Date(2100, 2, 28, 12, 0, 0, 0, time.FixedZone("y", -7200))}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		times = append(times, time.Unix(rng.Int64N(maxRFC3339Unix-minRFC3339Unix)+minRFC3339Unix, rng.Int64N(1e9)))
	}
	for _, tm := range times {
		want := `"` + tm.UTC().Format(JSONTimeLayout) + `"`
		if got := string(appendTimeString(nil, tm)); got != want {
			t.Fatalf("%v: got %s, want %s", tm, got, want)
		}
	}
}

func TestFlowJSONAllocs(t *testing.T) {
	rec := decodeOneRecord(t, []tmplField{{8, 4, 0}, {1, 8, 0}, {152, 8, 0}, {82, VariableLength, 0}},
		append(append([]byte{192, 0, 2, 1}, append(u64(99, 8), u64(jan2024*1000, 8)...)...), varLen([]byte("eth0"))...))
	buf := make([]byte, 0, 4096)
	f := fullFlow
	for name, fn := range map[string]func(){
		"AppendJSON":           func() { buf = f.AppendJSON(buf[:0]) },
		"AppendJSONWithFields": func() { buf = f.AppendJSONWithFields(buf[:0], rec) },
		"AppendFieldsJSON":     func() { buf = rec.AppendFieldsJSON(buf[:0]) },
	} {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s: %v allocations", name, n)
		}
	}
}

// renderSchema writes the flow object's schema from the encoder's table:
// key, JSON type, when present.
func renderSchema() string {
	var b strings.Builder
	b.WriteString("# The JSON object of a flow (Flow.AppendJSON, Flow.AppendJSONWithFields), key by key, in order.\n")
	b.WriteString("# key\ttype\tpresent\n")
	b.WriteString("exporter\tstring (address:port)\talways\n")
	b.WriteString("version\tnumber\talways\n")
	b.WriteString("protocol\tstring\tsFlow flows only (\"sflow\")\n")
	for _, k := range flowKeys {
		b.WriteString(k.name + "\t" + kindSchemaType[k.kind] + "\twhen Known has it\n")
	}
	b.WriteString("fields\tobject\twith a v9 or IPFIX record\n")
	return b.String()
}

var kindSchemaType = map[jsonKind]string{
	kindUint: "number",
	kindAddr: "string (IP address)",
	kindTime: "string (RFC 3339 time)",
	kindMAC:  "string (MAC address)",
	kindTrue: "true",
}

// TestJSONSchema holds the encoder to testdata/json/schema.golden and the
// "JSON output" table of docs/flow.md to both: every key with its type, in
// order.
func TestJSONSchema(t *testing.T) {
	got := renderSchema()
	path := filepath.Join("testdata", "json", "schema.golden")
	if *updateGolden {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "go test -run TestJSONSchema -update-json-golden writes it")
	require.Equal(t, string(want), got, "the schema changed: update the golden file, docs/flow.md and tell users")

	// The docs' table: | `key` | type | present | meaning |.
	doc, err := os.Open(filepath.Join("docs", "flow.md"))
	require.NoError(t, err)
	defer doc.Close()
	// The first table of the section is the flow keys'.
	var rows []string
	in, table := false, false
	sc := bufio.NewScanner(doc)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## JSON output"
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if table {
				break
			}
			continue
		}
		table = true
		if strings.HasPrefix(line, "| `") {
			cells := strings.Split(line, "|")
			require.Greater(t, len(cells), 3, line)
			rows = append(rows, strings.Trim(strings.TrimSpace(cells[1]), "`")+"\t"+strings.TrimSpace(cells[2]))
		}
	}
	var schema []string
	for _, line := range strings.Split(strings.TrimSpace(got), "\n") {
		if !strings.HasPrefix(line, "#") {
			f := strings.Split(line, "\t")
			schema = append(schema, f[0]+"\t"+f[1])
		}
	}
	require.NotEmpty(t, rows, "docs/flow.md has a \"## JSON output\" section with the table of keys")
	require.Equal(t, schema, rows, "docs/flow.md's JSON output table")
	// The sFlow keys ("protocol", "agent") are also in docs/sflow.md's
	// table, with the same type.
	sflowRows := docTableRows(t, filepath.Join("docs", "sflow.md"), "## JSON")
	for _, key := range []string{"protocol", "agent"} {
		i := slices.IndexFunc(schema, func(r string) bool { return strings.HasPrefix(r, key+"	") })
		require.GreaterOrEqual(t, i, 0, key)
		require.Contains(t, sflowRows, schema[i], "docs/sflow.md's JSON table")
	}
}

// docTableRows returns "key\ttype" for each row | `key` | type | ... of the
// first table after the heading section of a Markdown file.
func docTableRows(t *testing.T, path, section string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var rows []string
	in, table := false, false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			in = strings.TrimSpace(line) == section
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			if table {
				break
			}
			continue
		}
		table = true
		if strings.HasPrefix(line, "| `") {
			cells := strings.Split(line, "|")
			rows = append(rows, strings.Trim(strings.TrimSpace(cells[1]), "`")+"\t"+strings.TrimSpace(cells[2]))
		}
	}
	require.NotEmpty(t, rows, "%s: no table in %q", path, section)
	return rows
}

func TestAppendUint(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 100000 {
		n := uint64(i)
		if i > 1000 {
			n = rng.Uint64() >> rng.IntN(64)
		}
		require.Equal(t, strconv.FormatUint(n, 10), string(appendUint(nil, n)))
	}
	require.Equal(t, "18446744073709551615", string(appendUint(nil, math.MaxUint64)))
}
