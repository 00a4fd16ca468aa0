package redisstore

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowkit/netflow"
	"github.com/redis/go-redis/v9"
)

var (
	_ netflow.TemplateChecker   = (*Store)(nil)
	_ netflow.TemplateStore     = (*Store)(nil)
	_ netflow.StateStore        = (*Store)(nil)
	_ netflow.Announcer         = (*Store)(nil)
	_ netflow.ExporterForgetter = (*Store)(nil)
)

// Config configures a Store. A zero field takes its default.
type Config struct {
	// Prefix namespaces every key and the change channel (default
	// "netflow"), so that several fleets can share one Redis.
	Prefix string
	// TTL expires a template that no instance has stored or refreshed for
	// this long, in Redis and in every instance's cache (0: never). An
	// exporter's periodic resend of a template refreshes it.
	TTL time.Duration
	// MaxTemplates and MaxStates bound the local cache (defaults 65536
	// and 16384). A new template or state beyond them is refused with
	// netflow.ErrLimit; a (re)load keeps the first ones read.
	MaxTemplates int
	MaxStates    int
	// Timeout bounds each Redis operation a store method makes (default
	// 2s).
	Timeout time.Duration
	// TLS, if set, is the TLS configuration of a rediss:// URL (a private
	// CA, client certificates); by default the system roots verify the
	// server, named as in the URL.
	TLS *tls.Config
	// Consistency chooses what look-ups serve while the store cannot
	// confirm that its cache holds what Redis holds (after losing Redis,
	// until it has re-read it and settled): DecodeFromCache (the default)
	// or HoldUntilConfirmed.
	Consistency Consistency
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = "netflow"
	}
	if c.MaxTemplates <= 0 {
		c.MaxTemplates = 65536
	}
	if c.MaxStates <= 0 {
		c.MaxStates = 16384
	}
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	return c
}

// Stats counts what a Store did.
type Stats struct {
	Templates int  // templates cached now
	States    int  // domains whose options state is cached now
	Pending   int  // local changes not yet written to Redis (written when it is back)
	Connected bool // subscribed to the change channel now
	// Errors counts failed Redis operations; each returned an error
	// matching netflow.ErrStore (or was retried in the background).
	Errors uint64
	// Malformed counts values and notifications read from Redis that
	// were refused (garbage, too large, an invalid template).
	Malformed uint64
	Messages  uint64 // change notifications applied
	Resyncs   uint64 // full reads of the prefix after (re)subscribing
	Reseeds   uint64 // Redis found emptied (restarted): the cache written back
	// Confirmed says the cache is confirmed now: subscribed, re-read
	// since Redis was last lost, and settled (see Consistency).
	Confirmed bool
	// Outages counts the times the store lost Redis (its subscription
	// failed) after it had connected.
	Outages uint64
	// Unconfirmed counts look-ups refused while the cache was not
	// confirmed (HoldUntilConfirmed).
	Unconfirmed uint64
	// Checks counts the templates read afresh from Redis for the decoder
	// (CheckTemplate), and CheckFailures those it could not answer.
	Checks        uint64
	CheckFailures uint64
}

