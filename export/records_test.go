package export_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
	"github.com/stretchr/testify/require"
)

// Re-encoding decoded records: real exporters' v9 and IPFIX datagrams
// (testdata/, with enterprise, variable-length, reduced-size and list
// fields, and options data) are decoded, their records written again with
// WriteRecords, and the result decoded: every record must come back with
// the same fields, byte for byte the same values, and the same flow.

// decodedRecord is one record of a decoded packet, with its header and
// flow (the record's bytes are copied).
type decodedRecord struct {
	header  export.RecordHeader
	rec     netflow.Record
	flow    netflow.Flow
	hasFlow bool
}

// decodeRecords decodes data (each a datagram) in order and returns every
// data and options record with its packet's header.
func decodeRecords(t *testing.T, datagrams [][]byte) []decodedRecord {
	t.Helper()
	dec := netflow.NewDecoder(netflow.Config{})
	var out []decodedRecord
	for i, d := range datagrams {
		p, err := dec.Decode(testExporter, d)
		require.NoError(t, err, "datagram %d", i)
		var sets *netflow.Sets
		switch p := p.(type) {
		case *netflow.V9Packet:
			sets = &p.Sets
		case *netflow.IPFIXPacket:
			sets = &p.Sets
		default:
			t.Fatalf("datagram %d: version %d", i, p.Version())
		}
		h, ok := export.HeaderOf(p)
		require.True(t, ok)
		for _, ds := range sets.DataSets {
			for _, r := range ds.Records {
				f, ok := r.Flow()
				out = append(out, decodedRecord{header: h, rec: netflow.Record{Template: r.Template, Data: slices.Clone(r.Data)}, flow: f, hasFlow: ok})
			}
		}
	}
	return out
}

// recordFixtures are template and data files of real exporters.
var recordFixtures = [][]string{
	{"ipfix_test_barracuda_tpl.dat", "ipfix_test_barracuda_data256.dat"},
	{"ipfix_test_yaf_tpls_option_tpl.dat", "ipfix_test_yaf_tpl45841.dat", "ipfix_test_yaf_data45841.dat", "ipfix_test_yaf_data45873.dat", "ipfix_test_yaf_data53248.dat"},
	{"ipfix_test_netscaler_tpl.dat", "ipfix_test_netscaler_data.dat"},
	{"ipfix_test_procera_tpl52935.dat", "ipfix_test_procera_data52935.dat"},
	{"ipfix_test_vmware_vds_tpl.dat", "ipfix_test_vmware_vds_data264.dat", "ipfix_test_vmware_vds_data266.dat"},
	{"ipfix_test_juniper_mx240_junos151r6s3_opttpl512.dat", "ipfix_test_juniper_mx240_junos151r6s3_data512.dat"},
	{"ipfix_test_mikrotik_tpl.dat", "ipfix_test_mikrotik_data258.dat", "ipfix_test_mikrotik_data259.dat"},
	{"ipfix_test_nokia_bras_tpl.dat", "ipfix_test_nokia_bras_data256.dat"},
	{"netflow9_test_cisco_asa_1_tpl.dat", "netflow9_test_cisco_asa_1_data.dat"},
	{"netflow9_test_h3c_netstream_varstring_tpl3281.dat", "netflow9_test_h3c_netstream_varstring_data3281.dat"},
	{"netflow9_test_cisco_asr9k_opttpl256.dat", "netflow9_test_cisco_asr9k_opttpl257.dat", "netflow9_test_cisco_asr9k_opttpl334.dat", "netflow9_test_cisco_asr9k_tpl260.dat", "netflow9_test_cisco_asr9k_data260.dat"},
	{"netflow9_test_cisco_nbar_opttpl260.dat", "netflow9_test_cisco_nbar_tpl262.dat", "netflow9_test_cisco_nbar_data262.dat"},
	{"netflow9_test_fortigate_fortios_521_tpl.dat", "netflow9_test_fortigate_fortios_521_data256.dat", "netflow9_test_fortigate_fortios_521_data257.dat"},
	{"netflow9_test_iptnetflow_reduced_size_encoding_tpldata260.dat"},
	{"netflow9_test_macaddr_tpl.dat", "netflow9_test_macaddr_data.dat"},
}

