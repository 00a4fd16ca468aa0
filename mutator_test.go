package netflow

// The mutations of the robustness tests (mutation_test.go): what a mutator
// changes in a datagram (length and count fields first), and what every
// decode of a mutant is put through (every record, every list, framing).

import (
	"bytes"
	"fmt"
	"math/rand/v2"
)

// ---------------------------------------------------------------- mutations

// mutLengthFields returns the offsets of the 16-bit length and count fields
// of a datagram, as far as its framing can be walked: the header count or
// length, set lengths, template field counts, options scope lengths and
// field lengths.
func mutLengthFields(d []byte, out []int) []int {
	out = out[:0]
	if len(d) < 4 {
		return out
	}
	out = append(out, 2)
	var off int
	switch be.Uint16(d) {
	case 9:
		off = 20
	case 10:
		off = 16
	default:
		return out
	}
	v := be.Uint16(d)
	for off+4 <= len(d) {
		id, n := be.Uint16(d[off:]), int(be.Uint16(d[off+2:]))
		out = append(out, off+2)
		if n < 4 || off+n > len(d) {
			return out
		}
		tmpl := (v == 9 && id <= 1) || (v == 10 && (id == 2 || id == 3))
		opts := (v == 9 && id == 1) || (v == 10 && id == 3)
		for r, end := off+4, off+n; tmpl && r+4 <= end; {
			hdr, count := 4, int(be.Uint16(d[r+2:]))
			out = append(out, r+2)
			if opts {
				if r+6 > end {
					break
				}
				out = append(out, r+4)
				hdr = 6
				if v == 9 {
					count = (count + int(be.Uint16(d[r+4:]))) / 4
				}
			}
			p := r + hdr
			for range count {
				if p+4 > end {
					break
				}
				out = append(out, p+2)
				if v == 10 && d[p]&0x80 != 0 {
					p += 4
				}
				p += 4
			}
			if p <= r+hdr || p > end {
				break
			}
			r = p
		}
		off += n
	}
	return out
}

var (
	mutBytes8  = []byte{0, 1, 2, 3, 4, 0x7f, 0x80, 0xfe, 0xff, 9, 10}
	mutValues  = []uint16{0, 1, 2, 3, 4, 5, 6, 8, 16, 255, 256, 0x7fff, 0x8000, 0xfffe, 0xffff}
	mutMaxSize = 0xffff + 1024
)

// mutator makes seeded random mutations of a datagram.
type mutator struct {
	r       *rand.Rand
	scratch []byte
	offs    []int
}

// mutate writes a mutation of src into dst's storage and returns it.
func (m *mutator) mutate(dst, src []byte) []byte {
	dst = append(dst[:0], src...)
	n := 1
	switch x := m.r.IntN(10); {
	case x >= 9:
		n = 3 + m.r.IntN(3)
	case x >= 6:
		n = 2
	}
	for range n {
		dst = m.one(dst)
		if len(dst) > mutMaxSize {
			dst = dst[:mutMaxSize]
		}
	}
	return dst
}

func (m *mutator) one(d []byte) []byte {
	r := m.r
	if len(d) == 0 {
		return append(d, byte(r.IntN(256)))
	}
	switch r.IntN(12) {
	case 0, 1: // bit flips
		for range 1 + r.IntN(4) {
			i := r.IntN(len(d))
			d[i] ^= 1 << r.IntN(8)
		}
	case 2: // byte set
		i := r.IntN(len(d))
		if r.IntN(2) == 0 {
			d[i] = mutBytes8[r.IntN(len(mutBytes8))]
		} else {
			d[i] = byte(r.IntN(256))
		}
	case 3: // 16-bit set anywhere
		if len(d) >= 2 {
			be.PutUint16(d[r.IntN(len(d)-1):], mutValues[r.IntN(len(mutValues))])
		}
	case 4, 5, 6: // length and count fields
		m.offs = mutLengthFields(d, m.offs)
		if len(m.offs) == 0 {
			d[r.IntN(len(d))] ^= 1 << r.IntN(8)
			break
		}
		i := m.offs[r.IntN(len(m.offs))]
		if i+2 > len(d) {
			break
		}
		v := be.Uint16(d[i:])
		switch r.IntN(6) {
		case 0:
			v = mutValues[r.IntN(len(mutValues))]
		case 1:
			v += uint16(1 + r.IntN(4))
		case 2:
			v -= uint16(1 + r.IntN(4))
		case 3:
			v *= 2
		case 4:
			v /= 2
		default:
			v = uint16(r.IntN(1 << 16))
		}
		be.PutUint16(d[i:], v)
	case 7: // truncation
		d = d[:r.IntN(len(d))]
	case 8: // extension: zeros, random bytes, or a copy of a part
		k := 1 + r.IntN(64)
		if r.IntN(8) == 0 {
			k = 1 + r.IntN(2048)
		}
		switch r.IntN(3) {
		case 0:
			for range k {
				d = append(d, 0)
			}
		case 1:
			for range k {
				d = append(d, byte(r.IntN(256)))
			}
		default:
			a := r.IntN(len(d))
			b := a + r.IntN(len(d)-a) + 1
			m.scratch = append(m.scratch[:0], d[a:b]...)
			d = append(d, m.scratch...)
		}
	case 9: // insertion of random bytes
		i := r.IntN(len(d) + 1)
		m.scratch = m.scratch[:0]
		for range 1 + r.IntN(16) {
			m.scratch = append(m.scratch, byte(r.IntN(256)))
		}
		m.scratch = append(m.scratch, d[i:]...)
		d = append(d[:i], m.scratch...)
	case 10: // deletion of a range
		a := r.IntN(len(d))
		b := a + 1 + r.IntN(min(len(d)-a, 64))
		d = append(d[:a], d[b:]...)
	default: // duplication of a range elsewhere (a set copied, say)
		a := r.IntN(len(d))
		b := a + 1 + r.IntN(len(d)-a)
		i := r.IntN(len(d) + 1)
		m.scratch = append(m.scratch[:0], d[a:b]...)
		m.scratch = append(m.scratch, d[i:]...)
		d = append(d[:i], m.scratch...)
	}
	return d
}

