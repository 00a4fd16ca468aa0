package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// NetFlow v9 (RFC 3954): a 20-byte header, then flowsets. Flowset 0 holds
// templates, 1 options templates, 256 and above data; 2-255 are reserved.
// Field types are 16 bits without enterprise numbers; an options template
// gives its scope and option lengths in bytes, and its scope fields are
// scope types (1 System, 2 Interface, 3 Line Card, 4 Cache, 5 Template).
// There is no withdrawal. Flow uptimes count against the header's uptime.
var v9Dialect = dialect{
	version:      9,
	headerLen:    20,
	templateSet:  0,
	optionsSet:   1,
	headerUptime: true,
	scopeTypes:   true,
	optionsHeader: func(rec []byte) (scope, count, hdr int, err error) {
		// Template ID, option scope length and option length, in bytes.
		if len(rec) < 6 {
			return 0, 0, 0, ErrTruncated
		}
		scopeLen, optLen := int(binary.BigEndian.Uint16(rec[2:])), int(binary.BigEndian.Uint16(rec[4:]))
		if scopeLen%4 != 0 || optLen%4 != 0 {
			return 0, 0, 0, ErrMalformed
		}
		return scopeLen / 4, (scopeLen + optLen) / 4, 6, nil
	},
}

const v9HeaderLen = 20

// v9ScopeNames are the RFC 3954 scope field types.
var v9ScopeNames = [...]string{1: "scope_system", 2: "scope_interface", 3: "scope_line_card", 4: "scope_cache", 5: "scope_template"}

// v9ScopeInterface is the scope type of an interface.
const v9ScopeInterface = 2

func v9ScopeInfo(id uint16) InfoElement {
	info := InfoElement{ID: id, Type: TypeUnsigned32}
	if int(id) < len(v9ScopeNames) {
		info.Name = v9ScopeNames[id]
	}
	return info
}

// V9Header is the NetFlow v9 packet header (RFC 3954 section 5.1).
type V9Header struct {
	// Count is the header's record count. Exporters disagree on what it
	// counts (records, flowsets, or nothing), so the decoder does not use it.
	Count     uint16
	SysUptime uint32 // ms since the exporter booted, at export
	UnixSecs  uint32 // export time, seconds since 1970
	Sequence  uint32 // export packet counter
	SourceID  uint32 // exporter observation domain
}

// ExportTime returns UnixSecs as a UTC time.
func (h *V9Header) ExportTime() time.Time { return time.Unix(int64(h.UnixSecs), 0).UTC() }

// V9Packet is a decoded NetFlow v9 datagram. Its records alias the datagram.
type V9Packet struct {
	Exporter netip.AddrPort
	Header   V9Header
	Sets
}

// Version returns 9.
func (p *V9Packet) Version() uint16 { return 9 }

func decodeV9(d *Decoder, p *V9Packet, exporter netip.AddrPort, data []byte) error {
	p.Exporter = exporter
	p.reset()
	if len(data) < v9HeaderLen {
		return decodeErr(9, len(data), "header", ErrTruncated)
	}
	p.Header = V9Header{
		Count:     binary.BigEndian.Uint16(data[2:]),
		SysUptime: binary.BigEndian.Uint32(data[4:]),
		UnixSecs:  binary.BigEndian.Uint32(data[8:]),
		Sequence:  binary.BigEndian.Uint32(data[12:]),
		SourceID:  binary.BigEndian.Uint32(data[16:]),
	}
	export := p.Header.ExportTime()
	return walkSets(d, &p.Sets, &v9Dialect, data, flowContext{
		exporter:     exporter,
		version:      9,
		domain:       p.Header.SourceID,
		sequence:     p.Header.Sequence,
		exportTime:   export,
		exportNs:     export.UnixNano(),
		headerUptime: true,
		sysUptime:    p.Header.SysUptime,
	})
}
