// Package redisstore is a netflow template store on Redis (7.x), for
// collectors that run as several instances behind a UDP load balancer or
// SO_REUSEPORT, where templates and options data reach one instance and
// data another. A Store implements netflow.TemplateStore,
// netflow.StateStore (options state: sampling per sampler, interface and
// VRF names, system init time), netflow.Announcer,
// netflow.ExporterForgetter and netflow.TemplateChecker; every instance
// opens its own Store on the same Redis and prefix and gives it to its
// netflow.Decoder:
//
//	s, err := redisstore.Open(ctx, "redis://:password@10.0.0.5:6379/0",
//		redisstore.Config{Prefix: "netflow-eu", TTL: 30 * time.Minute})
//	...
//	d := netflow.NewDecoder(netflow.Config{Store: s})
//
// It is its own module, so that importers of the decoder never inherit a
// Redis client.
//
// # The hot path stays local
//
// Template and ExporterState are served from a cache in the process (a map
// under a read lock) and never wait for Redis. Every write (AddTemplate,
// WithdrawTemplate, WithdrawAll, SetExporterState, ForgetExporter) goes to
// the cache and then, in one MULTI/EXEC transaction, to its key and as a
// notification carrying the new value on the channel "<prefix>:changes".
// Every instance subscribes to that channel and applies the notifications
// in the order Redis executed the writes, so the caches converge on what
// Redis holds, and announces to its subscribers (the decoder, to release
// held data sets) each template added or redefined and each state set.
// A redefinition by one instance is visible to the others as soon as its
// notification arrives: on loopback, a few tens of microseconds after
// AddTemplate returns (see the README for the measured window). On every
// (re)subscription the store re-reads the whole prefix (SCAN, then GET and
// PTTL in pipelines), so notifications lost while disconnected are
// replaced by what Redis holds.
//
// # Redis down
//
// Look-ups go on from the cache (Config.Consistency DecodeFromCache, the
// default), or, with HoldUntilConfirmed, fail for the templates this
// instance has not itself learned since it lost Redis, until its cache is
// confirmed again: re-read after reconnecting, and ConfirmDelay (2 s)
// later, once the other instances have written back what they learned
// meanwhile (Stats.Confirmed). Under both, the decoder never decodes a data
// set with a cached template the set does not fit (a redefinition with
// another record length, netflow.TemplateChecker): it holds it until a
// definition it fits comes, and CheckTemplate reads the template afresh
// from Redis for it. Each write that Redis refuses or does not answer
// within Config.Timeout returns an error matching netflow.ErrStore and is
// counted (Stats.Errors); the change stays in the cache and is written
// when Redis is back (Stats.Pending). The store reconnects and
// resubscribes by itself with backoff (10ms doubling to 1s). If Redis came
// back without its data (restarted without persistence), which the store
// tells by the epoch key, every instance writes back what it holds where
// no other instance has yet (SET NX), so decoding goes on across the
// restart.
//
// # Key layout
//
// With Config.Prefix P (default "netflow"), exporter E as
// netip.AddrPort.String ("192.0.2.1:2055", "[2001:db8::1]:4739"), version
// V (9 or 10), domain D (v9 source ID or IPFIX observation domain ID) and
// template ID I, all decimal:
//
//	P:t:E|V|D|I   string  a template; expires after the TTL if Config.TTL > 0, set
//	                      again (so refreshed) by every AddTemplate
//	P:s:E|V|D     string  a domain's options state, JSON, no TTL
//	P:epoch       string  random; identifies the Redis data generation
//	P:changes     channel change notifications
//
// A template value is binary, big-endian: format 1 (1 byte), flags (1
// byte, bit 0 options), version, template ID, scope field count, field
// count (uint16 each), then per field its ID (uint16), PEN (uint32) and
// length (uint16). A state value is JSON: samplers, sampler_algorithms,
// sampling_interval, sampling_algorithm, system_init_ns (with
// has_system_init), interface_names, interface_descriptions, vrf_names,
// application_names, refused. A notification is one byte of operation ('T'
// template stored, 'D' withdrawn, 'S' state set, 'F' exporter forgotten),
// the writer's 16-hex-digit instance ID, a space, the key's part after
// "P:t:" or "P:s:" (the exporter for 'F'), a newline, and the value for 'T'
// and 'S'.
//
// Everything read from Redis is untrusted: a template value longer than
// 4106 bytes (512 fields) or whose length does not match its field count,
// a state over 64 KiB, a key or notification that does not parse, or a
// template netflow.NewTemplate refuses is skipped and counted
// (Stats.Malformed); Resync reports them as errors matching both
// netflow.ErrStore and netflow.ErrMalformed.
package redisstore
