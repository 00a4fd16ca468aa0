// Package export writes NetFlow v1, v5, v7, v9 (RFC 3954) and IPFIX (RFC
// 7011) export messages: the mirror of the root package's decoder. It
// imports only the standard library and the root package.
//
// # Writing flows
//
// A Writer is one exporter. WriteFlows takes netflow.Flow values and packs
// them into messages of at most Config.MTU bytes (default 1400), each
// passed to the output in one Write call: a connected UDP socket sends it
// as a datagram, a TCP connection (IPFIX over TCP, RFC 7011 section 10.4)
// or a file (an RFC 5655 IPFIX file, which netflow.MessageReader reads)
// stores the messages back to back (Config.Stream). Flush writes what is
// left of the last message. The Writer keeps what the RFCs make an
// exporter keep:
//
//   - v1, v5 and v7: the header's uptime and export time, the flow
//     sequence per engine, engine type and ID (Flow.Domain), the sampling
//     interval (Flow.SamplingInterval) in the v5 header, at most 24, 30 or
//     27 records a datagram.
//   - v9 and IPFIX: a template per layout of the flows (the fields in
//     Flow.Known, an IPv4 and an IPv6 flow apart), or the caller's
//     (Config.Fields); options templates and options data for each
//     sampling interval (keyed by the sampler ID the records carry) and,
//     for IPFIX uptimes, the system init time; templates and options data
//     sent before their first use and again by time and message count over
//     UDP (Config.RefreshInterval, RefreshMessages); sequence numbers per
//     domain (v9 counts messages, IPFIX data records).
//
// Every value is checked against the field that carries it: a counter
// wider than its element, an IPv6 address in a v5 record, a time the
// element or the message's clock cannot express are refused with an error
// that matches ErrRange (and netflow.ErrMalformed), and the flow is left
// out, never written wrong; the other flows are written. A record too
// large for the MTU, or more templates than Config.MaxTemplates, matches
// netflow.ErrLimit.
//
// Decoding what a Writer wrote gives back each flow in every field its
// version carries, its times cut to the version's resolution (v1-v9
// milliseconds; IPFIX by Config.TimeFormat). The tests hold it to that,
// and tshark, nfdump (nfcapd) and goflow2 decode the output to the same
// values.
//
// # Re-exporting records
//
// WriteRecords writes decoded v9 or IPFIX records with their template:
// every field is kept, enterprise-specific and variable-length ones
// included, the values byte for byte. RecordHeader (HeaderOf a decoded
// packet) keeps the original export time and uptime, against which v9
// uptimes and IPFIX delta times count.
//
// # Pieces
//
// The Append functions write the pieces of a message into a caller's
// buffer: headers (AppendV5Header, AppendV9Header, AppendIPFIXHeader, ...),
// the fixed formats' typed records (AppendV5Record, ...), set headers and
// their lengths (AppendSetHeader, FinishSet, FinishIPFIXMessage), template
// records (AppendTemplateRecord, AppendTemplateWithdrawal) and field values
// (AppendUint, AppendVariableLength). FlowTemplate encodes one Flow as a
// data record of a template.
//
// A Writer is not safe for concurrent use. Once warm it allocates nothing:
// its templates, samplers and domains are made on first use.
package export
