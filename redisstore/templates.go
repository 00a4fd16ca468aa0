package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/flowkit/netflow"
	"github.com/redis/go-redis/v9"
)

// Change notifications on the channel "<prefix>:changes": one byte of
// operation, the writing instance's 16-hex-digit ID, a space, the key
// suffix, a newline, and the value if any.
const (
	opTemplate = 'T' // a template stored or refreshed: its encoded value follows
	opWithdraw = 'D' // a template withdrawn
	opState    = 'S' // a domain's options state set: its JSON follows
	opForget   = 'F' // every template and state of an exporter removed
)

func (s *Store) message(op byte, suffix string, value []byte) string {
	b := make([]byte, 0, 3+len(s.id)+len(suffix)+len(value))
	b = append(b, op)
	b = append(b, s.id...)
	b = append(b, ' ')
	b = append(b, suffix...)
	b = append(b, '\n')
	b = append(b, value...)
	return string(b)
}

// Template implements netflow.TemplateStore from the local cache: it never
// waits for Redis, and it serves what is cached while Redis is down, unless
// Config.Consistency is HoldUntilConfirmed (see Consistency).
func (s *Store) Template(key netflow.TemplateKey) (*netflow.Template, error) {
	s.mu.RLock()
	e, ok := s.templates[key]
	s.mu.RUnlock()
	if !ok || (e.expires != 0 && time.Now().UnixNano() > e.expires) {
		return nil, netflow.ErrTemplateNotFound
	}
	if s.hold && !s.confirmed.Load() && e.gen != s.outages.Load() {
		s.unconfirmed.Add(1)
		return nil, errUnconfirmed
	}
	return e.t, nil
}

// AddTemplate implements netflow.TemplateStore: it caches t, tells this
// instance's subscribers if it is new or a new layout, and writes it to
// Redis with the TTL (refreshing the TTL if it was there) and notifies the
// other instances, in one transaction. If Redis fails, t stays cached here
// and is written when Redis is back; the error matches netflow.ErrStore. A
// nil t withdraws the template.
func (s *Store) AddTemplate(key netflow.TemplateKey, t *netflow.Template) error {
	if t == nil {
		return s.WithdrawTemplate(key)
	}
	if t.Version != key.Version || t.ID != key.ID {
		// Stored so, the other instances would refuse it on reading.
		return fmt.Errorf("%w: redisstore: template %d of version %d stored under %v", netflow.ErrMalformed, t.ID, t.Version, key)
	}
	if len(t.Fields) > MaxTemplateFields {
		s.counts.rejected.Add(1)
		return fmt.Errorf("%w: redisstore: template %v of %d fields (at most %d)", netflow.ErrLimit, key, len(t.Fields), MaxTemplateFields)
	}
	ev, err := s.cacheTemplate(key, t)
	if err != nil {
		s.counts.rejected.Add(1)
		return err
	}
	s.counts.add(ev)
	if ev != refreshed {
		s.subs.announce(key)
	}
	if err := s.writeTemplate(key, t); err != nil {
		s.noEcho(echoTemplate + templateSuffix(key))
		s.markDirtyTemplate(key)
		return err
	}
	return nil
}

// cacheTemplate stores t in the cache, as a local change whose
// notification will come back, and reports whether it is new, the same
// layout or a new one.
func (s *Store) cacheTemplate(key netflow.TemplateKey, t *netflow.Template) (ev cacheEvent, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ev, err = s.cacheTemplateLocked(key, t, true)
	if err == nil {
		s.echoes[echoTemplate+templateSuffix(key)]++
	}
	return ev, err
}

// cacheTemplateLocked stores t in the cache and reports whether it is new,
// the same layout or a new one. local: this instance learned it (from an
// exporter), which confirms it (Consistency); otherwise a notification
// brought it. s.mu is held.
func (s *Store) cacheTemplateLocked(key netflow.TemplateKey, t *netflow.Template, local bool) (ev cacheEvent, err error) {
	now := time.Now().UnixNano()
	var expires int64
	if s.cfg.TTL > 0 {
		expires = now + int64(s.cfg.TTL)
	}
	old, ok := s.templates[key]
	if ok && old.expires != 0 && now > old.expires {
		ok = false
	}
	if _, there := s.templates[key]; !there && len(s.templates) >= s.cfg.MaxTemplates {
		s.sweepLocked(now)
		if len(s.templates) >= s.cfg.MaxTemplates {
			return learned, fmt.Errorf("%w: redisstore: %d templates cached", netflow.ErrLimit, len(s.templates))
		}
	}
	changed := !ok || !sameLayout(old.t, t)
	e := entry{t: t, expires: expires, since: now}
	if !changed {
		e.since, e.gen = old.since, old.gen
	}
	if local {
		e.gen = s.outages.Load()
	}
	s.templates[key] = e
	switch {
	case !ok:
		return learned, nil
	case !changed:
		return refreshed, nil
	}
	return replaced, nil
}

