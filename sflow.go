package netflow

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"time"
)

// sFlow version 5 (sflow.org, "sFlow Version 5", 2004): an agent samples 1
// in N packets and sends the first bytes of each sampled packet's header,
// plus periodic interface counters, in XDR datagrams (big-endian, every
// item padded to 4 bytes). Every sample and every record inside a sample is
// an opaque structure tagged with its data format (enterprise<<12 |
// format) and its length, so that a structure this package does not know
// is kept as it came and skipped by its length, never an error.
//
// A datagram begins with the version as a 32-bit number, 5, so its first
// two bytes are 0: no NetFlow or IPFIX version (Decoder tells them apart
// there). Its flow samples become Flows (sflow_flow.go), its counter
// samples are exporter state (sflow_counters.go), and the sampled packet
// headers are read by the parser that IPFIX's packet sections share
// (packetheader.go).

// sflowVersion is the only sFlow version decoded: 5.
const sflowVersion = 5

// Sample formats of enterprise 0.
const (
	sflowFlowSample            = 1
	sflowCounterSample         = 2
	sflowExpandedFlowSample    = 3
	sflowExpandedCounterSample = 4
)

// Lengths of the fixed parts: the fields of a sample before its records,
// and the record count.
const (
	sflowFlowSampleMinLen      = 32
	sflowExpandedFlowMinLen    = 44
	sflowCounterSampleMinLen   = 12
	sflowExpandedCounterMinLen = 16
	sflowStructureHeaderLen    = 8 // a structure's data format and length
)

// Interface formats and values (SFlowInterface).
const (
	sflowInterfaceFormatIfIndex = 0
	sflowInterfaceInternal      = 0x3fffffff // the agent itself
)

// SFlowPacket is a decoded sFlow v5 datagram. Its flow samples become
// Flows (AppendFlows); its counter samples and the samples of other
// formats are kept as they came. Byte slices in it (raw structures,
// sampled headers, strings) alias the datagram: keep the datagram
// unchanged while you use them.
type SFlowPacket struct {
	// Exporter is who sent the datagram: the agent, or a relay or NAT in
	// front of it (Header.Agent names the agent itself).
	Exporter netip.AddrPort
	Header   SFlowHeader
	// FlowSamples holds the flow samples (formats 1 and 3) that decoded,
	// in datagram order; a sample that did not decode is left out and its
	// error is among the decode's.
	FlowSamples []SFlowFlowSample
	// CounterSamples holds the counter samples (formats 2 and 4) that
	// decoded.
	CounterSamples []SFlowCounterSample
	// OtherSamples holds the samples of every other data format (the
	// dropped-packet notifications of format 5, enterprise samples), raw.
	OtherSamples []SFlowStructure
	// DecodedAt is the decoder's clock (Config.Now) when the datagram was
	// decoded. sFlow carries no wall-clock time, only the agent's uptime:
	// DecodedAt is the Start and the End of its flows.
	DecodedAt time.Time

	records  []SFlowStructure // backing array of the samples' Records
	sampling samplingRule     // the decoder's Config.Sampling policy for Exporter
	decap    bool             // Config.Decapsulate
}

// SFlowHeader is the header of an sFlow v5 datagram.
type SFlowHeader struct {
	// Agent is the agent address the datagram names (IPv4 or IPv6; the
	// zero Addr for the address type "unknown").
	Agent netip.Addr
	// SubAgentID tells apart the sub-agents of one agent (line cards, say);
	// each numbers its datagrams itself. Flow.Domain holds it.
	SubAgentID uint32
	// SequenceNumber counts the datagrams of the agent and sub-agent.
	SequenceNumber uint32
	// Uptime is the agent's uptime at export, in milliseconds.
	Uptime uint32
	// Samples is the number of samples the header announces.
	Samples uint32
}

// SFlowStructure is an sFlow opaque structure as it came: a sample or a
// record, identified by its data format (Enterprise, Format), with its
// bytes (aliasing the datagram, padding excluded).
type SFlowStructure struct {
	Enterprise uint32 // 20 bits; 0 for the structures sflow.org defines
	Format     uint32 // 12 bits
	Data       []byte
}

// SFlowDataSource is the data source of a sample: Type 0 is an ifIndex,
// 1 a smonVlanDataSource, 2 an entPhysicalEntry; Index numbers it.
type SFlowDataSource struct {
	Type  uint32
	Index uint32
}

// SFlowInterface is the input or output interface of a flow sample. Format
// 0 is an ifIndex (Value; 0 unknown, 0x3FFFFFFF the agent itself,
// "internal"); format 1 says the packet was discarded (Value is the
// reason); format 2 says it went out of several interfaces (Value is their
// number, 0 if unknown).
type SFlowInterface struct {
	Format uint32
	Value  uint32
}

// IfIndex returns the interface's ifIndex; ok is false for the other
// formats.
func (i SFlowInterface) IfIndex() (ifIndex uint32, ok bool) {
	return i.Value, i.Format == sflowInterfaceFormatIfIndex
}

