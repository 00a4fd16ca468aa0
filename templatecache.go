package netflow

// A Buffer remembers the template its last data set was decoded with, when
// the decoder's store is a MemoryStore without TTL: the next message of a
// busy exporter then takes neither the store's lock nor a hash of the key.
// The store's generation (MemoryStore.gen) changes with every change of
// its templates, which sends the Buffer back to the store. With a TTL the
// store looks each template's age up at every use, so nothing is kept.

// templateCache is the Buffer's last template found in the store, and its
// exporter's entry, whose use a hit marks (MemoryStore.used).
type templateCache struct {
	store *MemoryStore
	gen   uint64 // store.gen before the look-up
	key   TemplateKey
	t     *Template
	x     *storeExporter
}

// cacheableStore returns store as a MemoryStore whose look-ups may be
// kept, or nil.
func cacheableStore(store TemplateStore) *MemoryStore {
	if ms, ok := store.(*MemoryStore); ok && ms.cfg.TTL <= 0 {
		return ms
	}
	return nil
}

// storeTemplate looks key up in the decoder's store, or takes it from the
// Buffer's cache while the store has not changed.
func (w *setWalker) storeTemplate(key TemplateKey) (*Template, error) {
	ms := w.d.cacheable
	if ms == nil {
		return w.d.store.Template(key)
	}
	c := &w.s.template
	gen := ms.gen.Load()
	if c.store == ms && c.gen == gen && c.key == key {
		if c.x.flags.Load() != admitSteady {
			ms.used(c.x)
		}
		return c.t, nil
	}
	t, x, err := ms.lookup(key)
	if err == nil {
		*c = templateCache{store: ms, gen: gen, key: key, t: t, x: x}
	}
	return t, err
}
