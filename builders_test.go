package netflow

// The root tests' names for the datagram builders of internal/testkit.

import (
	"encoding/binary"

	"github.com/flowkit/netflow/internal/testkit"
)

// The header values every builder uses: export at 2023-11-14T22:13:20Z,
// one hour of uptime.
const (
	buildUnixSecs  = testkit.UnixSecs
	buildSysUptime = testkit.SysUptime
)

// buildExport is the export time of the built datagrams.
var buildExport = testkit.Export

// benchTemplateID is the template ID of the v9 and IPFIX builders.
const benchTemplateID = testkit.TemplateID

// tmplField is a field specifier for the builders: element ID, length and
// enterprise number (non-zero: the enterprise bit is set, IPFIX only).
type tmplField struct {
	id, length uint16
	pen        uint32
}

// kitFields converts field specifiers to testkit's.
func kitFields(fs []tmplField) []testkit.Field {
	out := make([]testkit.Field, len(fs))
	for i, f := range fs {
		out[i] = testkit.Field{ID: f.id, Length: f.length, PEN: f.pen}
	}
	return out
}

// fromKit converts testkit's field specifiers to tmplField.
func fromKit(fs []testkit.Field) []tmplField {
	out := make([]tmplField, len(fs))
	for i, f := range fs {
		out[i] = tmplField{f.ID, f.Length, f.PEN}
	}
	return out
}

// v9BenchFields and ipfixBenchFields are the 18-field templates of the v9
// and IPFIX builders (testkit.V9Fields, testkit.IPFIXFields).
var (
	v9BenchFields    = fromKit(testkit.V9Fields)
	ipfixBenchFields = fromKit(testkit.IPFIXFields)
)

// flowRecords encodes testFlowN(0..n-1) with fields.
func flowRecords(fields []tmplField, n int) []byte {
	return testkit.FlowRecords(kitFields(fields), n)
}

// flowRecordsWith encodes testFlowN(0..n-1) with fields, each record
// followed by tail(i).
func flowRecordsWith(fields []tmplField, n int, tail func(i int) []byte) []byte {
	return testkit.FlowRecordsWith(kitFields(fields), n, tail)
}

// templateRecord returns a (v9 or IPFIX) template record.
func templateRecord(id uint16, fields ...tmplField) []byte {
	return testkit.TemplateRecord(id, kitFields(fields)...)
}

// v9OptionsTemplate returns a v9 options template record: scope fields
// (their IDs are scope types) and option fields.
func v9OptionsTemplate(id uint16, scope, opts []tmplField) []byte {
	return testkit.V9OptionsTemplate(id, kitFields(scope), kitFields(opts))
}

// ipfixOptionsTemplate returns an IPFIX options template record whose
// first scopeCount fields are scope fields.
func ipfixOptionsTemplate(id uint16, scopeCount int, fields ...tmplField) []byte {
	return testkit.IPFIXOptionsTemplate(id, scopeCount, kitFields(fields)...)
}

var be = binary.BigEndian

var (
	testFlowN          = testkit.FlowN
	buildV1            = testkit.V1
	buildV5            = testkit.V5
	buildV6            = testkit.V6
	buildV7            = testkit.V7
	set                = testkit.Set
	v9Packet           = testkit.V9Packet
	ipfixMessage       = testkit.IPFIXMessage
	uintBytes          = testkit.UintBytes
	fixedText          = testkit.FixedText
	varText            = testkit.VarText
	buildV9Template    = testkit.V9Template
	buildV9Data        = testkit.V9Data
	buildV9            = testkit.V9
	buildIPFIXTemplate = testkit.IPFIXTemplate
	buildIPFIXData     = testkit.IPFIXData
	buildIPFIX         = testkit.IPFIX
	buildSFlow         = testkit.SFlow
)