// Internal reports whether the interface is the agent itself (ifIndex
// 0x3FFFFFFF): traffic that the device originated or received.
func (i SFlowInterface) Internal() bool {
	return i.Format == sflowInterfaceFormatIfIndex && i.Value == sflowInterfaceInternal
}

// Discarded reports whether the packet was discarded (format 1), and why:
// the reason is an ICMP unreachable code (0-255) or 256 and above for the
// other reasons (sFlow v5 section 5.1, "interface").
func (i SFlowInterface) Discarded() (reason uint32, ok bool) {
	return i.Value, i.Format == 1
}

// Multiple reports whether the packet went out of several interfaces
// (format 2), and how many (0 if the agent did not know).
func (i SFlowInterface) Multiple() (count uint32, ok bool) {
	return i.Value, i.Format == 2
}

// compactInterface decodes the 32-bit interface of a compact flow sample:
// the format in the top two bits, the value in the others.
func compactInterface(v uint32) SFlowInterface {
	return SFlowInterface{Format: v >> 30, Value: v & 0x3fffffff}
}

// Version returns 5, the sFlow version. A NetFlow v5 datagram gives 5 too:
// tell them apart by the packet's type, or by Flow.ExportProtocol.
func (p *SFlowPacket) Version() uint16 { return sflowVersion }

// FlowCount returns the number of flow samples.
func (p *SFlowPacket) FlowCount() int { return len(p.FlowSamples) }

// AppendFlows appends one Flow per flow sample to dst (sflow_flow.go says
// how a sample fills it).
func (p *SFlowPacket) AppendFlows(dst []Flow) []Flow {
	n := len(dst)
	dst = grow(dst, n+len(p.FlowSamples))
	for i := range p.FlowSamples {
		p.sampleFlow(&dst[n+i], &p.FlowSamples[i])
	}
	return dst
}

// isSFlow reports whether data begins as an sFlow v5 datagram does.
func isSFlow(data []byte) bool {
	return len(data) >= 4 && binary.BigEndian.Uint32(data) == sflowVersion
}

// sflowErr is a DecodeError of an sFlow datagram.
func sflowErr(offset int, what string, err error) error {
	return decodeErr(sflowVersion, offset, what, err)
}

// readSFlowAddress reads an XDR address (type, then 4 or 16 bytes, or none
// for type 0, "unknown") at b[off:]. It returns the address and the offset
// after it; the error is ErrTruncated if b ends first, ErrMalformed for
// another type.
func readSFlowAddress(b []byte, off int) (a netip.Addr, next int, err error) {
	if len(b)-off < 4 {
		return netip.Addr{}, off, ErrTruncated
	}
	switch binary.BigEndian.Uint32(b[off:]) {
	case 0:
		return netip.Addr{}, off + 4, nil
	case 1:
		if len(b)-off < 8 {
			return netip.Addr{}, off, ErrTruncated
		}
		return netip.AddrFrom4([4]byte(b[off+4 : off+8])), off + 8, nil
	case 2:
		if len(b)-off < 20 {
			return netip.Addr{}, off, ErrTruncated
		}
		return netip.AddrFrom16([16]byte(b[off+4 : off+20])), off + 20, nil
	}
	return netip.Addr{}, off, ErrMalformed
}

// pad4 returns n rounded up to a multiple of 4 (XDR padding), in 64 bits so
// that no length from the wire overflows.
func pad4(n uint32) uint64 { return (uint64(n) + 3) &^ 3 }

// nextStructure reads the data format and length of the structure at
// b[off:] and returns it with the offset after it and its padding. The
// structure, padding included, must lie within b; only the last structure
// of b may lack its padding.
func nextStructure(b []byte, off int) (s SFlowStructure, next int, err error) {
	if len(b)-off < sflowStructureHeaderLen {
		return s, off, ErrTruncated
	}
	dataFormat := binary.BigEndian.Uint32(b[off:])
	n := binary.BigEndian.Uint32(b[off+4:])
	start := off + sflowStructureHeaderLen
	end := pad4(n)
	if end > uint64(len(b)-start) {
		if uint64(n) != uint64(len(b)-start) {
			return s, off, ErrTruncated
		}
		// The padding of a structure that ends its container exactly
		// is missing (goflow2's drop-sample fixture): nothing is lost
		// and nothing follows it, so it is taken.
		end = uint64(n)
	}
	s = SFlowStructure{Enterprise: dataFormat >> 12, Format: dataFormat & 0xfff, Data: b[start : start+int(n) : start+int(n)]}
	return s, start + int(end), nil
}

// reset empties p for a new datagram, keeping its capacity.
func (p *SFlowPacket) reset() {
	p.Header = SFlowHeader{}
	p.FlowSamples = p.FlowSamples[:0]
	p.CounterSamples = p.CounterSamples[:0]
	p.OtherSamples = p.OtherSamples[:0]
	p.records = p.records[:0]
}

