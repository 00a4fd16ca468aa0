package netflow

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// Config configures a Decoder. The zero value is valid: a new bounded
// in-memory template store, pending data on, and the default limits.
type Config struct {
	// Store holds v9 and IPFIX templates. Nil means NewMemoryStore(MemoryStoreConfig{}).
	Store TemplateStore
	// Registry names and types information elements, with any enterprise
	// elements of the caller's. Nil means the built-in registry.
	Registry *Registry
	// IgnoreExporterPort keys templates, pending data and exporter state by
	// the exporter's address alone, for exporters that change source port.
	IgnoreExporterPort bool
	// DisablePending turns off the pending buffer: a data set whose
	// template is unknown is then dropped with ErrTemplateNotFound.
	DisablePending bool
	// Pending bounds the pending buffer.
	Pending PendingLimits
	// Limits bounds what one datagram may make the decoder hold.
	Limits Limits
	// Now returns the current time, for expiring pending data. Nil means
	// time.Now.
	Now func() time.Time
}

// Limits bounds the resources a sender can make the decoder use. A zero
// field takes its default.
type Limits struct {
	// MaxTemplateFields is the most fields a template may have (default
	// 512). A template with more is refused with ErrLimit and counted in
	// DecoderStats.TemplatesRefused; the other templates of its set are
	// still learned.
	MaxTemplateFields int
	// MaxOptionsEntries is the most options-data entries (sampler,
	// interface, VRF and application names) kept per exporter domain
	// (default 4096). Entries beyond it are refused and counted.
	MaxOptionsEntries int
	// MaxStateDomains is the most exporter domains whose options state is
	// kept (default 16384). Options data of further domains is not kept
	// (counted in DecoderStats.StateDomainsRefused); flows still decode,
	// without the sampling interval such data would have given them.
	MaxStateDomains int
	// MaxListDepth is the deepest nesting of RFC 6313 lists decoded
	// (default 4, at most 255).
	MaxListDepth int
}

func (l *Limits) setDefaults() {
	if l.MaxTemplateFields <= 0 {
		l.MaxTemplateFields = 512
	}
	if l.MaxOptionsEntries <= 0 {
		l.MaxOptionsEntries = 4096
	}
	if l.MaxStateDomains <= 0 {
		l.MaxStateDomains = 16384
	}
	if l.MaxListDepth <= 0 {
		l.MaxListDepth = 4
	}
	if l.MaxListDepth > 255 {
		l.MaxListDepth = 255 // a Record counts its depth in a uint8
	}
}

// Decoder decodes export datagrams. It is safe for concurrent use by several
// goroutines, provided each uses its own Buffer. It holds, besides the
// template store, the pending buffer and the exporters' options state.
type Decoder struct {
	store      TemplateStore
	registry   *Registry
	ignorePort bool
	limits     Limits
	pending    *pendingBuffer
	state      *stateTable

	refusedTemplates atomic.Uint64
	learnGen         atomic.Uint64 // templates learned, for the pending race (setWalker.finish)
}

// DecoderStats counts what a Decoder refused at its own limits. The template
// store and the pending buffer count theirs (MemoryStore.Stats,
// Decoder.PendingStats).
type DecoderStats struct {
	// TemplatesRefused counts templates with more fields than
	// Limits.MaxTemplateFields.
	TemplatesRefused uint64
	// StateDomainsRefused counts options data sets not kept because
	// Limits.MaxStateDomains exporter domains already have state.
	StateDomainsRefused uint64
}

// Stats returns the decoder's counters.
func (d *Decoder) Stats() DecoderStats {
	return DecoderStats{
		TemplatesRefused:    d.refusedTemplates.Load(),
		StateDomainsRefused: d.state.refused.Load(),
	}
}

// NewDecoder returns a Decoder configured by cfg.
func NewDecoder(cfg Config) *Decoder {
	d := &Decoder{
		store:      cfg.Store,
		registry:   cfg.Registry,
		ignorePort: cfg.IgnoreExporterPort,
		limits:     cfg.Limits,
	}
	d.limits.setDefaults()
	if d.store == nil {
		d.store = NewMemoryStore(MemoryStoreConfig{})
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	if !cfg.DisablePending {
		d.pending = newPendingBuffer(cfg.Pending, now)
	}
	d.state = newStateTable(d.limits)
	return d
}

// Store returns the decoder's template store.
func (d *Decoder) Store() TemplateStore { return d.store }

// exporterKey is the exporter as templates, pending data and state are
// keyed.
func (d *Decoder) exporterKey(e netip.AddrPort) netip.AddrPort {
	if d.ignorePort {
		return netip.AddrPortFrom(e.Addr(), 0)
	}
	return e
}

// Forget drops everything the decoder and its store hold for one exporter:
// its templates (through ExporterForgetter, if the store implements it),
// its pending data sets and its options state. A receiver calls it when an
// IPFIX-over-TCP session ends: RFC 7011 section 8 scopes templates to the
// session.
func (d *Decoder) Forget(exporter netip.AddrPort) error {
	key := d.exporterKey(exporter)
	if d.pending != nil {
		d.pending.forget(key)
	}
	d.state.forget(key)
	if f, ok := d.store.(ExporterForgetter); ok {
		if err := f.ForgetExporter(key); err != nil {
			return storeErr(err)
		}
	}
	return nil
}