// sweepLocked drops expired templates. s.mu is held.
func (s *Store) sweepLocked(now int64) {
	for k, e := range s.templates {
		if e.expires != 0 && now > e.expires {
			delete(s.templates, k)
		}
	}
}

func (s *Store) writeTemplate(key netflow.TemplateKey, t *netflow.Template) error {
	ctx, cancel := s.opContext()
	defer cancel()
	val := encodeTemplate(t)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, s.templateKey(key), val, s.cfg.TTL)
		p.Publish(ctx, s.channel, s.message(opTemplate, templateSuffix(key), val))
		return nil
	})
	if err != nil {
		return s.fail("add template", err)
	}
	return nil
}

// Echo keys: what a notification changed, to match a local change with
// its notification coming back (Store.echoes).
const (
	echoTemplate = "t"
	echoState    = "s"
	echoForget   = "f"
)

// noEcho forgets an expected notification whose write failed.
func (s *Store) noEcho(k string) {
	s.mu.Lock()
	if s.echoes[k]--; s.echoes[k] <= 0 {
		delete(s.echoes, k)
	}
	s.mu.Unlock()
}

func (s *Store) markDirtyTemplate(keys ...netflow.TemplateKey) {
	s.mu.Lock()
	for _, k := range keys {
		s.dirtyT[k] = struct{}{}
	}
	s.mu.Unlock()
}

// WithdrawTemplate implements netflow.TemplateStore.
func (s *Store) WithdrawTemplate(key netflow.TemplateKey) error {
	s.mu.Lock()
	if _, ok := s.templates[key]; ok {
		s.counts.withdrawn.Add(1)
	}
	delete(s.templates, key)
	s.echoes[echoTemplate+templateSuffix(key)]++
	s.mu.Unlock()
	if err := s.deleteTemplates([]netflow.TemplateKey{key}); err != nil {
		s.noEcho(echoTemplate + templateSuffix(key))
		s.markDirtyTemplate(key)
		return err
	}
	return nil
}

func (s *Store) deleteTemplates(keys []netflow.TemplateKey) error {
	if len(keys) == 0 {
		return nil
	}
	ctx, cancel := s.opContext()
	defer cancel()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.Del(ctx, s.templateKey(k))
			p.Publish(ctx, s.channel, s.message(opWithdraw, templateSuffix(k), nil))
		}
		return nil
	})
	if err != nil {
		return s.fail("withdraw template", err)
	}
	return nil
}

// WithdrawAll implements netflow.TemplateStore: it removes the data (or
// options) templates of key's domain that are cached here and those stored
// in Redis (found by SCAN over the domain's keys).
func (s *Store) WithdrawAll(key netflow.TemplateKey, options bool) error {
	dk := domainOf(key)
	var gone []netflow.TemplateKey
	s.mu.Lock()
	for k, e := range s.templates {
		if domainOf(k) == dk && e.t.Options == options {
			delete(s.templates, k)
			gone = append(gone, k)
		}
	}
	s.counts.withdrawn.Add(uint64(len(gone)))
	s.mu.Unlock()
	fail := func(err error) error {
		s.markDirtyTemplate(gone...)
		return err
	}
	// Notifications of the removals come back: expect them.
	s.mu.Lock()
	for _, k := range gone {
		s.echoes[echoTemplate+templateSuffix(k)]++
	}
	s.mu.Unlock()
	ctx, cancel := s.opContext()
	defer cancel()
	keys, err := s.scan(ctx, s.prefix+"t:"+globEscape(domainSuffix(dk))+"|*")
	if err != nil {
		return fail(err)
	}
	vals, _, err := s.valueHeads(ctx, keys, 1) // format and flags
	if err != nil {
		return fail(err)
	}
	seen := make(map[netflow.TemplateKey]bool, len(gone))
	for _, k := range gone {
		seen[k] = true
	}
	cached := len(gone)
	for i, v := range vals {
		k, err := parseSuffix(keys[i][len(s.prefix)+2:], true)
		if err != nil || seen[k] || len(v) < 2 || (v[1]&1 == 1) != options {
			continue
		}
		gone = append(gone, k)
		seen[k] = true
	}
	s.mu.Lock()
	for _, k := range gone[cached:] {
		s.echoes[echoTemplate+templateSuffix(k)]++
	}
	s.mu.Unlock()
	if err := s.deleteTemplates(gone); err != nil {
		for _, k := range gone {
			s.noEcho(echoTemplate + templateSuffix(k))
		}
		return fail(err)
	}
	return nil
}

