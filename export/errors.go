package export

import (
	"fmt"

	"github.com/flowkit/netflow"
)

// ErrRange means a value does not fit the field or version that should
// carry it: a counter wider than its element, an IPv6 address in a v5
// record, a time outside what the time element (or the uptime clock of a
// message) can express. It wraps netflow.ErrMalformed: what the encoder
// refuses is what a decoder would read wrong.
var ErrRange = fmt.Errorf("%w: value out of range", netflow.ErrMalformed)

// The encoder's errors wrap one of ErrRange, netflow.ErrMalformed (a
// template that breaks the protocol's rules), netflow.ErrLimit (a message
// size or count limit: a record larger than the MTU, a template with more
// fields than a message holds, more templates than Config.MaxTemplates) and
// netflow.ErrUnsupportedVersion (a version this package does not write).

// rangeErr returns an ErrRange error about what.
func rangeErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRange}, args...)...)
}

// limitErr returns a netflow.ErrLimit error.
func limitErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{netflow.ErrLimit}, args...)...)
}

// malformedErr returns a netflow.ErrMalformed error.
func malformedErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{netflow.ErrMalformed}, args...)...)
}

// versionErr returns a netflow.ErrUnsupportedVersion error.
func versionErr(version uint16, what string) error {
	return fmt.Errorf("%w: %s of version %d", netflow.ErrUnsupportedVersion, what, version)
}