// Store is a netflow.TemplateStore on Redis that also implements
// netflow.StateStore, netflow.Announcer and netflow.ExporterForgetter. Its
// look-ups are served from a local cache that the other instances'
// notifications keep current; see the package documentation.
type Store struct {
	cfg     Config
	rdb     *redis.Client
	prefix  string // cfg.Prefix + ":"
	channel string

	syncMu    sync.Mutex // one re-read or notification at a time
	mu        sync.RWMutex
	templates map[netflow.TemplateKey]entry
	states    map[netflow.TemplateKey]netflow.ExporterState // ID 0
	// dirty holds local changes Redis has not taken: templates (nil entry
	// t: withdrawn), states, and forgotten exporters.
	dirtyT map[netflow.TemplateKey]struct{}
	dirtyS map[netflow.TemplateKey]struct{}
	dirtyF map[netip.AddrPort]struct{}
	epoch  string // the Redis data generation last synced with
	// echoes counts, per echo key, the local changes whose notification
	// has not come back yet.
	echoes  map[string]int
	id      string // this instance, in its notifications
	subs    subscribers
	errs    atomic.Uint64
	bad     atomic.Uint64
	msgs    atomic.Uint64
	resyncs atomic.Uint64
	reseeds atomic.Uint64
	online  atomic.Bool
	// Consistency (confirm.go): hold is Config.Consistency ==
	// HoldUntilConfirmed; outages counts the losses of Redis (a cache
	// entry written locally since the last one has gen == outages);
	// confirmed is true while the cache is confirmed; settle confirms it
	// once the re-read after a loss has settled.
	hold          bool
	outages       atomic.Uint64
	confirmed     atomic.Bool
	unconfirmed   atomic.Uint64
	checks        atomic.Uint64
	checkFailures atomic.Uint64
	settleMu      sync.Mutex
	settle        *time.Timer
	counts        templateCounts
	// synced is closed after the first full read.
	synced   chan struct{}
	psMu     sync.Mutex // guards ps
	ps       *redis.PubSub
	cancel   context.CancelFunc
	done     chan struct{}
	closeOne sync.Once
}

// entry is a cached template and when it expires (UnixNano, 0: never).
// since is when its layout entered the cache (UnixNano), kept while the
// same layout is stored again; gen is Store.outages when this instance
// last stored it itself (what confirms it while the cache is not
// confirmed), or as it was before.
type entry struct {
	t       *netflow.Template
	expires int64
	since   int64
	gen     uint64
}

// Open connects to the Redis at url ("redis://[[user]:password@]host:port/db"
// or "rediss://..." for TLS), subscribes to the prefix's change channel and
// reads every template and options state under the prefix into the local
// cache before it returns. It fails if Redis cannot be reached within ctx.
// Values under the prefix that are not valid are skipped and counted
// (Stats.Malformed).
func Open(ctx context.Context, url string, cfg Config) (*Store, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: redisstore: %v", netflow.ErrStore, err)
	}
	cfg = cfg.withDefaults()
	if strings.ContainsAny(cfg.Prefix, "*?[]\\") {
		return nil, fmt.Errorf("%w: redisstore: prefix %q holds glob characters", netflow.ErrStore, cfg.Prefix)
	}
	if cfg.TLS != nil && opts.TLSConfig != nil {
		tc := cfg.TLS.Clone()
		if tc.ServerName == "" {
			tc.ServerName = opts.TLSConfig.ServerName
		}
		opts.TLSConfig = tc
	}
	opts.MaxRetries = -1   // fail at once: the caller counts it, the cache goes on
	opts.DialerRetries = 1 // the store retries in the background
	opts.DialTimeout = cfg.Timeout
	opts.ReadTimeout = cfg.Timeout
	opts.WriteTimeout = cfg.Timeout
	opts.ContextTimeoutEnabled = true
	opts.DisableIdentity = true
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("%w: redisstore: %v", netflow.ErrStore, err)
	}
	s := &Store{
		cfg:       cfg,
		rdb:       rdb,
		prefix:    cfg.Prefix + ":",
		channel:   cfg.Prefix + ":changes",
		templates: make(map[netflow.TemplateKey]entry),
		states:    make(map[netflow.TemplateKey]netflow.ExporterState),
		dirtyT:    make(map[netflow.TemplateKey]struct{}),
		dirtyS:    make(map[netflow.TemplateKey]struct{}),
		dirtyF:    make(map[netip.AddrPort]struct{}),
		synced:    make(chan struct{}),
		echoes:    make(map[string]int),
		id:        newID(),
		done:      make(chan struct{}),
		hold:      cfg.Consistency == HoldUntilConfirmed,
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.ps = rdb.Subscribe(runCtx, s.channel)
	go s.run(runCtx)
	select {
	case <-s.synced:
		return s, nil
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("%w: redisstore: first read: %v", netflow.ErrStore, ctx.Err())
	}
}