// ForgetExporter implements netflow.ExporterForgetter: it removes every
// template and options state of exporter, here, in Redis and (through the
// notification) in every other instance.
func (s *Store) ForgetExporter(exporter netip.AddrPort) error {
	s.forgetLocal(exporter)
	s.mu.Lock()
	s.echoes[echoForget+exporter.String()]++
	s.mu.Unlock()
	if err := s.forgetRemote(exporter); err != nil {
		s.noEcho(echoForget + exporter.String())
		s.mu.Lock()
		s.dirtyF[exporter] = struct{}{}
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *Store) forgetLocal(exporter netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetLocked(exporter, false)
}

// forgetLocked drops exporter from the cache, but with keepPending the
// keys whose local changes have not come back yet. s.mu is held.
func (s *Store) forgetLocked(exporter netip.AddrPort, keepPending bool) {
	for k := range s.templates {
		if k.Exporter == exporter && !(keepPending && s.echoes[echoTemplate+templateSuffix(k)] > 0) {
			delete(s.templates, k)
			delete(s.dirtyT, k)
		}
	}
	for k := range s.states {
		if k.Exporter == exporter && !(keepPending && s.echoes[echoState+domainSuffix(k)] > 0) {
			delete(s.states, k)
			delete(s.dirtyS, k)
		}
	}
}

func (s *Store) forgetRemote(exporter netip.AddrPort) error {
	ctx, cancel := s.opContext()
	defer cancel()
	pat := globEscape(exporter.String()) + "|*"
	var keys []string
	for _, kind := range []string{"t:", "s:"} {
		k, err := s.scan(ctx, s.prefix+kind+pat)
		if err != nil {
			return err
		}
		keys = append(keys, k...)
	}
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < len(keys); i += 512 {
			p.Del(ctx, keys[i:min(i+512, len(keys))]...)
		}
		p.Publish(ctx, s.channel, s.message(opForget, exporter.String(), nil))
		return nil
	})
	if err != nil {
		return s.fail("forget exporter", err)
	}
	return nil
}

// scan returns the keys matching pattern.
func (s *Store) scan(ctx context.Context, pattern string) ([]string, error) {
	var keys []string
	var cursor uint64
	for {
		batch, next, err := s.rdb.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return nil, s.fail("scan", err)
		}
		keys = append(keys, batch...)
		if cursor = next; cursor == 0 {
			return keys, nil
		}
	}
}

// valueHeads returns, for each of keys, at most the first n+1 bytes of its
// value (GETRANGE, so that a huge value planted under the prefix is never
// read whole), or an error for that key: nil value and nil error for a key
// gone since.
func (s *Store) valueHeads(ctx context.Context, keys []string, n int) ([][]byte, []error, error) {
	vals := make([][]byte, 0, len(keys))
	errs := make([]error, 0, len(keys))
	for i := 0; i < len(keys); i += 256 {
		batch := keys[i:min(i+256, len(keys))]
		cmds := make([]*redis.StringCmd, 0, len(batch))
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range batch {
				cmds = append(cmds, p.GetRange(ctx, k, 0, int64(n)))
			}
			return nil
		})
		var reply redis.Error // a command's error reply: that key's problem
		if err != nil && !errors.Is(err, redis.Nil) && !errors.As(err, &reply) {
			return nil, nil, s.fail("read", err)
		}
		for j, c := range cmds {
			v, err := c.Bytes()
			switch {
			case errors.Is(err, redis.Nil) || (err == nil && len(v) == 0):
				vals, errs = append(vals, nil), append(errs, nil)
			case err != nil:
				vals, errs = append(vals, nil), append(errs, malformed("%s: %v", batch[j], err))
			default:
				vals, errs = append(vals, v), append(errs, nil)
			}
		}
	}
	return vals, errs, nil
}
