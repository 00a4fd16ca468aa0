package netflow

import (
	"net/netip"
	"time"
)

// TemplateStore holds templates. Implementations must be safe for
// concurrent use. Every method may fail (a remote store may be down); the
// decoder reports such failures wrapped in ErrStore.
type TemplateStore interface {
	// Template returns the template stored under key, or an error matching
	// ErrTemplateNotFound.
	Template(key TemplateKey) (*Template, error)
	// AddTemplate stores t under key, replacing any template of that key.
	// A store that refuses it for a limit returns an error matching ErrLimit.
	AddTemplate(key TemplateKey, t *Template) error
	// WithdrawTemplate removes the template of key, if any.
	WithdrawTemplate(key TemplateKey) error
	// WithdrawAll removes every template of key's exporter, version and
	// domain whose Options equals options (key.ID is ignored).
	WithdrawAll(key TemplateKey, options bool) error
}

// StateStore is implemented by a TemplateStore that also keeps the
// exporters' options state (sampling intervals per sampler, interface, VRF
// and application names, system init time), so that every decoder sharing
// the store applies what any of them learned from options data, and a
// saved store carries it across restarts. A Decoder whose store implements
// StateStore writes what options data told it through to the store and reads
// the state of domains it has not seen options data for from it.
type StateStore interface {
	// ExporterState returns the options state of key's exporter domain
	// (key.ID is ignored); ok is false if the store holds none.
	ExporterState(key TemplateKey) (st ExporterState, ok bool, err error)
	// SetExporterState stores st as the options state of key's domain,
	// replacing what was there. The store keeps its own copy.
	SetExporterState(key TemplateKey, st ExporterState) error
}

// Announcer is implemented by a store shared by several decoders (in one
// process, or, for a remote store, in several) that can tell each of them
// when exporter state changed, so that data held for a template is released
// as soon as any instance learned the template, and options state learned
// elsewhere is applied at once.
type Announcer interface {
	// Subscribe registers f, to be called with the key of every template
	// added or replaced, and with the domain's key and ID 0 whenever a
	// domain's options state changed. f must return quickly and must not
	// call the store; it may be called from several goroutines at once.
	// cancel unregisters f; after it returns, f is not called again.
	Subscribe(f func(key TemplateKey)) (cancel func())
}

// ExporterForgetter is implemented by stores that can drop everything they
// hold for one exporter at once. The decoder calls it from Decoder.Forget,
// for example when an IPFIX-over-TCP session ends (RFC 7011 section 8: a
// session's templates live and die with it).
type ExporterForgetter interface {
	// ForgetExporter removes every template and all options state of
	// exporter (as keyed: with port 0 when the decoder ignores ports).
	ForgetExporter(exporter netip.AddrPort) error
}

// TemplateChecker is implemented by a store whose look-ups are served from
// this instance's copy of a store shared with other instances (redisstore),
// a copy that may lag behind: another instance may have learned a new
// definition of a template that has not reached this copy yet (while the
// shared store is unreachable, or for the moment its change notification
// takes). A Decoder whose store implements it never decodes a data set
// with a template from the store that the set does not fit (Template.Fits):
// it holds the set (counted in PendingStats.Misfits) until a definition it
// fits comes (announced by the store, learned from a template set, or read
// afresh by CheckTemplate, which Decoder.TakeReleased calls about once a
// second per held template), or until Config.AcceptMisfitsAfter lets the
// store's definition decode it, or until PendingLimits.MaxAge expires it.
// Templates defined in the same datagram as the set are the exporter's own
// word and are not checked. See docs/several-instances-consistency.md.
type TemplateChecker interface {
	// CheckTemplate reads key's template from the shared store itself,
	// not from this instance's copy (which it leaves as it is). since is
	// when this instance first saw that definition: the time its layout
	// entered the copy, kept while resends of the same layout refresh it,
	// or the time of this call if the copy holds another layout. It fails
	// with an error matching ErrTemplateNotFound if the shared store holds
	// no template of key, and, without waiting, with one matching ErrStore
	// if it cannot vouch for its answer now: the shared store is
	// unreachable, or came back too recently for the other instances to
	// have written back what they learned while it was away.
	CheckTemplate(key TemplateKey) (t *Template, since time.Time, err error)
	// Confirmed reports whether this instance's copy is confirmed now:
	// known to hold what the shared store holds, but for changes still on
	// their way to it. While it is not (the shared store is unreachable,
	// or came back too recently), a set that fits a template of the copy
	// only thanks to padding of non-zero bytes (which a set of a
	// redefinition with another record length may end with by
	// coincidence) is held too, until the copy is confirmed. It is called
	// as sets are decoded: it must be cheap, and must not call the
	// decoder.
	Confirmed() bool
}
