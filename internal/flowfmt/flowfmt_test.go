package flowfmt

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowkit/netflow"
)

// TestFlowKeys holds FlowKeys to the order the root package writes keys in.
func TestFlowKeys(t *testing.T) {
	f := netflow.Flow{Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 5, ExportProtocol: netflow.ExportSFlow, Known: ^netflow.FlowFields(0)}
	tmpl, err := netflow.NewTemplate(9, 256, false, 0, []netflow.TemplateField{{ID: 1, Length: 4}})
	if err != nil {
		t.Fatal(err)
	}
	line := f.AppendJSONWithFields(nil, &netflow.Record{Template: tmpl, Data: []byte{0, 0, 0, 1}})
	dec := json.NewDecoder(strings.NewReader(string(line)))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(keys, FlowKeys) {
		t.Errorf("root encoder writes keys\n%v\nFlowKeys has\n%v", keys, FlowKeys)
	}
}

func TestFieldsAndOptions(t *testing.T) {
	tmpl, err := netflow.NewTemplate(10, 300, true, 1, []netflow.TemplateField{
		{ID: 149, Length: 4}, // observationDomainId (scope)
		{ID: 210, Length: 2}, // paddingOctets
		{ID: 210, Length: 1}, // paddingOctets again
		{ID: 82, Length: 3},  // interfaceName
		{ID: 7, PEN: 99999, Length: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := netflow.Record{Template: tmpl, Data: []byte{0, 0, 0, 7, 0, 0, 0, 'e', 't', 0, 0xab}}
	got := string(AppendOptionsJSON(nil, netip.MustParseAddrPort("192.0.2.1:4739"), 10, 5, &rec))
	want := `{"options":true,"exporter":"192.0.2.1:4739","version":10,"domain":5,"template_id":300,` +
		`"fields":{"observationDomainId":7,"paddingOctets":"0000","paddingOctets#2":"00","interfaceName":"et","99999.7":"ab"}}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	row := string(AppendOptionsRow(nil, netip.MustParseAddrPort("192.0.2.1:4739"), 10, 5, &rec))
	if want := `# options 10 192.0.2.1:4739 domain 5 template 300: observationDomainId="7" paddingOctets="0000"`; !strings.HasPrefix(row, want) {
		t.Errorf("row %s", row)
	}
}

func TestTableRow(t *testing.T) {
	start := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	f := netflow.Flow{
		Exporter: netip.MustParseAddrPort("192.0.2.1:2055"), Version: 5,
		SrcAddr: netip.MustParseAddr("10.0.0.1"), SrcPort: 1234, DstAddr: netip.MustParseAddr("10.0.0.2"),
		Proto: 6, TCPFlags: 0x1b, Packets: 10, Start: start, End: start.Add(1500 * time.Millisecond),
		Known: netflow.FieldSrcAddr | netflow.FieldSrcPort | netflow.FieldDstAddr | netflow.FieldProto |
			netflow.FieldTCPFlags | netflow.FieldPackets | netflow.FieldStart | netflow.FieldEnd,
	}
	header := string(AppendTableHeader(nil))
	row := string(AppendFlowRow(nil, &f))
	for _, want := range []string{"2024-01-02 03:04:05.000", "1.500s", " tcp ", "10.0.0.1:1234 ", " 10.0.0.2 ", "...AP.SF", "192.0.2.1:2055"} {
		if !strings.Contains(row, want) {
			t.Errorf("row %q lacks %q", row, want)
		}
	}
	// Columns line up: each title ends where its right-aligned value does.
	if i, j := strings.Index(header, "PACKETS")+len("PACKETS"), strings.Index(row, " 10 ")+3; i != j {
		t.Errorf("PACKETS column ends at %d in the header, %d in the row:\n%s\n%s", i, j, header, row)
	}
	if got := strings.Count(row, " "+Unknown+" "); got != 3 { // bytes, in, out
		t.Errorf("%d unknown cells in %q, want 3", got, row)
	}
}
