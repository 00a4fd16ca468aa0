package redisstore

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
)

// cacheEvent is what storing a template did to the cache.
type cacheEvent uint8

const (
	learned   cacheEvent = iota // a key not cached before
	refreshed                   // the same layout again
	replaced                    // the key with another layout
)

// templateCounts counts what this instance's AddTemplate, WithdrawTemplate
// and WithdrawAll calls did, as netflow.MemoryStore counts them.
type templateCounts struct {
	learned, refreshed, replaced, withdrawn, rejected atomic.Uint64
}

func (c *templateCounts) add(ev cacheEvent) {
	switch ev {
	case learned:
		c.learned.Add(1)
	case refreshed:
		c.refreshed.Add(1)
	case replaced:
		c.replaced.Add(1)
	}
}

// TemplateStats implements netflow.TemplateStatsReporter, so that
// netflow.Decoder.Stats reports the store's templates (Stats.Store, with
// Stats.StoreOK true) as it does a MemoryStore's. Templates and Exporters
// are what the local cache holds now (templates not expired; exporters with
// at least one of them). Learned, Refreshed, Replaced, Withdrawn and Rejected
// (refused with netflow.ErrLimit) count this instance's own calls; changes
// made by other instances reach the cache as notifications, counted in
// Stats().Messages. Expired and Evicted stay 0: templates expire in Redis
// by their TTL, and the cache evicts nothing. Store.Stats has the Redis
// side: connection, errors, notifications, re-reads.
func (s *Store) TemplateStats() netflow.StoreStats {
	now := time.Now().UnixNano()
	var st netflow.StoreStats
	s.mu.RLock()
	exporters := make(map[netip.AddrPort]struct{})
	for k, e := range s.templates {
		if e.expires != 0 && now > e.expires {
			continue
		}
		st.Templates++
		exporters[k.Exporter] = struct{}{}
	}
	s.mu.RUnlock()
	st.Exporters = len(exporters)
	st.Learned = s.counts.learned.Load()
	st.Refreshed = s.counts.refreshed.Load()
	st.Replaced = s.counts.replaced.Load()
	st.Withdrawn = s.counts.withdrawn.Load()
	st.Rejected = s.counts.rejected.Load()
	return st
}
