package receiver

import (
	"net/netip"
	"sync"
)

// exporterTable holds the counters of each allowed source, at most max of
// them; the rest share other. The sweeper reclaims idle entries.
type exporterTable struct {
	mu    sync.Mutex
	m     map[netip.AddrPort]*counters
	other counters
	limit int
}

func newExporterTable(limit int) *exporterTable {
	return &exporterTable{m: make(map[netip.AddrPort]*counters), limit: limit}
}

// get returns the counters of ap, and whether they were made now. The
// slot's last-seen time is set to now (unix ns) when it is new. With pin,
// the slot is marked used by one more open connection, under the lock, so
// that the sweeper cannot take it in between (unpin with open.Add(-1)).
func (t *exporterTable) get(ap netip.AddrPort, now int64, pin bool) (*counters, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, isNew := t.m[ap], false
	switch {
	case c != nil:
	case len(t.m) >= t.limit:
		c = &t.other
	default:
		c, isNew = new(counters), true
		c.last.Store(now)
		t.m[ap] = c
	}
	if pin {
		c.open.Add(1)
	}
	return c, isNew
}

// reclaim drops the entries last seen before the time given (unix ns)
// that no open connection uses, and returns how many it dropped.
func (t *exporterTable) reclaim(before int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for ap, c := range t.m {
		if c.open.Load() == 0 && c.last.Load() < before {
			c.gone.Store(true)
			delete(t.m, ap)
			n++
		}
	}
	return n
}

func (t *exporterTable) snapshot() map[netip.AddrPort]Counters {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := make(map[netip.AddrPort]Counters, len(t.m)+1)
	for ap, c := range t.m {
		s[ap] = c.snapshot()
	}
	if o := t.other.snapshot(); o.Datagrams > 0 {
		s[netip.AddrPort{}] = o
	}
	return s
}
