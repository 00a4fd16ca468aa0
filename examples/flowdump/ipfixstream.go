package main

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/flowkit/netflow"
)

// ipfixStream frames the IPFIX messages of one direction of a TCP
// connection, as RFC 7011 section 10.4 sends them: back to back, each framed
// by the length field of its header. It is fed the reassembled bytes in
// order, with the gaps the capture has, and hands each whole message to its
// sink.
//
// A stream whose start was seen is framed strictly: anything but a valid
// header where a message should begin ends the stream with an error
// matching netflow.ErrMalformed, and a stream that ends inside a message
// with one matching netflow.ErrTruncated. A stream whose start the capture
// missed, or that lost bytes in a gap, is resynchronised: bytes are skipped
// up to the next place that holds a plausible message (see candidateAt) and
// counted.
//
// Memory is bounded by the largest message (65535 bytes) plus one chunk:
// nothing is allocated from a length read in the stream.
type ipfixStream struct {
	sink streamSink
	// ipfixKnown: the stream is IPFIX (sent to the IPFIX port, or a message
	// was framed). Until then a resynchronising stream gives up after
	// maxScan bytes, and a synced one decides on its first two bytes.
	ipfixKnown bool
	state      streamState

	buf []byte // bytes not framed yet, from buf[pos:]
	pos int
	off int64 // stream offset of buf[pos], counting missing bytes

	messages int
	skipped  int64 // captured bytes passed over while resynchronising
	missing  int64 // bytes the capture lacks (gaps in the sequence space)
	scanned  int64 // bytes skipped before the first message (stream not known to be IPFIX)
	// resyncFrom is the offset where the current resynchronisation began,
	// and resyncSkipped what it has skipped so far.
	resyncFrom    int64
	resyncSkipped int64
	resyncMissing int64
	err           error
}

// streamSink receives what an ipfixStream finds.
type streamSink interface {
	// message is one whole IPFIX message at stream offset off; msg is valid
	// during the call only.
	message(off int64, msg []byte)
	// resynced says that framing resumed at offset at, after skipping
	// skipped captured bytes (and missing bytes the capture lacks).
	resynced(at, skipped, missing int64)
}

type streamState uint8

const (
	stateStart  streamState = iota // at the start of the stream (SYN seen), nothing framed yet
	stateSynced                    // at a message boundary
	stateResync                    // looking for the next message header
	stateDone                      // ended: error, not IPFIX, or closed
)

const (
	// maxScan is how far a stream not known to be IPFIX is searched for a
	// first message header before it is taken for something else.
	maxScan = 256 << 10
	// maxSetsChecked bounds the set walk of one candidate header, so that
	// resynchronising over hostile bytes stays linear.
	maxSetsChecked = 2048
	ipfixHeaderLen = 16
	// maxExportTimeStep is how far apart, in seconds, the export times of
	// two consecutive messages of a stream may be for resynchronisation to
	// trust them.
	maxExportTimeStep = 86400
	ipfixVersion      = 10
)

// errNotIPFIX marks a stream that turned out not to carry IPFIX; it is not
// reported as a problem.
var errNotIPFIX = errors.New("netflow: not an IPFIX stream")

// newIPFIXStream returns a stream framer. synced says the stream's start
// was seen (a SYN); byPort that it goes to the IPFIX port, so it is IPFIX
// whatever its first bytes are.
func newIPFIXStream(sink streamSink, synced, byPort bool) *ipfixStream {
	s := &ipfixStream{sink: sink, ipfixKnown: byPort, state: stateStart}
	if !synced {
		s.state = stateResync
	}
	return s
}

// gap says that n bytes are missing from the capture before the next write
// (n < 0: an unknown number). A message cut by the gap is lost, and framing
// resumes at the next valid header.
func (s *ipfixStream) gap(n int) {
	if s.state == stateDone || n == 0 {
		return
	}
	if n > 0 {
		s.missing += int64(n)
	}
	pending := int64(len(s.buf) - s.pos)
	if s.state != stateResync {
		s.state = stateResync
		s.resyncFrom, s.resyncSkipped, s.resyncMissing = s.off, 0, 0
	}
	s.skipped += pending
	s.resyncSkipped += pending
	if n > 0 {
		s.resyncMissing += int64(n)
	}
	s.off += pending + max(int64(n), 0)
	s.buf, s.pos = s.buf[:0], 0
}

// write adds the next bytes of the stream and frames what it can.
func (s *ipfixStream) write(data []byte) {
	if s.state == stateDone || len(data) == 0 {
		return
	}
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:])
		s.buf, s.pos = s.buf[:n], 0
	}
	s.buf = append(s.buf, data...)
	s.run(false)
}

// close ends the stream: bytes left over are a message cut short, or, when
// resynchronising, bytes that held no message. It returns the error that
// ended the stream, if any; errNotIPFIX for a stream that was not IPFIX.
func (s *ipfixStream) close() error {
	if s.state != stateDone {
		s.run(true)
	}
	if s.state == stateResync {
		rest := int64(len(s.buf) - s.pos)
		s.skipped += rest
		s.resyncSkipped += rest
		if !s.ipfixKnown {
			s.scanned += rest
			s.err = errNotIPFIX
		}
	}
	s.state = stateDone
	s.buf, s.pos = nil, 0
	return s.err
}

func (s *ipfixStream) fail(err error) {
	s.err = err
	s.state = stateDone
	s.buf, s.pos = nil, 0
}

func (s *ipfixStream) consume(n int) {
	s.pos += n
	s.off += int64(n)
}

