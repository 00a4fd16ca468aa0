package redisstore

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/flowkit/netflow"
	"github.com/redis/go-redis/v9"
)

// maxReportedErrors bounds the errors Resync joins (the rest are counted).
const maxReportedErrors = 8

// run keeps the cache coherent: it subscribes to the change channel,
// re-reads the prefix on every (re)subscription, and applies the
// notifications. It reconnects by itself, with backoff, until Close.
func (s *Store) run(ctx context.Context) {
	defer close(s.done)
	backoff := 10 * time.Millisecond
	pinged := false // a PING is out, unanswered
	for {
		msg, err := s.pubsub().ReceiveTimeout(ctx, quietTimeout)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && s.online.Load() {
				if !pinged {
					// Quiet channel: check the connection is alive.
					if err := s.pubsub().Ping(ctx); err == nil {
						pinged = true
						continue
					}
				}
				// No answer for a whole period: a connection dead
				// without a reset (a partition). Start afresh.
				s.renewPubSub(ctx)
			}
			pinged = false
			if s.online.Swap(false) {
				s.errs.Add(1)
				s.lostRedis()
			}
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff, pinged = 10*time.Millisecond, false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			s.online.Store(true)
			// A new connection: notifications of changes made before it
			// are lost, the re-read below replaces them.
			s.mu.Lock()
			clear(s.echoes)
			s.mu.Unlock()
			// Until the re-read succeeds, notifications wait in the
			// socket; they are applied after it, in order.
			for {
				err := s.resync(ctx)
				if err == nil || errors.Is(err, netflow.ErrMalformed) {
					break
				}
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, time.Second)
			}
			s.reread()
			select {
			case <-s.synced:
			default:
				close(s.synced)
			}
		case *redis.Message:
			s.apply(m.Payload)
		}
	}
}

// quietTimeout is how long the subscription may be silent before the store
// pings it; as long again without an answer, it reconnects.
const quietTimeout = 15 * time.Second

func (s *Store) pubsub() *redis.PubSub {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	return s.ps
}

// renewPubSub replaces the subscription by a new one on a new connection.
func (s *Store) renewPubSub(ctx context.Context) {
	s.psMu.Lock()
	defer s.psMu.Unlock()
	if ctx.Err() != nil {
		return
	}
	s.ps.Close()
	s.ps = s.rdb.Subscribe(ctx, s.channel)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// apply applies one change notification to the cache and announces what
// changed. A malformed one is counted and dropped.
func (s *Store) apply(payload string) {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if len(payload) < 2 || len(payload) > maxMessage {
		s.bad.Add(1)
		return
	}
	op := payload[0]
	head, value, ok := strings.Cut(payload[1:], "\n")
	if !ok || len(head) < idLen+1 || head[idLen] != ' ' {
		s.bad.Add(1)
		return
	}
	origin, suffix := head[:idLen], head[idLen+1:]
	var (
		ek   string
		key  netflow.TemplateKey
		tmpl *netflow.Template
		st   netflow.ExporterState
		exp  netip.AddrPort
		err  error
	)
	switch op {
	case opTemplate, opWithdraw:
		ek = echoTemplate + suffix
		key, err = parseSuffix(suffix, true)
		if err == nil && op == opTemplate {
			tmpl, err = decodeTemplate(key, []byte(value))
		}
	case opState:
		ek = echoState + suffix
		key, err = parseSuffix(suffix, false)
		if err == nil {
			st, err = decodeState(key, []byte(value))
		}
	case opForget:
		ek = echoForget + suffix
		exp, err = netip.ParseAddrPort(suffix)
	default:
		err = malformed("notification operation %q", op)
	}
	if err != nil {
		s.bad.Add(1)
		return
	}
	s.msgs.Add(1)
	announce := false
	s.mu.Lock()
	// A local change made here is already in the cache. Until its own
	// notification comes back, notifications of that key from others
	// were executed by Redis before it, and are stale; so are this
	// instance's own but the last (concurrent local writes may have
	// reached the cache and Redis in different orders): the last one is
	// what Redis holds, and is applied. Deciding and applying under one
	// lock keeps a local write from slipping in between.
	n := s.echoes[ek]
	own := origin == s.id
	if n > 0 && own {
		if n == 1 {
			delete(s.echoes, ek)
		} else {
			s.echoes[ek] = n - 1
		}
	}
	// Likewise, while this instance's ForgetExporter of the key's
	// exporter has not come back, changes of its keys were executed
	// before it, and it removes them.
	barrier := op != opForget && s.echoes[echoForget+key.Exporter.String()] > 0
	if n > 1 || (n == 1 && !own) || barrier {
		s.mu.Unlock()
		return
	}
	switch op {
	case opTemplate:
		ev, err := s.cacheTemplateLocked(key, tmpl, false)
		announce = err == nil && ev != refreshed
	case opWithdraw:
		delete(s.templates, key)
	case opState:
		if _, known := s.states[key]; known || len(s.states) < s.cfg.MaxStates {
			s.states[key] = st
			announce = true
		}
	case opForget:
		// Keys with local changes still to come back were changed after
		// the forgetting, in Redis' order: they stay.
		s.forgetLocked(exp, true)
	}
	s.mu.Unlock()
	if announce {
		s.subs.announce(key)
	}
}

// Resync re-reads every template and options state under the prefix into
// the cache, as the store does by itself after each reconnect, and
// announces what changed. Values that are not valid are skipped and
// counted; the error joins (some of) them, each matching netflow.ErrStore
// and netflow.ErrMalformed.
func (s *Store) Resync(ctx context.Context) error {
	return s.resync(ctx)
}

func (s *Store) resync(ctx context.Context) error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	epoch, err := s.currentEpoch(ctx)
	if err != nil {
		return err
	}
	s.mu.RLock()
	prev := s.epoch
	s.mu.RUnlock()
	if prev != "" && prev != epoch {
		// Redis lost its data (restarted without persistence, flushed):
		// write back what this instance knows, where no other has yet.
		if err := s.reseed(ctx); err != nil {
			return err
		}
		s.reseeds.Add(1)
	}
	if err := s.flushDirty(ctx); err != nil {
		return err
	}
	templates, states, bad, err := s.load(ctx)
	if err != nil {
		return err
	}
	var announce []netflow.TemplateKey
	now := time.Now().UnixNano()
	s.mu.Lock()
	for k, e := range templates {
		old, ok := s.templates[k]
		if !ok || !sameLayout(old.t, e.t) {
			e.since = now
			templates[k] = e
			announce = append(announce, k)
			continue
		}
		// The same layout: first seen when it was, confirmed as it was.
		e.since, e.gen = old.since, old.gen
		templates[k] = e
	}
	for k := range states {
		announce = append(announce, k)
	}
	s.templates, s.states, s.epoch = templates, states, epoch
	s.mu.Unlock()
	s.resyncs.Add(1)
	s.subs.announce(announce...)
	return errors.Join(bad...)
}

