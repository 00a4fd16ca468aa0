package netflow

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDefinitionsFileBarracuda: testdata/definitions/barracuda.json maps
// Barracuda's bind and connection addresses and ports (PEN 10704, IDs
// 8-11) into the post-NAT fields. Decoding logstash's Barracuda extended
// uniflow capture with it gives, record by record, what tshark shows for
// those elements; a decoder on the same store without the mapping does
// not, and the registry names the elements as the file does.
func TestDefinitionsFileBarracuda(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "definitions", "barracuda.json"))
	require.NoError(t, err)
	defer f.Close()
	defs, err := ParseElementDefinitions(f)
	require.NoError(t, err)
	require.Len(t, defs.Elements, 5)
	require.Len(t, defs.Mappings, 4)
	reg := defs.Registry()
	e, ok := reg.Lookup(10704, 8)
	require.True(t, ok)
	require.Equal(t, InfoElement{PEN: 10704, ID: 8, Name: "barracudaBindIPv4Address", Type: TypeIPv4Address}, e)

	data, err := os.ReadFile(filepath.Join("testdata", "expected", "logstash", "ipfix_barracuda_extended_uniflow_template_256.json"))
	require.NoError(t, err)
	var doc struct {
		Inputs    []string `json:"inputs"`
		Datagrams []struct {
			Flows []struct {
				Fields map[string]string `json:"fields"`
			} `json:"flows"`
		} `json:"datagrams"`
	}
	require.NoError(t, json.Unmarshal(data, &doc))
	var want []map[string]string
	for _, dg := range doc.Datagrams {
		for _, fl := range dg.Flows {
			want = append(want, fl.Fields)
		}
	}
	require.NotEmpty(t, want)

	store := NewMemoryStore(MemoryStoreConfig{})
	mapped := NewDecoder(Config{Store: store, Registry: reg, FlowElements: defs.Mappings})
	plain := NewDecoder(Config{Store: store})
	var got, gotPlain []Flow
	for _, in := range doc.Inputs {
		raw, err := os.ReadFile(filepath.Join("testdata", in))
		require.NoError(t, err)
		p, err := mapped.Decode(testExporter, raw)
		require.NoError(t, err)
		got = p.AppendFlows(got)
		p, err = plain.Decode(testExporter, raw)
		require.NoError(t, err)
		gotPlain = p.AppendFlows(gotPlain)
	}
	require.Len(t, got, len(want))
	for i, w := range want {
		port := func(k string) uint16 {
			n, err := strconv.ParseUint(w[k], 10, 16)
			require.NoError(t, err)
			return uint16(n)
		}
		fl := got[i]
		require.True(t, fl.Known.Has(FieldPostNATSrcAddr|FieldPostNATDstAddr|FieldPostNATSrcPort|FieldPostNATDstPort))
		require.Equal(t, netip.MustParseAddr(w["cflow.pie.barracuda.bindipv4address"]), fl.PostNATSrcAddr)
		require.Equal(t, netip.MustParseAddr(w["cflow.pie.barracuda.connipv4address"]), fl.PostNATDstAddr)
		require.Equal(t, port("cflow.pie.barracuda.bindtransportport"), fl.PostNATSrcPort)
		require.Equal(t, port("cflow.pie.barracuda.conntransportport"), fl.PostNATDstPort)
		// The rest as without the mapping.
		pl := gotPlain[i]
		require.False(t, pl.Known.Has(FieldPostNATSrcAddr))
		fl.PostNATSrcAddr, fl.PostNATDstAddr, fl.PostNATSrcPort, fl.PostNATDstPort = pl.PostNATSrcAddr, pl.PostNATDstAddr, 0, 0
		fl.Known &^= FieldPostNATSrcAddr | FieldPostNATDstAddr | FieldPostNATSrcPort | FieldPostNATDstPort
		require.Equal(t, pl, fl)
	}
}

