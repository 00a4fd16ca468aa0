package netflow

// Config configures a Decoder. The zero value is valid: a fresh bounded
// in-memory template store and default limits.
type Config struct {
	// Store holds v9 and IPFIX templates. Nil means a new MemoryStore with
	// default limits.
	Store TemplateStore
}

// Decoder decodes export datagrams. It is safe for concurrent use by
// several goroutines, provided each uses its own Buffer.
type Decoder struct {
	store TemplateStore
}

// NewDecoder returns a Decoder configured by cfg.
func NewDecoder(cfg Config) *Decoder {
	return &Decoder{store: cfg.Store}
}

// TemplateStore holds v9 and IPFIX templates.
type TemplateStore interface{}
