package export

import (
	"math"

	"github.com/flowkit/netflow"
)

// The pieces of v9 and IPFIX messages: headers, set headers, template
// records and field values. A message is built by appending them to one
// slice and then patching the lengths in (FinishSet, FinishIPFIXMessage):
//
//	msg := export.AppendIPFIXHeader(nil, &netflow.IPFIXHeader{UnixSecs: secs, ObservationDomainID: 1})
//	set := len(msg)
//	msg = export.AppendSetHeader(msg, 2)
//	msg, _ = export.AppendTemplateRecord(msg, tmpl)
//	msg, _ = export.FinishSet(msg, set, false)
//	msg, _ = export.FinishIPFIXMessage(msg, 0)

// Header and set header lengths.
const (
	v9HeaderLen    = 20
	ipfixHeaderLen = 16
	setHeaderLen   = 4
)

// Set IDs of template and options template sets.
const (
	v9TemplateSet     = 0
	v9OptionsSet      = 1
	ipfixTemplateSet  = 2
	ipfixOptionsSet   = 3
	minDataSetID      = 256
	enterpriseBit     = 0x8000
	maxMessageLen     = math.MaxUint16
	maxIPFIXFieldID   = enterpriseBit - 1
	varLengthLongForm = 255
)

// AppendV9Header appends the 20-byte NetFlow v9 header h (RFC 3954 section
// 5.1). Count is written as given: the number of template, options
// template, data and options data records in the packet.
func AppendV9Header(dst []byte, h *netflow.V9Header) []byte {
	dst = be.AppendUint16(dst, 9)
	dst = be.AppendUint16(dst, h.Count)
	dst = be.AppendUint32(dst, h.SysUptime)
	dst = be.AppendUint32(dst, h.UnixSecs)
	dst = be.AppendUint32(dst, h.Sequence)
	return be.AppendUint32(dst, h.SourceID)
}

// AppendIPFIXHeader appends the 16-byte IPFIX message header h (RFC 7011
// section 3.1). Length is written as given; FinishIPFIXMessage sets it once
// the message is complete.
func AppendIPFIXHeader(dst []byte, h *netflow.IPFIXHeader) []byte {
	dst = be.AppendUint16(dst, 10)
	dst = be.AppendUint16(dst, h.Length)
	dst = be.AppendUint32(dst, h.UnixSecs)
	dst = be.AppendUint32(dst, h.Sequence)
	return be.AppendUint32(dst, h.ObservationDomainID)
}

// FinishIPFIXMessage sets the length field of the IPFIX message that
// starts at dst[start] and runs to the end of dst. It fails with
// netflow.ErrLimit for a message longer than 65535 bytes, and with
// netflow.ErrMalformed if dst[start:] is not an IPFIX message header.
func FinishIPFIXMessage(dst []byte, start int) ([]byte, error) {
	n := len(dst) - start
	switch {
	case start < 0 || n < ipfixHeaderLen || be.Uint16(dst[start:]) != 10:
		return dst, malformedErr("no IPFIX message header at offset %d", start)
	case n > maxMessageLen:
		return dst, limitErr("IPFIX message of %d bytes: at most 65535", n)
	}
	be.PutUint16(dst[start+2:], uint16(n))
	return dst, nil
}

// AppendSetHeader appends the header of a set (an IPFIX set or a v9
// flowset) with ID id and length 0; FinishSet sets the length.
func AppendSetHeader(dst []byte, id uint16) []byte {
	dst = be.AppendUint16(dst, id)
	return be.AppendUint16(dst, 0)
}

// FinishSet sets the length of the set whose header is at dst[start] and
// which runs to the end of dst. With pad (NetFlow v9, RFC 3954 section
// 5.3) it first appends zero bytes up to a multiple of 4; the caller pads
// only where the padding is shorter than the set's shortest record. It
// fails with netflow.ErrLimit for a set longer than 65535 bytes and with
// netflow.ErrMalformed when dst[start:] cannot be a set.
func FinishSet(dst []byte, start int, pad bool) ([]byte, error) {
	if start < 0 || len(dst)-start < setHeaderLen {
		return dst, malformedErr("no set header at offset %d", start)
	}
	if pad {
		for (len(dst)-start)%4 != 0 {
			dst = append(dst, 0)
		}
	}
	n := len(dst) - start
	if n > maxMessageLen {
		return dst, limitErr("set of %d bytes: at most 65535", n)
	}
	be.PutUint16(dst[start+2:], uint16(n))
	return dst, nil
}

