package netflow

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the decoder returns matches one of these with
// errors.Is, usually wrapped in a *DecodeError that says where it happened.
var (
	// ErrTruncated means the datagram ends before a header, record, set or
	// field that it announces.
	ErrTruncated = errors.New("netflow: truncated")
	// ErrUnsupportedVersion means the version field names no format this
	// package decodes.
	ErrUnsupportedVersion = errors.New("netflow: unsupported version")
	// ErrEmpty means a header announces zero records (v1-v7).
	ErrEmpty = errors.New("netflow: no records")
	// ErrMalformed means a length, count or ID breaks the protocol's rules.
	ErrMalformed = errors.New("netflow: malformed")
	// ErrTemplateNotFound means a data set names a template the store does
	// not hold. Unless pending data is disabled, the set is kept and decoded
	// when the template arrives.
	ErrTemplateNotFound = errors.New("netflow: template not found")
	// ErrLimit means a configured resource limit refused something new.
	ErrLimit = errors.New("netflow: limit reached")
	// ErrStore means the template store failed (a remote store being down).
	ErrStore = errors.New("netflow: template store failed")
)

// DecodeError says what was being read, in which version and at which byte
// offset of the datagram, when decoding failed. It unwraps to one of the
// sentinel errors.
type DecodeError struct {
	Version uint16 // export version (1, 5, 6, 7, 9, 10), 0 if unknown
	Offset  int    // byte offset in the datagram (0 for a set held from an earlier one)
	What    string // what was being read, e.g. "v5 record 3"
	Err     error  // the sentinel, or a wrapped store error
}

// Error implements error.
func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v: version %d, %s at offset %d", e.Err, e.Version, e.What, e.Offset)
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

func decodeErr(version uint16, offset int, what string, err error) error {
	return &DecodeError{Version: version, Offset: offset, What: what, Err: err}
}