// Close stops the store's subscription and closes its connections. The
// cache stays readable; writes fail.
func (s *Store) Close() error {
	var err error
	s.closeOne.Do(func() {
		s.psMu.Lock()
		s.cancel()
		s.ps.Close() // ends a Receive in progress
		s.psMu.Unlock()
		<-s.done
		s.stopSettle()
		err = s.rdb.Close()
	})
	return err
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	st := Stats{
		Templates: len(s.templates),
		States:    len(s.states),
		Pending:   len(s.dirtyT) + len(s.dirtyS) + len(s.dirtyF),
	}
	s.mu.RUnlock()
	st.Connected = s.online.Load()
	st.Errors = s.errs.Load()
	st.Malformed = s.bad.Load()
	st.Messages = s.msgs.Load()
	st.Resyncs = s.resyncs.Load()
	st.Reseeds = s.reseeds.Load()
	st.Confirmed = s.confirmed.Load()
	st.Outages = s.outages.Load()
	st.Unconfirmed = s.unconfirmed.Load()
	st.Checks = s.checks.Load()
	st.CheckFailures = s.checkFailures.Load()
	return st
}

// fail counts a failed Redis operation and returns it as an error matching
// netflow.ErrStore.
func (s *Store) fail(what string, err error) error {
	s.errs.Add(1)
	return fmt.Errorf("%w: redisstore: %s: %w", netflow.ErrStore, what, err)
}

func (s *Store) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.cfg.Timeout)
}

func (s *Store) templateKey(k netflow.TemplateKey) string { return s.prefix + "t:" + templateSuffix(k) }
func (s *Store) stateKey(k netflow.TemplateKey) string    { return s.prefix + "s:" + domainSuffix(k) }
func (s *Store) epochKey() string                         { return s.prefix + "epoch" }

// idLen is the length of an instance ID.
const idLen = 16

func newID() string {
	var b [idLen / 2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newEpoch() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func domainOf(k netflow.TemplateKey) netflow.TemplateKey {
	k.ID = 0
	return k
}

// subscribers are the Announcer's funcs. A call and a cancel exclude each
// other per subscriber, so that no call is made once cancel returned.
type subscribers struct {
	mu   sync.Mutex
	list atomic.Pointer[[]*subscriber]
}

type subscriber struct {
	mu   sync.RWMutex
	gone bool
	f    func(netflow.TemplateKey)
}

func (l *subscribers) add(f func(netflow.TemplateKey)) *subscriber {
	sub := &subscriber{f: f}
	l.mu.Lock()
	defer l.mu.Unlock()
	var list []*subscriber
	if old := l.list.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, sub)
	l.list.Store(&list)
	return sub
}

func (l *subscribers) remove(sub *subscriber) {
	sub.mu.Lock()
	sub.gone = true
	sub.mu.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.list.Load()
	var list []*subscriber
	for _, o := range *old {
		if o != sub {
			list = append(list, o)
		}
	}
	l.list.Store(&list)
}

func (l *subscribers) announce(keys ...netflow.TemplateKey) {
	list := l.list.Load()
	if list == nil {
		return
	}
	for _, sub := range *list {
		sub.mu.RLock()
		if !sub.gone {
			for _, k := range keys {
				sub.f(k)
			}
		}
		sub.mu.RUnlock()
	}
}

// Subscribe implements netflow.Announcer: f learns of every template added
// or replaced and of every options state set, by this instance or by any
// other sharing the prefix (within the notification window), and, after a
// reconnect, of each one the re-read found changed. f must not call cancel.
func (s *Store) Subscribe(f func(netflow.TemplateKey)) (cancel func()) {
	sub := s.subs.add(f)
	var once sync.Once
	return func() { once.Do(func() { s.subs.remove(sub) }) }
}
