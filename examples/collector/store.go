package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/redisstore"
)

// The decoder's template store, as the flags choose it: the default
// in-memory store, the same with a snapshot file (-state, see state.go), or
// a Redis store shared by several collectors (-store).

// storeFlags are the flags that choose the template store.
type storeFlags struct {
	url           *string
	prefix        *string
	consistency   *string
	acceptMisfits *time.Duration
	state         *string
	stateInterval *time.Duration
}

// storeOpenTimeout bounds the first connection to Redis and its first read
// of the prefix.
const storeOpenTimeout = 10 * time.Second

func addStoreFlags(fs *flag.FlagSet) *storeFlags {
	return &storeFlags{
		url:    fs.String("store", "", "keep templates and options state in the Redis at this `URL` (redis://[[user]:password@]host:port/db or rediss://...), shared with the other collectors of the prefix"),
		prefix: fs.String("store-prefix", "netflow", "with -store: the `prefix` of the Redis keys, one per fleet of collectors"),
		consistency: fs.String("store-consistency", "cache", "with -store: what is decoded while the templates cached from Redis are not confirmed (Redis lost, until re-read and settled): "+
			"`cache` decodes with them (data sets they cannot account for are held until a definition they fit comes), hold holds every data set of them until confirmed"),
		acceptMisfits: fs.Duration("accept-misfits-after", 0, "with -store: decode a data set its template from Redis cannot account for with that template all the same once it waited this `long` and Redis has held the template since at least as long before the set came (exporters that pad beyond the RFCs; 0: never)"),
		state:         fs.String("state", "", "load templates and options state from this `file` at start, save them to it periodically and on exit (not with -store)"),
		stateInterval: fs.Duration("state-interval", 30*time.Second, "with -state: time between saves"),
	}
}

// backend is the decoder's store and what runs beside it.
type backend struct {
	store netflow.TemplateStore
	redis *redisstore.Store    // with -store
	mem   *netflow.MemoryStore // with -state
	snap  *snapshots           // with -state
	desc  string               // printed once listening
}

// openBackend opens the store the flags name. status is non-zero when the
// collector must exit: 2 for bad usage, 1 when the store cannot be opened
// or the state file cannot be loaded.
func openBackend(ctx context.Context, f *storeFlags, memCfg netflow.MemoryStoreConfig, stderr io.Writer) (*backend, int) {
	if *f.url != "" && *f.state != "" {
		fmt.Fprintln(stderr, "collector: -state and -store exclude each other: with -store the templates and "+
			"options state live in Redis, which keeps them across restarts of the collectors "+
			"(and of Redis itself as its persistence is configured); -state snapshots the in-memory store")
		return nil, 2
	}
	if *f.url != "" {
		consistency, err := redisstore.ParseConsistency(*f.consistency)
		if err != nil {
			fmt.Fprintf(stderr, "collector: -store-consistency: %v\n", err)
			return nil, 2
		}
		if *f.acceptMisfits < 0 {
			fmt.Fprintln(stderr, "collector: -accept-misfits-after must not be negative")
			return nil, 2
		}
		return openRedis(ctx, *f.url, redisstore.Config{Prefix: *f.prefix, Consistency: consistency}, stderr)
	}
	if *f.state != "" {
		if *f.stateInterval <= 0 {
			fmt.Fprintln(stderr, "collector: -state-interval must be positive")
			return nil, 2
		}
		return openState(*f.state, *f.stateInterval, memCfg, stderr)
	}
	return &backend{}, 0
}

func openRedis(ctx context.Context, url string, cfg redisstore.Config, stderr io.Writer) (*backend, int) {
	prefix := cfg.Prefix
	if !strings.HasPrefix(url, "redis://") && !strings.HasPrefix(url, "rediss://") {
		fmt.Fprintf(stderr, "collector: -store: %q is not a redis:// or rediss:// URL\n", redactURL(url))
		return nil, 2
	}
	if prefix == "" {
		fmt.Fprintln(stderr, "collector: -store-prefix must not be empty")
		return nil, 2
	}
	octx, cancel := context.WithTimeout(ctx, storeOpenTimeout)
	defer cancel()
	s, err := redisstore.Open(octx, url, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "collector: -store %s: %v\n", redactURL(url), err)
		return nil, 1
	}
	return &backend{store: s, redis: s, desc: fmt.Sprintf("store: redis %s, prefix %q, consistency %s", redactURL(url), prefix, cfg.Consistency)}, 0
}

// redactURL hides the password of a Redis URL in messages.
func redactURL(url string) string {
	scheme, rest, ok := strings.Cut(url, "://")
	if !ok {
		return url
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return url
	}
	if user, _, hasPass := strings.Cut(userinfo, ":"); hasPass {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return url
}

// start begins what runs beside the decoder (periodic snapshots) and says
// which store is in use.
func (b *backend) start(w io.Writer) {
	if b.desc != "" {
		fmt.Fprintln(w, b.desc)
	}
	if b.snap != nil {
		b.snap.start(w)
	}
}

// finish ends what start began once the receiver stopped decoding: the
// last snapshot is saved now, so that it holds everything learned.
func (b *backend) finish() error {
	if b.snap != nil {
		return b.snap.finish()
	}
	return nil
}

// close releases the store.
func (b *backend) close() {
	if b.redis != nil {
		b.redis.Close()
	}
}

// printStoreStats writes the decoder's options-state and store counters:
// with -store, the Redis store's own; otherwise the memory store's.
func printStoreStats(w io.Writer, b *backend, ds netflow.Stats) {
	var sb strings.Builder
	fmt.Fprintf(&sb, "options state: domains %d, store failures %d, refused %d, reclaimed %d, evicted %d, confirmed %d\n",
		ds.StateDomains, ds.StateStoreFailures, ds.StateDomainsRefused, ds.StateDomainsReclaimed, ds.StateDomainsEvicted, ds.StateDomainsConfirmed)
	if b.redis != nil {
		st := b.redis.Stats()
		fmt.Fprintf(&sb, "redis store: connected %t, templates %d, states %d, pending writes %d, errors %d, malformed %d, notifications %d, resyncs %d, reseeds %d, "+
			"confirmed %t, outages %d, unconfirmed look-ups %d, checks %d, check failures %d\n",
			st.Connected, st.Templates, st.States, st.Pending, st.Errors, st.Malformed, st.Messages, st.Resyncs, st.Reseeds,
			st.Confirmed, st.Outages, st.Unconfirmed, st.Checks, st.CheckFailures)
	} else if ds.StoreOK {
		st := ds.Store
		fmt.Fprintf(&sb, "memory store: templates %d, exporters %d, learned %d, refreshed %d, replaced %d, withdrawn %d, expired %d, evicted %d, rejected %d, confirmed exporters %d, exporters evicted %d (%d templates), states evicted %d\n",
			st.Templates, st.Exporters, st.Learned, st.Refreshed, st.Replaced, st.Withdrawn, st.Expired, st.Evicted, st.Rejected,
			st.Confirmed, st.ExportersEvicted, st.TemplatesEvictedWithExporters, st.StatesEvicted)
	}
	io.WriteString(w, sb.String())
}