// parseSFlowHeader reads the datagram header and returns the offset of the
// first sample.
func parseSFlowHeader(h *SFlowHeader, data []byte) (int, error) {
	agent, off, err := readSFlowAddress(data, 4)
	if err == ErrTruncated {
		return 0, sflowErr(len(data), "sflow header", err)
	}
	if err != nil {
		return 0, sflowErr(4, "sflow agent address type", err)
	}
	if len(data)-off < 16 {
		return 0, sflowErr(len(data), "sflow header", ErrTruncated)
	}
	*h = SFlowHeader{
		Agent:          agent,
		SubAgentID:     binary.BigEndian.Uint32(data[off:]),
		SequenceNumber: binary.BigEndian.Uint32(data[off+4:]),
		Uptime:         binary.BigEndian.Uint32(data[off+8:]),
		Samples:        binary.BigEndian.Uint32(data[off+12:]),
	}
	return off + 16, nil
}

// decodeSFlow decodes an sFlow v5 datagram into p. A bad header is an
// error with headerOK false. Past the header, a sample that does not decode is
// left out and the walk goes on with the next one; the error joins every
// sample's problem. Two things end the walk: a sample whose length runs
// past the datagram, and a flow or counter sample too short for its own
// fixed fields (its length cannot be right, so neither can the framing of
// what follows: pmacct 1.7.7 writes such a first sample when its agent
// address is IPv6). Nothing is allocated by a count from the datagram: the
// walk ends when the bytes do.
func decodeSFlow(d *Decoder, p *SFlowPacket, exporter netip.AddrPort, data []byte) (headerOK bool, err error) {
	p.reset()
	p.Exporter = exporter
	p.DecodedAt = d.now().UTC()
	p.sampling = d.sampling.rule(exporter)
	p.decap = d.decap
	off, err := parseSFlowHeader(&p.Header, data)
	if err != nil {
		return false, err
	}
	d.observeSFlow(exporter, &p.Header)
	var errs []error
	for i := uint32(0); i < p.Header.Samples; i++ {
		s, next, err := nextStructure(data, off)
		if err != nil {
			errs = append(errs, sflowErr(off, "sflow sample "+strconv.Itoa(int(i)), err))
			break
		}
		start := off + sflowStructureHeaderLen
		off = next
		var serr error
		fatal := false
		switch {
		case s.Enterprise != 0:
			p.OtherSamples = append(p.OtherSamples, s)
		case s.Format == sflowFlowSample || s.Format == sflowExpandedFlowSample:
			serr, fatal = p.addFlowSample(s, start, int(i))
		case s.Format == sflowCounterSample || s.Format == sflowExpandedCounterSample:
			serr, fatal = p.addCounterSample(s, start, int(i))
		default:
			p.OtherSamples = append(p.OtherSamples, s)
		}
		if serr != nil {
			errs = append(errs, serr)
			if fatal {
				break
			}
		}
	}
	p.linkRecords()
	switch len(errs) {
	case 0:
		return true, nil
	case 1:
		return true, errs[0]
	}
	return true, errors.Join(errs...)
}

// linkRecords points every sample's Records into p.records, now that it
// has stopped growing.
func (p *SFlowPacket) linkRecords() {
	for i := range p.FlowSamples {
		s := &p.FlowSamples[i]
		s.Records = p.records[s.recStart:s.recEnd:s.recEnd]
	}
	for i := range p.CounterSamples {
		s := &p.CounterSamples[i]
		s.Records = p.records[s.recStart:s.recEnd:s.recEnd]
	}
}

// walkRecords reads the n records of sample index of a kind, which begin
// at body[off:] (body starts at datagram offset base), into p.records,
// calling each for every record. A record whose length runs past the sample, or fewer
// records than announced, is an error; bytes after the last record are
// allowed (some agents pad samples).
func (p *SFlowPacket) walkRecords(body []byte, off, base int, n uint32, kind string, index int, each func(r SFlowStructure) error) (start, end int, err error) {
	start = len(p.records)
	// The name of the sample and record, made only for an error.
	what := func(j uint32) string {
		return kind + " " + strconv.Itoa(index) + " record " + strconv.Itoa(int(j))
	}
	for j := uint32(0); j < n; j++ {
		r, next, err := nextStructure(body, off)
		if err != nil {
			p.records = p.records[:start]
			return start, start, sflowErr(base+off, what(j), err)
		}
		if err := each(r); err != nil {
			p.records = p.records[:start]
			return start, start, sflowErr(base+off, what(j)+" ("+sflowRecordName(r)+")", err)
		}
		p.records = append(p.records, r)
		off = next
	}
	return start, len(p.records), nil
}

// sflowRecordName names a record's data format for errors: "0:1" is
// enterprise 0, format 1.
func sflowRecordName(r SFlowStructure) string {
	return "format " + strconv.Itoa(int(r.Enterprise)) + ":" + strconv.Itoa(int(r.Format))
}
