package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowkit/netflow"
	"github.com/redis/go-redis/v9"
)

// Consistency is what a Store's look-ups serve while it cannot confirm that
// its cache holds what Redis holds: from the moment it loses Redis (its
// subscription fails: Redis down, restarted, unreachable) until it has
// resubscribed, re-read the prefix, and waited ConfirmDelay, in which the
// other instances, which reconnect within a second of Redis' return, write
// back what they learned while it was away. Stats.Confirmed tells which
// state the cache is in. See docs/several-instances-consistency.md.
//
// Under either policy a data set that the cached template cannot account
// for (netflow.Template.Fits: a redefinition with another record length)
// is never decoded with it: the decoder holds it (netflow.TemplateChecker)
// until a definition it fits comes, and reads the template afresh from
// Redis about once a second (CheckTemplate). What the policy decides is
// the rest: the data sets that fit the cached layout.
type Consistency uint8

const (
	// DecodeFromCache (the default) serves the cache as it is: decoding
	// goes on from it while Redis is down, and the re-read after Redis is
	// back announces what changed. A redefinition with the same record
	// length that another instance learned while Redis was away is not
	// seen until that instance writes it back (within about a second of
	// Redis' return): data sets of it reaching this instance meanwhile
	// are decoded with the cached layout.
	DecodeFromCache Consistency = iota
	// HoldUntilConfirmed refuses, while the cache is not confirmed, the
	// look-ups of templates that this instance has not itself learned from
	// an exporter since it lost Redis, with an error matching
	// netflow.ErrTemplateNotFound (counted in Stats.Unconfirmed): the
	// decoder holds their data sets as it holds those of unknown
	// templates, within netflow.PendingLimits (beyond them sets are
	// refused and counted, so size the limits for the outages to ride
	// out). Once the cache is confirmed the store announces every
	// template, and the decoder releases what it held, each set with the
	// definition Redis holds then (a set that does not fit it stays held).
	// The same-length redefinition is then applied to data that came
	// after it, and also to data held from before it: no look-up can tell
	// them apart.
	HoldUntilConfirmed
)

// String returns "cache" or "hold", the names ParseConsistency reads.
func (c Consistency) String() string {
	switch c {
	case DecodeFromCache:
		return "cache"
	case HoldUntilConfirmed:
		return "hold"
	}
	return fmt.Sprintf("Consistency(%d)", uint8(c))
}

// ParseConsistency reads "cache" (DecodeFromCache) or "hold"
// (HoldUntilConfirmed), as a collector's flag gives them.
func ParseConsistency(s string) (Consistency, error) {
	switch s {
	case "cache":
		return DecodeFromCache, nil
	case "hold":
		return HoldUntilConfirmed, nil
	}
	return 0, fmt.Errorf("redisstore: consistency %q is neither cache nor hold", s)
}

// ConfirmDelay is how long after re-reading Redis (after losing it) the
// cache stays unconfirmed: longer than the reconnect backoff (at most 1 s),
// so that every instance that learned templates while Redis was away has
// reconnected and written them back.
const ConfirmDelay = 2 * time.Second

// checkTimeout bounds CheckTemplate's read (or Config.Timeout, if shorter).
const checkTimeout = 500 * time.Millisecond

var (
	errUnconfirmed = fmt.Errorf("%w: redisstore: cached template not confirmed since Redis was lost (HoldUntilConfirmed)", netflow.ErrTemplateNotFound)
	errNotSettled  = fmt.Errorf("%w: redisstore: cache not confirmed since Redis was lost: cannot check a template now", netflow.ErrStore)
)

// lostRedis starts an unconfirmed period: the subscription failed. Only
// the run goroutine calls it.
func (s *Store) lostRedis() {
	s.stopSettle()
	s.confirmed.Store(false)
	s.outages.Add(1)
}

// reread is called by the run goroutine after every successful re-read of
// the prefix: the first one confirms the cache at once, one after a loss
// of Redis once ConfirmDelay has passed without another loss, and then,
// with HoldUntilConfirmed, announces every template.
func (s *Store) reread() {
	if s.confirmed.Load() {
		return
	}
	gen := s.outages.Load()
	if gen == 0 {
		s.confirmed.Store(true)
		return
	}
	s.settleMu.Lock()
	defer s.settleMu.Unlock()
	if s.settle != nil {
		s.settle.Stop()
	}
	s.settle = time.AfterFunc(ConfirmDelay, func() { s.confirm(gen) })
}

// confirm confirms the cache if Redis was not lost again since the
// re-read of outage gen.
func (s *Store) confirm(gen uint64) {
	if s.outages.Load() != gen || !s.online.Load() || !s.confirmed.CompareAndSwap(false, true) {
		return
	}
	if !s.hold {
		return
	}
	s.mu.RLock()
	keys := make([]netflow.TemplateKey, 0, len(s.templates))
	for k := range s.templates {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	s.subs.announce(keys...)
}

func (s *Store) stopSettle() {
	s.settleMu.Lock()
	defer s.settleMu.Unlock()
	if s.settle != nil {
		s.settle.Stop()
		s.settle = nil
	}
}

// Confirmed implements netflow.TemplateChecker: the cache is confirmed
// (Stats.Confirmed) and the store subscribed.
func (s *Store) Confirmed() bool { return s.confirmed.Load() && s.online.Load() }

// CheckTemplate implements netflow.TemplateChecker: it reads key's
// template from Redis (bounded by 500 ms or Config.Timeout) without
// changing the cache, which notifications keep current. since is when the
// cache first held that layout (now, if it holds another or none). A
// template this instance stored while Redis was away, and has not written
// back yet, is its own answer. It fails at once with an error matching
// netflow.ErrStore while the cache is not confirmed (Stats.Confirmed), and
// with one matching netflow.ErrTemplateNotFound if Redis holds no template
// of key.
func (s *Store) CheckTemplate(key netflow.TemplateKey) (*netflow.Template, time.Time, error) {
	if !s.Confirmed() {
		s.checkFailures.Add(1)
		return nil, time.Time{}, errNotSettled
	}
	s.checks.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), min(s.cfg.Timeout, checkTimeout))
	defer cancel()
	v, err := s.rdb.GetRange(ctx, s.templateKey(key), 0, maxTemplateValue).Bytes()
	s.mu.RLock()
	e, cached := s.templates[key]
	_, unwritten := s.dirtyT[key]
	s.mu.RUnlock()
	switch {
	case unwritten && cached:
		return e.t, time.Unix(0, e.since), nil
	case errors.Is(err, redis.Nil) || (err == nil && len(v) == 0):
		return nil, time.Time{}, netflow.ErrTemplateNotFound
	case err != nil:
		s.checkFailures.Add(1)
		return nil, time.Time{}, s.fail("check template", err)
	}
	t, err := decodeTemplate(key, v)
	if err != nil {
		s.bad.Add(1)
		s.checkFailures.Add(1)
		return nil, time.Time{}, err
	}
	if cached && sameLayout(e.t, t) {
		return e.t, time.Unix(0, e.since), nil
	}
	return t, time.Now(), nil
}