// AppendTemplateRecord appends the template record of t in the format of
// its version: for NetFlow v9 (RFC 3954 sections 5.2 and 6.1) field type
// and length pairs, an options template with its scope and option lengths
// in bytes; for IPFIX (RFC 7011 sections 3.4.1 and 3.4.2) field specifiers
// with the enterprise bit and number of enterprise elements, an options
// template with its scope field count. It goes in a set of ID 0 (v9) or 2
// (IPFIX), or 1 or 3 for an options template. A v9 template with an
// enterprise element, or an IPFIX element ID above 32767, fails with
// netflow.ErrMalformed.
func AppendTemplateRecord(dst []byte, t *netflow.Template) ([]byte, error) {
	if err := checkTemplate(t); err != nil {
		return dst, err
	}
	dst = be.AppendUint16(dst, t.ID)
	switch {
	case t.Version == 9 && t.Options:
		dst = be.AppendUint16(dst, uint16(4*t.ScopeCount))
		dst = be.AppendUint16(dst, uint16(4*(len(t.Fields)-t.ScopeCount)))
	case t.Options:
		dst = be.AppendUint16(dst, uint16(len(t.Fields)))
		dst = be.AppendUint16(dst, uint16(t.ScopeCount))
	default:
		dst = be.AppendUint16(dst, uint16(len(t.Fields)))
	}
	for _, f := range t.Fields {
		if f.PEN != 0 {
			dst = be.AppendUint16(dst, f.ID|enterpriseBit)
			dst = be.AppendUint16(dst, f.Length)
			dst = be.AppendUint32(dst, f.PEN)
			continue
		}
		dst = be.AppendUint16(dst, f.ID)
		dst = be.AppendUint16(dst, f.Length)
	}
	return dst, nil
}

// templateRecordLen returns the length of t's template record.
func templateRecordLen(t *netflow.Template) int {
	n := 4
	if t.Options {
		n += 2
	}
	for _, f := range t.Fields {
		n += 4
		if f.PEN != 0 {
			n += 4
		}
	}
	return n
}

// checkTemplate checks that t can be written: a template of version 9 or
// 10 that NewTemplate would accept, whose fields its version can express,
// and whose record fits in one message.
func checkTemplate(t *netflow.Template) error {
	switch {
	case t == nil:
		return malformedErr("no template")
	case t.Version != 9 && t.Version != 10:
		return versionErr(t.Version, "template")
	case t.ID < minDataSetID:
		return malformedErr("template ID %d below 256", t.ID)
	case len(t.Fields) == 0:
		return malformedErr("template %d without fields", t.ID)
	case t.ScopeCount < 0 || t.ScopeCount > len(t.Fields) || (!t.Options && t.ScopeCount != 0):
		return malformedErr("template %d scope field count %d of %d fields", t.ID, t.ScopeCount, len(t.Fields))
	case t.Version == 9 && 4*len(t.Fields) > maxMessageLen:
		return limitErr("template %d of %d fields: more than a v9 flowset holds", t.ID, len(t.Fields))
	}
	for _, f := range t.Fields {
		switch {
		case t.Version == 9 && f.PEN != 0:
			return malformedErr("template %d: enterprise element %d.%d in NetFlow v9", t.ID, f.PEN, f.ID)
		case t.Version == 10 && f.ID > maxIPFIXFieldID:
			return malformedErr("template %d: element ID %d above 32767", t.ID, f.ID)
		}
	}
	if n := templateRecordLen(t); n+setHeaderLen+ipfixHeaderLen > maxMessageLen {
		return limitErr("template %d of %d fields: more than a message holds", t.ID, len(t.Fields))
	}
	if t.MinRecordLen() > maxMessageLen-ipfixHeaderLen-setHeaderLen {
		return limitErr("template %d: records longer than a message holds", t.ID)
	}
	return nil
}

// AppendTemplateWithdrawal appends an IPFIX template withdrawal record (RFC
// 7011 section 8.1): the template ID and a field count of 0, in a set of
// ID 2, or 3 for an options template. ID 2 in a set of ID 2 withdraws every
// data template, 3 in a set of ID 3 every options template. Withdrawals
// are for IPFIX over TCP or SCTP only; UDP exporters let templates expire.
func AppendTemplateWithdrawal(dst []byte, id uint16) []byte {
	dst = be.AppendUint16(dst, id)
	return be.AppendUint16(dst, 0)
}

// AppendUint appends v as an unsigned integer of n bytes, 1 to 8
// (reduced-size encoding, RFC 7011 section 6.2). It fails with ErrRange
// when v does not fit.
func AppendUint(dst []byte, v uint64, n int) ([]byte, error) {
	if n < 1 || n > 8 || (n < 8 && v>>(8*uint(n)) != 0) {
		return dst, rangeErr("%d in %d bytes", v, n)
	}
	return appendUintN(dst, v, n), nil
}

// appendUintN appends the low n bytes of v, big-endian.
func appendUintN(dst []byte, v uint64, n int) []byte {
	switch n {
	case 1:
		return append(dst, byte(v))
	case 2:
		return be.AppendUint16(dst, uint16(v))
	case 4:
		return be.AppendUint32(dst, uint32(v))
	case 8:
		return be.AppendUint64(dst, v)
	}
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, byte(v>>(8*uint(i))))
	}
	return dst
}

// AppendVariableLength appends b as the value of a variable-length field
// (RFC 7011 section 7): one length byte for up to 254 bytes, else 255 and
// two length bytes. It fails with netflow.ErrLimit beyond 65535 bytes.
func AppendVariableLength(dst, b []byte) ([]byte, error) {
	switch {
	case len(b) < varLengthLongForm:
		dst = append(dst, byte(len(b)))
	case len(b) <= maxMessageLen:
		dst = append(dst, varLengthLongForm)
		dst = be.AppendUint16(dst, uint16(len(b)))
	default:
		return dst, limitErr("variable-length value of %d bytes: at most 65535", len(b))
	}
	return append(dst, b...), nil
}