// currentEpoch returns the Redis data generation: a random value stored
// under "<prefix>:epoch" by the first instance to find none.
func (s *Store) currentEpoch(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	for range 3 {
		e, err := s.rdb.Get(ctx, s.epochKey()).Result()
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, redis.Nil) {
			return "", s.fail("epoch", err)
		}
		if _, err := s.rdb.SetNX(ctx, s.epochKey(), newEpoch(), 0).Result(); err != nil {
			return "", s.fail("epoch", err)
		}
	}
	return "", s.fail("epoch", errors.New("epoch key keeps vanishing"))
}

// reseedScript stores a value only where the key is missing, with a TTL
// in milliseconds if ARGV[3] > 0, and then publishes ARGV[2] on ARGV[4].
var reseedScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
  redis.call('PUBLISH', ARGV[4], ARGV[2])
  return 1
end
return 0`)

// reseed writes every cached template and state to Redis where no other
// instance has yet.
func (s *Store) reseed(ctx context.Context) error {
	now := time.Now().UnixNano()
	type item struct {
		key, msg string
		val      []byte
		ttlMs    int64
	}
	var items []item
	s.mu.RLock()
	for k, e := range s.templates {
		var ttl int64
		if e.expires != 0 {
			if ttl = (e.expires - now) / 1e6; ttl <= 0 {
				continue
			}
		}
		v := encodeTemplate(e.t)
		items = append(items, item{s.templateKey(k), s.message(opTemplate, templateSuffix(k), v), v, ttl})
	}
	for k, st := range s.states {
		if v, err := encodeState(st); err == nil {
			items = append(items, item{s.stateKey(k), s.message(opState, domainSuffix(k), v), v, 0})
		}
	}
	s.mu.RUnlock()
	ctx, cancel := context.WithTimeout(ctx, 4*s.cfg.Timeout)
	defer cancel()
	if err := reseedScript.Load(ctx, s.rdb).Err(); err != nil {
		return s.fail("reseed", err)
	}
	for i := 0; i < len(items); i += 256 {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, it := range items[i:min(i+256, len(items))] {
				reseedScript.EvalSha(ctx, p, []string{it.key}, it.val, it.msg, it.ttlMs, s.channel)
			}
			return nil
		})
		if err != nil {
			return s.fail("reseed", err)
		}
	}
	return nil
}

// flushDirty writes the local changes Redis missed while it was away.
func (s *Store) flushDirty(ctx context.Context) error {
	s.mu.RLock()
	forgets := make([]netip.AddrPort, 0, len(s.dirtyF))
	for e := range s.dirtyF {
		forgets = append(forgets, e)
	}
	s.mu.RUnlock()
	for _, e := range forgets {
		if err := s.forgetRemote(e); err != nil {
			return err
		}
		s.mu.Lock()
		delete(s.dirtyF, e)
		s.mu.Unlock()
	}
	s.mu.RLock()
	var sets []netflow.TemplateKey
	var setVals []*netflow.Template
	var dels []netflow.TemplateKey
	for k := range s.dirtyT {
		if e, ok := s.templates[k]; ok {
			sets, setVals = append(sets, k), append(setVals, e.t)
		} else {
			dels = append(dels, k)
		}
	}
	stateKeys := make([]netflow.TemplateKey, 0, len(s.dirtyS))
	stateVals := make([]netflow.ExporterState, 0, len(s.dirtyS))
	for k := range s.dirtyS {
		if st, ok := s.states[k]; ok {
			stateKeys, stateVals = append(stateKeys, k), append(stateVals, st)
		}
	}
	s.mu.RUnlock()
	for i, k := range sets {
		if err := s.writeTemplate(k, setVals[i]); err != nil {
			return err
		}
	}
	if err := s.deleteTemplates(dels); err != nil {
		return err
	}
	for i, k := range stateKeys {
		val, err := encodeState(stateVals[i])
		if err == nil {
			err = s.writeState(k, val)
		}
		if err != nil && !errors.Is(err, netflow.ErrLimit) {
			return err
		}
	}
	s.mu.Lock()
	for _, k := range append(sets, dels...) {
		delete(s.dirtyT, k)
	}
	for _, k := range stateKeys {
		delete(s.dirtyS, k)
	}
	s.mu.Unlock()
	return nil
}

// load reads every template and state under the prefix.
func (s *Store) load(ctx context.Context) (map[netflow.TemplateKey]entry, map[netflow.TemplateKey]netflow.ExporterState, []error, error) {
	ctx, cancel := context.WithTimeout(ctx, 8*s.cfg.Timeout)
	defer cancel()
	var bad []error
	refuse := func(err error) {
		s.bad.Add(1)
		if len(bad) < maxReportedErrors {
			bad = append(bad, err)
		}
	}
	templates := make(map[netflow.TemplateKey]entry)
	keys, err := s.scan(ctx, s.prefix+"t:*")
	if err != nil {
		return nil, nil, nil, err
	}
	now := time.Now().UnixNano()
	if len(keys) > s.cfg.MaxTemplates {
		keys = keys[:s.cfg.MaxTemplates]
	}
	vals, errs, err := s.valueHeads(ctx, keys, maxTemplateValue)
	if err != nil {
		return nil, nil, nil, err
	}
	ttls := make([]*redis.DurationCmd, 0, len(keys))
	for i := 0; i < len(keys); i += 256 {
		_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, k := range keys[i:min(i+256, len(keys))] {
				ttls = append(ttls, p.PTTL(ctx, k))
			}
			return nil
		})
		if err != nil {
			return nil, nil, nil, s.fail("load templates", err)
		}
	}
	for i, k := range keys {
		if errs[i] != nil {
			refuse(errs[i])
			continue
		}
		if vals[i] == nil {
			continue // gone since the scan
		}
		key, err := parseSuffix(k[len(s.prefix)+2:], true)
		if err != nil {
			refuse(err)
			continue
		}
		t, err := decodeTemplate(key, vals[i])
		if err != nil {
			refuse(err)
			continue
		}
		var expires int64
		if ttl := ttls[i].Val(); ttl > 0 {
			expires = now + int64(ttl)
		}
		templates[key] = entry{t: t, expires: expires}
	}
	states := make(map[netflow.TemplateKey]netflow.ExporterState)
	keys, err = s.scan(ctx, s.prefix+"s:*")
	if err != nil {
		return nil, nil, nil, err
	}
	if len(keys) > s.cfg.MaxStates {
		keys = keys[:s.cfg.MaxStates]
	}
	vals, errs, err = s.valueHeads(ctx, keys, MaxStateValue)
	if err != nil {
		return nil, nil, nil, err
	}
	for i, v := range vals {
		if errs[i] != nil {
			refuse(errs[i])
			continue
		}
		if v == nil {
			continue
		}
		key, err := parseSuffix(keys[i][len(s.prefix)+2:], false)
		if err != nil {
			refuse(err)
			continue
		}
		st, err := decodeState(key, v)
		if err != nil {
			refuse(err)
			continue
		}
		states[key] = st
	}
	// Local changes Redis has not taken yet win over what it holds.
	s.mu.RLock()
	for k := range s.dirtyT {
		if e, ok := s.templates[k]; ok {
			templates[k] = e
		} else {
			delete(templates, k)
		}
	}
	for k := range s.dirtyS {
		if st, ok := s.states[k]; ok {
			states[k] = st
		}
	}
	s.mu.RUnlock()
	return templates, states, bad, nil
}
