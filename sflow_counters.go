package netflow

import (
	"encoding/binary"
	"net/netip"
	"strconv"
)

// sFlow counter samples (formats 2 and 4): the agent's periodic export of
// a data source's counters (an interface, a VLAN, the device itself). They
// are exporter state, not flows: AppendFlows gives none for them. The
// records this package knows are decoded into typed counters; every record
// is also kept raw.

// SFlowCounterSample is one counter sample.
type SFlowCounterSample struct {
	// Expanded is true for the expanded format (4).
	Expanded bool
	// SequenceNumber counts the counter samples of the data source.
	SequenceNumber uint32
	Source         SFlowDataSource
	// Records holds every counter record, known or not.
	Records []SFlowStructure

	// Has says which of the decoded records below the sample carried (the
	// first of each kind).
	Has SFlowCounterRecords
	// Interface is the generic interface counters record (format 1).
	Interface SFlowInterfaceCounters
	// Ethernet is the Ethernet interface counters record (2).
	Ethernet SFlowEthernetCounters
	// VLAN is the VLAN counters record (5).
	VLAN SFlowVLANCounters
	// Processor is the processor record (1001).
	Processor SFlowProcessorCounters

	recStart, recEnd int // Records in SFlowPacket.records
}

// SFlowCounterRecords is a set of the counter records SFlowCounterSample
// decodes.
type SFlowCounterRecords uint8

// The counter records SFlowCounterSample decodes (enterprise 0, by
// format).
const (
	SFlowHasInterfaceCounters SFlowCounterRecords = 1 << iota // 1: generic interface
	SFlowHasEthernetCounters                                  // 2: Ethernet interface
	SFlowHasVLANCounters                                      // 5: VLAN
	SFlowHasProcessorCounters                                 // 1001: processor
)

// Counter record formats of enterprise 0, and their lengths.
const (
	sflowCtrInterface    = 1
	sflowCtrEthernet     = 2
	sflowCtrVLAN         = 5
	sflowCtrProcessor    = 1001
	sflowCtrInterfaceLen = 88
	sflowCtrEthernetLen  = 52
	sflowCtrVLANLen      = 28
	sflowCtrProcessorLen = 28
)

// SFlowInterfaceCounters is the generic interface counters record (RFC
// 2233 ifTable and ifXTable), with the agent that sent it: one interface's
// counters per agent, sub-agent and ifIndex. The counters are totals since
// the interface (or agent) started; a collector takes differences.
type SFlowInterfaceCounters struct {
	// Agent and SubAgentID are the datagram's (SFlowHeader).
	Agent      netip.Addr
	SubAgentID uint32

	IfIndex uint32
	IfType  uint32 // IANAifType: 6 ethernetCsmacd
	// Speed is the interface's speed in bits per second.
	Speed uint64
	// Direction is 0 unknown, 1 full-duplex, 2 half-duplex, 3 in, 4 out.
	Direction uint32
	// Status has bit 0 set when the interface is administratively up
	// (ifAdminStatus) and bit 1 when it is operationally up
	// (ifOperStatus).
	Status uint32

	InOctets                                         uint64
	InUcastPkts, InMulticastPkts, InBroadcastPkts    uint32
	InDiscards, InErrors, InUnknownProtos            uint32
	OutOctets                                        uint64
	OutUcastPkts, OutMulticastPkts, OutBroadcastPkts uint32
	OutDiscards, OutErrors                           uint32
	// Promiscuous is 1 if the interface is in promiscuous mode, 2 if not
	// (0 unknown).
	Promiscuous uint32
}

// AdminUp reports whether the interface is administratively up.
func (c *SFlowInterfaceCounters) AdminUp() bool { return c.Status&1 != 0 }

// OperUp reports whether the interface is operationally up.
func (c *SFlowInterfaceCounters) OperUp() bool { return c.Status&2 != 0 }

// SFlowEthernetCounters is the Ethernet interface counters record (RFC
// 2358 dot3StatsTable).
type SFlowEthernetCounters struct {
	AlignmentErrors, FCSErrors                            uint32
	SingleCollisionFrames, MultipleCollisionFrames        uint32
	SQETestErrors, DeferredTransmissions                  uint32
	LateCollisions, ExcessiveCollisions                   uint32
	InternalMacTransmitErrors, CarrierSenseErrors         uint32
	FrameTooLongs, InternalMacReceiveErrors, SymbolErrors uint32
}

// SFlowVLANCounters is the VLAN counters record.
type SFlowVLANCounters struct {
	VLANID                                            uint32
	Octets                                            uint64
	UcastPkts, MulticastPkts, BroadcastPkts, Discards uint32
}

// SFlowProcessorCounters is the processor record: CPU load in hundredths
// of a percent (5 s, 1 min and 5 min averages) and memory in bytes.
type SFlowProcessorCounters struct {
	CPU5s, CPU1m, CPU5m     uint32
	TotalMemory, FreeMemory uint64
}

// AppendInterfaceCounters appends the generic interface counters of the
// datagram's counter samples to dst, in datagram order.
func (p *SFlowPacket) AppendInterfaceCounters(dst []SFlowInterfaceCounters) []SFlowInterfaceCounters {
	for i := range p.CounterSamples {
		if s := &p.CounterSamples[i]; s.Has&SFlowHasInterfaceCounters != 0 {
			dst = append(dst, s.Interface)
		}
	}
	return dst
}