// run frames messages until it needs more bytes. final: no more will come.
func (s *ipfixStream) run(final bool) {
	for {
		b := s.buf[s.pos:]
		switch s.state {
		case stateStart:
			if len(b) < 2 {
				if final && len(b) > 0 && s.ipfixKnown {
					s.fail(fmt.Errorf("stream of %d byte(s) ends inside the first message header: %w", len(b), netflow.ErrTruncated))
				} else if final && len(b) > 0 {
					s.fail(errNotIPFIX)
				}
				return
			}
			if !s.ipfixKnown && binary.BigEndian.Uint16(b) != ipfixVersion {
				s.fail(errNotIPFIX)
				return
			}
			s.ipfixKnown = true
			s.state = stateSynced
		case stateSynced:
			if len(b) == 0 {
				return
			}
			if len(b) >= 2 {
				if v := binary.BigEndian.Uint16(b); v != ipfixVersion {
					s.fail(fmt.Errorf("byte %d of the stream: version %d where an IPFIX message header should start: %w", s.off, v, netflow.ErrMalformed))
					return
				}
			}
			msg, _, err := netflow.SplitMessage(b)
			if err != nil {
				if errors.Is(err, netflow.ErrTruncated) {
					if !final {
						return
					}
					s.fail(fmt.Errorf("byte %d of the stream: the stream ends %d byte(s) into a message: %w", s.off, len(b), err))
					return
				}
				s.fail(fmt.Errorf("byte %d of the stream: %w", s.off, err))
				return
			}
			s.messages++
			s.sink.message(s.off, msg)
			s.consume(len(msg))
		case stateResync:
			if !s.resync(final) {
				return
			}
		default:
			return
		}
	}
}

// resync skips bytes up to the next valid message header. It reports
// whether framing can resume (the state is then stateSynced).
func (s *ipfixStream) resync(final bool) bool {
	b := s.buf[s.pos:]
	i := 0
	for ; i < len(b); i++ {
		switch candidateAt(b[i:], final) {
		case candidateValid:
			s.skip(i)
			s.state = stateSynced
			s.ipfixKnown = true
			s.sink.resynced(s.off, s.resyncSkipped, s.resyncMissing)
			s.resyncSkipped, s.resyncMissing = 0, 0
			return true
		case candidateMore:
			s.skip(i)
			return false
		}
		if !s.ipfixKnown && s.scanned+int64(i) >= maxScan {
			s.skip(i)
			s.fail(errNotIPFIX)
			return false
		}
	}
	s.skip(i)
	return false
}

// skip passes over n bytes while resynchronising.
func (s *ipfixStream) skip(n int) {
	s.skipped += int64(n)
	s.resyncSkipped += int64(n)
	if !s.ipfixKnown {
		s.scanned += int64(n)
	}
	s.consume(n)
}

type candidate uint8

const (
	candidateInvalid candidate = iota
	candidateMore              // could be a header; more bytes will tell
	candidateValid
)

// candidateAt says whether b starts with a plausible IPFIX message: version
// 10, a length of at least one set, set headers (template 2, options
// template 3 or data >= 256, each at least 4 bytes) that tile the message
// exactly, and after it another version-10 header with a valid length and
// an export time within a day of this one's, or the end of the stream.
// final: b is all that is left of the stream.
func candidateAt(b []byte, final bool) candidate {
	more := candidateMore
	if final {
		more = candidateInvalid
	}
	if len(b) < 2 {
		return more
	}
	if binary.BigEndian.Uint16(b) != ipfixVersion {
		return candidateInvalid
	}
	if len(b) < 4 {
		return more
	}
	n := int(binary.BigEndian.Uint16(b[2:]))
	if n < ipfixHeaderLen+4 {
		return candidateInvalid
	}
	if len(b) < n {
		// Check the sets that are there before waiting for the rest.
		if len(b) > ipfixHeaderLen && !setsTile(b[ipfixHeaderLen:], n-ipfixHeaderLen, true) {
			return candidateInvalid
		}
		return more
	}
	if !setsTile(b[ipfixHeaderLen:n], n-ipfixHeaderLen, false) {
		return candidateInvalid
	}
	next := b[n:]
	switch {
	case len(next) >= 8:
		if binary.BigEndian.Uint16(next) != ipfixVersion || binary.BigEndian.Uint16(next[2:]) < ipfixHeaderLen {
			return candidateInvalid
		}
		// One exporter's consecutive messages are exported close in time.
		t0, t1 := int64(binary.BigEndian.Uint32(b[4:])), int64(binary.BigEndian.Uint32(next[4:]))
		if t1-t0 > maxExportTimeStep || t0-t1 > maxExportTimeStep {
			return candidateInvalid
		}
		return candidateValid
	case len(next) >= 4 && (binary.BigEndian.Uint16(next) != ipfixVersion || binary.BigEndian.Uint16(next[2:]) < ipfixHeaderLen):
		return candidateInvalid
	case len(next) >= 2 && binary.BigEndian.Uint16(next) != ipfixVersion:
		return candidateInvalid
	case len(next) == 1 && next[0] != 0:
		return candidateInvalid
	case len(next) == 0 && final:
		return candidateValid
	}
	if final {
		// The stream ends inside the next header: this message is whole.
		return candidateValid
	}
	return candidateMore
}

// setsTile walks the set headers in body, which should total want bytes.
// partial: body is only the first part of the message.
func setsTile(body []byte, want int, partial bool) bool {
	off := 0
	for sets := 0; off < want; sets++ {
		if sets == maxSetsChecked {
			return false
		}
		if off+4 > len(body) {
			return partial
		}
		id, l := binary.BigEndian.Uint16(body[off:]), int(binary.BigEndian.Uint16(body[off+2:]))
		if (id != 2 && id != 3 && id < 256) || l < 4 || off+l > want {
			return false
		}
		off += l
	}
	return off == want
}