// ---------------------------------------------------------------- exercise

// mutExercise uses everything a decoded packet offers: flows, every value
// of every record formatted, every list decoded, nested ones too. It
// returns a problem found, or "".
func mutExercise(d *Decoder, p Packet, flows []Flow) ([]Flow, string) {
	flows = p.AppendFlows(flows[:0])
	if len(flows) != p.FlowCount() {
		return flows, fmt.Sprintf("AppendFlows gave %d flows, FlowCount %d", len(flows), p.FlowCount())
	}
	var sets *Sets
	switch q := p.(type) {
	case *V9Packet:
		sets = &q.Sets
	case *IPFIXPacket:
		sets = &q.Sets
	default:
		return flows, ""
	}
	for i := range sets.DataSets {
		ds := &sets.DataSets[i]
		_ = ds.Options()
		for j := range ds.Records {
			if s := mutRecord(d, &ds.Records[j], 0); s != "" {
				return flows, s
			}
		}
		if ds.Options() {
			key := ds.key
			d.ExporterState(testExporter, key.Version, key.Domain)
		}
	}
	return flows, ""
}

func mutRecord(d *Decoder, r *Record, depth int) string {
	if depth > d.limits.MaxListDepth {
		return fmt.Sprintf("list records at depth %d beyond MaxListDepth %d", depth, d.limits.MaxListDepth)
	}
	for v := range r.All() {
		_ = v.String()
		_ = v.Name()
		_, _ = v.Time()
		_, _ = v.Int()
		_, _ = v.Float()
		switch v.Info.Type {
		case TypeBasicList, TypeSubTemplateList, TypeSubTemplateMultiList:
			l, err := r.List(v)
			if s := mutCheckErr(err); s != "" {
				return "Record.List: " + s
			}
			if err != nil {
				continue
			}
			for _, x := range l.Values {
				_ = x.String()
			}
			for k := range l.Records {
				if s := mutRecord(d, &l.Records[k], depth+1); s != "" {
					return s
				}
			}
		}
	}
	r.Lookup(8)
	r.LookupEnterprise(29305, 1)
	return ""
}

// mutFraming splits data as a stream of messages with SplitMessage and,
// if reader is set (it allocates a 64 KiB buffer), MessageReader; both must
// advance or stop.
func mutFraming(data []byte, reader bool) string {
	rest := data
	for i := 0; len(rest) > 0; i++ {
		msg, r, err := SplitMessage(rest)
		if err != nil {
			if s := mutCheckErr(err); s != "" {
				return "SplitMessage: " + s
			}
			break
		}
		if len(msg) == 0 || len(r) >= len(rest) {
			return "SplitMessage did not advance"
		}
		rest = r
	}
	if !reader {
		return ""
	}
	mr := NewMessageReader(bytes.NewReader(data))
	for i := 0; ; i++ {
		msg, err := mr.Next()
		if err != nil {
			break
		}
		if len(msg) < ipfixHeaderLen || i > len(data) {
			return "MessageReader returned a short message or did not advance"
		}
	}
	return ""
}