// addCounterSample decodes the counter sample s, whose data begins at
// datagram offset start, and appends it to p.CounterSamples. fatal says
// that the sample is too short for its fixed fields.
func (p *SFlowPacket) addCounterSample(s SFlowStructure, start, index int) (err error, fatal bool) {
	b := s.Data
	expanded := s.Format == sflowExpandedCounterSample
	min := sflowCounterSampleMinLen
	if expanded {
		min = sflowExpandedCounterMinLen
	}
	if len(b) < min {
		return sflowErr(start, "sflow sample "+strconv.Itoa(index)+" (counters): shorter than its fixed fields", ErrMalformed), true
	}
	p.CounterSamples = grow(p.CounterSamples, len(p.CounterSamples)+1)
	cs := &p.CounterSamples[len(p.CounterSamples)-1]
	cs.Expanded = expanded
	cs.SequenceNumber = binary.BigEndian.Uint32(b)
	cs.Has = 0
	var n uint32
	if expanded {
		cs.Source = SFlowDataSource{Type: binary.BigEndian.Uint32(b[4:]), Index: binary.BigEndian.Uint32(b[8:])}
		n = binary.BigEndian.Uint32(b[12:])
	} else {
		src := binary.BigEndian.Uint32(b[4:])
		cs.Source = SFlowDataSource{Type: src >> 24, Index: src & 0xffffff}
		n = binary.BigEndian.Uint32(b[8:])
	}
	agent, sub := p.Header.Agent, p.Header.SubAgentID
	cs.recStart, cs.recEnd, err = p.walkRecords(s.Data, min, start, n, "sflow sample", index, func(r SFlowStructure) error {
		return cs.addRecord(r, agent, sub)
	})
	if err != nil {
		p.CounterSamples = p.CounterSamples[:len(p.CounterSamples)-1]
		return err, false
	}
	return nil, false
}

// addRecord decodes a counter record into cs if it is one of the known
// ones (the first of its kind). A known record shorter than its fields is
// ErrMalformed.
func (cs *SFlowCounterSample) addRecord(r SFlowStructure, agent netip.Addr, subAgent uint32) error {
	if r.Enterprise != 0 {
		return nil
	}
	b := r.Data
	be := binary.BigEndian
	switch r.Format {
	case sflowCtrInterface:
		if len(b) < sflowCtrInterfaceLen {
			return ErrMalformed
		}
		if cs.Has&SFlowHasInterfaceCounters == 0 {
			b = b[:sflowCtrInterfaceLen]
			cs.Interface = SFlowInterfaceCounters{
				Agent: agent, SubAgentID: subAgent,
				IfIndex: be.Uint32(b), IfType: be.Uint32(b[4:]), Speed: be.Uint64(b[8:]),
				Direction: be.Uint32(b[16:]), Status: be.Uint32(b[20:]),
				InOctets: be.Uint64(b[24:]), InUcastPkts: be.Uint32(b[32:]), InMulticastPkts: be.Uint32(b[36:]),
				InBroadcastPkts: be.Uint32(b[40:]), InDiscards: be.Uint32(b[44:]), InErrors: be.Uint32(b[48:]),
				InUnknownProtos: be.Uint32(b[52:]),
				OutOctets:       be.Uint64(b[56:]), OutUcastPkts: be.Uint32(b[64:]), OutMulticastPkts: be.Uint32(b[68:]),
				OutBroadcastPkts: be.Uint32(b[72:]), OutDiscards: be.Uint32(b[76:]), OutErrors: be.Uint32(b[80:]),
				Promiscuous: be.Uint32(b[84:]),
			}
			cs.Has |= SFlowHasInterfaceCounters
		}
	case sflowCtrEthernet:
		if len(b) < sflowCtrEthernetLen {
			return ErrMalformed
		}
		if cs.Has&SFlowHasEthernetCounters == 0 {
			b = b[:sflowCtrEthernetLen]
			cs.Ethernet = SFlowEthernetCounters{
				AlignmentErrors: be.Uint32(b), FCSErrors: be.Uint32(b[4:]),
				SingleCollisionFrames: be.Uint32(b[8:]), MultipleCollisionFrames: be.Uint32(b[12:]),
				SQETestErrors: be.Uint32(b[16:]), DeferredTransmissions: be.Uint32(b[20:]),
				LateCollisions: be.Uint32(b[24:]), ExcessiveCollisions: be.Uint32(b[28:]),
				InternalMacTransmitErrors: be.Uint32(b[32:]), CarrierSenseErrors: be.Uint32(b[36:]),
				FrameTooLongs: be.Uint32(b[40:]), InternalMacReceiveErrors: be.Uint32(b[44:]),
				SymbolErrors: be.Uint32(b[48:]),
			}
			cs.Has |= SFlowHasEthernetCounters
		}
	case sflowCtrVLAN:
		if len(b) < sflowCtrVLANLen {
			return ErrMalformed
		}
		if cs.Has&SFlowHasVLANCounters == 0 {
			cs.VLAN = SFlowVLANCounters{
				VLANID: be.Uint32(b), Octets: be.Uint64(b[4:]), UcastPkts: be.Uint32(b[12:]),
				MulticastPkts: be.Uint32(b[16:]), BroadcastPkts: be.Uint32(b[20:]), Discards: be.Uint32(b[24:]),
			}
			cs.Has |= SFlowHasVLANCounters
		}
	case sflowCtrProcessor:
		if len(b) < sflowCtrProcessorLen {
			return ErrMalformed
		}
		if cs.Has&SFlowHasProcessorCounters == 0 {
			cs.Processor = SFlowProcessorCounters{
				CPU5s: be.Uint32(b), CPU1m: be.Uint32(b[4:]), CPU5m: be.Uint32(b[8:]),
				TotalMemory: be.Uint64(b[12:]), FreeMemory: be.Uint64(b[20:]),
			}
			cs.Has |= SFlowHasProcessorCounters
		}
	}
	return nil
}
