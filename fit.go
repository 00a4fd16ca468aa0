package netflow

// Whether a data set fits its template: the check a decoder whose store is
// shared with other instances (TemplateChecker) makes before it decodes a
// set with a template from the store, which may be a definition another
// instance has already seen replaced (docs/several-instances-consistency.md).

// maxAlignPadding is the longest padding of any value a data set may end
// with: what aligns the next set on 4 bytes (RFC 3954 section 5.3; RFC 7011
// section 3.3.1 leaves the alignment open). RFC 3954 asks for zero bytes
// (SHOULD) and RFC 7011 requires them, but MikroTik RouterOS (IPFIX, 2
// bytes) and nProbe (v9, 3 bytes) pad with other values.
const maxAlignPadding = 3

// Fits reports whether body, the bytes of a data set after its 4-byte set
// header, is what t describes: whole records, then padding that RFC 3954
// or RFC 7011 permit. Padding is either at most 3 bytes of any value
// (alignment on 4 bytes) or zero bytes fewer than t's shortest record (RFC
// 7011 section 3.3.1: "shorter than any allowable record"). For a template
// with variable-length fields the records are walked: a record that runs
// past the end of the set leaves what remains to be judged as padding. A
// template whose records are empty (MinRecordLen 0) fits anything; its
// data sets are refused when they are decoded.
//
// A set that does not fit t was not made with t: by an exporter that
// redefined the template since (with another record length), or by one
// that pads beyond the RFCs. A set of the same length made with another
// definition of the same record length fits: no check on lengths can tell
// such a redefinition from the data.
func (t *Template) Fits(body []byte) bool {
	fits, _ := t.fit(body)
	return fits
}

// fit is Fits; zero reports that the set's padding, if any, is zero bytes
// fewer than a record (what RFC 7011 requires), not non-zero bytes.
func (t *Template) fit(body []byte) (fits, zero bool) {
	switch {
	case t.minLen == 0:
		return true, true
	case t.fixedLen > 0:
		return t.padding(body[len(body)-len(body)%t.fixedLen:])
	}
	off := 0
	for len(body)-off >= t.minLen {
		n, ok := recordLen(t, body[off:])
		if !ok {
			break
		}
		off += n
	}
	return t.padding(body[off:])
}

// padding reports whether b, the bytes after a data set's last whole
// record of t, is padding the RFCs permit (see Fits), and whether it is
// zero bytes fewer than a record.
func (t *Template) padding(b []byte) (ok, zero bool) {
	if len(b) == 0 {
		return true, true
	}
	zero = len(b) < t.minLen && allZero(b)
	return zero || len(b) <= maxAlignPadding, zero
}

// fitsCopy reports whether body fits t, a template of a checking store's
// copy: Fits, and, while the copy is not confirmed, with zero padding only
// (TemplateChecker.Confirmed): a set of a redefinition with another record
// length may end in 1 to 3 non-zero bytes by coincidence.
func fitsCopy(t *Template, body []byte, c TemplateChecker) bool {
	fits, zero := t.fit(body)
	return fits && (zero || c.Confirmed())
}