func TestWriteRecords(t *testing.T) {
	for _, files := range recordFixtures {
		t.Run(files[0], func(t *testing.T) {
			var datagrams [][]byte
			for _, name := range files {
				b, err := os.ReadFile(filepath.Join("..", "testdata", "logstash-codec-netflow", name))
				require.NoError(t, err)
				datagrams = append(datagrams, b)
			}
			orig := decodeRecords(t, datagrams)
			require.NotEmpty(t, orig)
			version := orig[0].rec.Template.Version
			var out messages
			w, err := export.NewWriter(&out, export.Config{Version: version, Now: fixedNow})
			require.NoError(t, err)
			for _, r := range orig {
				require.NoError(t, w.WriteRecords(r.header, []netflow.Record{r.rec}))
			}
			require.NoError(t, w.Flush())
			again := decodeRecords(t, out.msgs)
			require.Len(t, again, len(orig))
			for i := range orig {
				o, a := orig[i], again[i]
				require.Equal(t, o.header, a.header, "record %d", i)
				require.Equal(t, o.rec.Template.Fields, a.rec.Template.Fields, "record %d", i)
				require.Equal(t, o.rec.Template.Options, a.rec.Template.Options, "record %d", i)
				require.Equal(t, o.rec.Template.ScopeCount, a.rec.Template.ScopeCount, "record %d", i)
				require.Equal(t, o.rec.Data, a.rec.Data, "record %d", i)
				require.Equal(t, o.hasFlow, a.hasFlow)
				o.flow.Sequence, a.flow.Sequence = 0, 0
				require.Equal(t, o.flow.String(), a.flow.String(), "record %d", i)
			}
		})
	}
}

// TestWriteRecordsRefusals checks that records that do not match their
// template, or of another version, are refused and the rest written.
func TestWriteRecordsRefusals(t *testing.T) {
	tmpl, err := netflow.NewTemplate(10, 300, false, 0, []netflow.TemplateField{
		{ID: 8, Length: 4}, {ID: 82, Length: netflow.VariableLength}, {ID: 100, PEN: 9, Length: 2},
	})
	require.NoError(t, err)
	good, err := export.AppendVariableLength([]byte{10, 0, 0, 1}, []byte("eth0"))
	require.NoError(t, err)
	good = append(good, 0, 7)
	v9, err := netflow.NewTemplate(9, 300, false, 0, []netflow.TemplateField{{ID: 8, Length: 4}})
	require.NoError(t, err)
	var out messages
	w, err := export.NewWriter(&out, export.Config{Version: 10, Now: fixedNow})
	require.NoError(t, err)
	err = w.WriteRecords(export.RecordHeader{Domain: 5}, []netflow.Record{
		{Template: tmpl, Data: good},
		{Template: tmpl, Data: good[:len(good)-1]},            // short
		{Template: tmpl, Data: append(slices.Clone(good), 0)}, // a byte too many
		{Template: v9, Data: []byte{1, 2, 3, 4}},              // v9 in an IPFIX writer
		{Template: nil, Data: good},
		{Template: tmpl, Data: good},
	})
	require.ErrorIs(t, err, netflow.ErrMalformed)
	require.Regexp(t, `^record 1: netflow: malformed: .*\(and 3 more refused\)$`, err.Error())
	require.NoError(t, w.Flush())
	got := decodeRecords(t, out.msgs)
	require.Len(t, got, 2)
	for _, r := range got {
		require.Equal(t, good, r.rec.Data)
		require.Equal(t, uint32(5), r.header.Domain)
		v, ok := r.rec.LookupEnterprise(9, 100)
		require.True(t, ok)
		require.Equal(t, []byte{0, 7}, v.Raw)
		v, ok = r.rec.Lookup(82)
		require.True(t, ok)
		require.Equal(t, "eth0", v.Text())
	}
}