// TestFlowMappingWinsAndLengths: a mapped element is the field's first
// choice, on the fixed and the variable path; one of a length the field
// cannot take, and a mapping to a field no element fills, are ignored.
func TestFlowMappingWinsAndLengths(t *testing.T) {
	const pen = 99999
	fields := []ffField{
		{id: ieSourceIPv4Address, length: 4, value: ffAddr("192.0.2.10")},
		{id: 5, pen: pen, length: 4, value: ffAddr("198.51.100.7")},
		{id: 6, pen: pen, length: 2, value: ffU(77, 2)},
		{id: 7, pen: pen, length: 3, value: []byte{1, 2, 3}},
	}
	cfg := Config{FlowElements: []FlowMapping{
		{PEN: pen, ID: 5, Field: FieldSrcAddr},
		{PEN: pen, ID: 6, Field: FieldVLAN},
		{PEN: pen, ID: 7, Field: FieldSrcMAC}, // 3 bytes: not a MAC
		{PEN: pen, ID: 6, Field: FieldStart},  // no element fills Start
	}}
	for _, variable := range []bool{false, true} {
		fs := fields
		if variable {
			fs = append(fs, ffField{id: ieInterfaceName, length: VariableLength, value: []byte("x")})
		}
		f := ffDecode(t, cfg, ffIPFIX(0, fs, true))
		require.Equal(t, netip.MustParseAddr("198.51.100.7"), f.SrcAddr)
		require.Equal(t, uint16(77), f.VLAN)
		require.False(t, f.Known.Has(FieldSrcMAC))
		require.False(t, f.Known.Has(FieldStart))
		f = ffDecode(t, Config{}, ffIPFIX(0, fs, true))
		require.Equal(t, netip.MustParseAddr("192.0.2.10"), f.SrcAddr)
		require.False(t, f.Known.Has(FieldVLAN))
	}
}

// TestParseElementDefinitionsHostile: every bad file is an error matching
// ErrMalformed.
func TestParseElementDefinitionsHostile(t *testing.T) {
	t.Parallel()
	bad := map[string]string{
		"not json":        `{`,
		"object":          `{"name": "a"}`,
		"no id":           `[{"name": "a", "pen": 1, "type": "unsigned8"}]`,
		"id too big":      `[{"name": "a", "pen": 1, "id": 32768, "type": "unsigned8"}]`,
		"id negative":     `[{"name": "a", "pen": 1, "id": -1, "type": "unsigned8"}]`,
		"pen overflow":    `[{"name": "a", "pen": 4294967296, "id": 1, "type": "unsigned8"}]`,
		"no name":         `[{"pen": 1, "id": 1, "type": "unsigned8"}]`,
		"long name":       `[{"name": "` + strings.Repeat("a", 300) + `", "pen": 1, "id": 1, "type": "unsigned8"}]`,
		"unknown type":    `[{"name": "a", "pen": 1, "id": 1, "type": "uint8"}]`,
		"unknown type 2":  `[{"name": "a", "pen": 1, "id": 1, "type": "unknown"}]`,
		"unknown field":   `[{"name": "a", "pen": 1, "id": 1, "type": "unsigned8", "flow_field": "nope"}]`,
		"unmappable":      `[{"name": "a", "pen": 1, "id": 1, "type": "unsigned8", "flow_field": "start"}]`,
		"twice":           `[{"name": "a", "pen": 1, "id": 1, "type": "unsigned8"}, {"name": "b", "pen": 1, "id": 1, "type": "unsigned8"}]`,
		"unknown key":     `[{"name": "a", "pen": 1, "id": 1, "type": "unsigned8", "semantics": "x"}]`,
		"trailing":        `[] []`,
		"too large":       `[` + strings.Repeat(" ", 5<<20) + `]`,
		"too many":        `[` + strings.TrimSuffix(strings.Repeat(`{"name":"a","pen":1,"id":1,"type":"unsigned8"},`, 70000), ",") + `]`,
		"empty":           ``,
		"deep nesting":    strings.Repeat("[", 100000),
		"string for id":   `[{"name": "a", "pen": 1, "id": "1", "type": "unsigned8"}]`,
		"null element":    `[null]`,
		"v9 id too large": `[{"name": "a", "pen": 0, "id": 65536, "type": "unsigned8"}]`,
	}
	for name, in := range bad {
		_, err := ParseElementDefinitions(strings.NewReader(in))
		require.ErrorIs(t, err, ErrMalformed, name)
		require.True(t, strings.HasPrefix(err.Error(), "netflow: "), name)
	}
	defs, err := ParseElementDefinitions(strings.NewReader(`[{"name": "v9x", "pen": 0, "id": 40000, "type": "macAddress", "flow_field": "dst_mac"}]`))
	require.NoError(t, err)
	require.Equal(t, []FlowMapping{{ID: 40000, Field: FieldDstMAC}}, defs.Mappings)
}
