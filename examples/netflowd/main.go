// Command netflowd is the flow service this library descends from
// (wasted/netflow), rebuilt on its receiver and decoder: it accepts NetFlow
// v1/v5/v6/v7/v9, IPFIX and sFlow v5 datagrams over UDP (on one address:
// the decoder tells them apart) from senders registered over
// an HMAC-signed HTTP API, counts their flows by time bucket and field, and
// keeps senders and counts in Redis.
//
// Usage:
//
//	go run . -listen 127.0.0.1:2055 -http 127.0.0.1:8080 -redis redis://127.0.0.1:6379/0 -auth-key K -sign-key S
//
// It prints "listening on ADDR" (UDP) and "api on ADDR" (HTTP) on standard
// error; port 0 picks a free port. Without -auth-key or -sign-key it makes
// random keys and prints them once. SIGINT or SIGTERM stops it: the
// datagrams already read are counted, the counts flushed to Redis, and it
// exits with status 0. It exits with 1 when it cannot reach Redis or
// listen, and 2 for bad usage.
//
// API (over TLS with -http-tls-cert and -http-tls-key). Every request
// carries X-Io-Auth: the auth key, and is signed with the sign key. The
// recommended signature, X-Io-Signature with X-Io-Timestamp and X-Io-Nonce,
// covers the method, the path, the time and the body's digest: a request
// outside -sign-window (5 minutes) of the service's clock, or replayed
// within it, is refused. The seed's X-Io-Sign (the lowercase hex
// HMAC-SHA256 of the auth key or of the request body) is still accepted
// unless -require-request-signature is given; docs/netflowd-api-auth.md
// shows how to sign, with curl and openssl.
//
//	PUT    /senders/{ip}   {"prefixes":[{"prefix":"2001:db8::","prefixLen":32}]} adds prefixes
//	DELETE /senders/{ip}   with such a body removes them; without a body, the sender
//	GET    /senders        the senders and their prefixes
//	GET    /senders/{ip}   one sender with its counters
//	POST   /stats/{ip}     {"minutes":{"2024-03-01 12:00":["all","dstport:443"]},"hours":["2024-03-01 12"]}
//
// Limits: 10,000 prefixes per sender, 10,000 bucket fields per POST
// /stats, -max-body bytes per request body. A method a path does not take
// is 405 with Allow. See docs/netflowd.md in the repository for the
// counting rules and the Redis key layout (keys.go).
package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stderr))
}

// run is the whole command: it serves until ctx is done, then flushes and
// returns the exit status.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("netflowd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		listen      = fs.String("listen", "127.0.0.1:2055", "UDP `address` for the export datagrams (port 0 picks a free port)")
		httpAddr    = fs.String("http", "127.0.0.1:8080", "TCP `address` of the HTTP API (port 0 picks a free port)")
		redisURL    = fs.String("redis", "redis://127.0.0.1:6379/0", "Redis `URL`: redis://[[user]:password@]HOST:PORT/DB (rediss:// for TLS)")
		redisPrefix = fs.String("redis-prefix", "netflowd", "`prefix` of every Redis key")
		authKey     = fs.String("auth-key", "", "API auth `key` (default: a random key, printed)")
		signKey     = fs.String("sign-key", "", "API HMAC sign `key` (default: a random key, printed)")
		requireBody = fs.Bool("require-body-signature", false, "requests with a body must sign the body, not the auth key (X-Io-Sign)")
		requireReq  = fs.Bool("require-request-signature", false, "refuse X-Io-Sign: accept only request signatures (X-Io-Signature, X-Io-Timestamp, X-Io-Nonce)")
		signWindow  = fs.Duration("sign-window", defaultSignWindow, "refuse request signatures whose X-Io-Timestamp is further than this from the clock")
		nonceCache  = fs.Int("nonce-cache", defaultNonceCache, "request signatures' nonces remembered within -sign-window, at most (about 40 bytes each); when full, signed requests are refused (503)")
		tlsCert     = fs.String("http-tls-cert", "", "serve the API over TLS with this certificate `file` (PEM; with -http-tls-key)")
		tlsKey      = fs.String("http-tls-key", "", "the TLS key `file` (PEM) of -http-tls-cert")
		maxValues   = fs.Int("max-values", 10000, "distinct values counted per bucket and field; the rest go under other")
		maxBuckets  = fs.Int("max-buckets", 100000, "buckets held in memory between flushes, over all senders")
		fields      = fs.String("fields", "all", "tracked `fields`: all, none, or a comma-separated list of proto,srcip,srcport,srcas,dstip,dstport,dstas")
		flushEvery  = fs.Duration("flush", time.Second, "how often counts go to Redis")
		maxBody     = fs.Int64("max-body", 1<<20, "largest API request body, in `bytes`")
		workers     = fs.Int("workers", 0, "decoding goroutines (0: one per CPU)")
	)
	var ttls [numGranularities]*time.Duration
	for g := range numGranularities {
		name := "ttl-" + requestKeys[g]
		ttls[g] = fs.Duration(name, defaultTTLs[g], "how long a bucket of "+requestKeys[g]+" is kept after its last update")
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "netflowd: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments: %q", fs.Args())
	}
	kinds, err := parseKinds(*fields)
	if err != nil {
		return usage("-fields: %v", err)
	}
	if *maxValues < 0 || *maxBuckets < 1 || *flushEvery <= 0 || *maxBody < 1 {
		return usage("-max-values, -max-buckets, -flush and -max-body must be positive")
	}
	if *signWindow < time.Second || *nonceCache < 1 {
		return usage("-sign-window must be at least 1s and -nonce-cache positive")
	}
	tlsCfg, err := apiTLS(*tlsCert, *tlsKey)
	if err != nil {
		return usage("%v", err)
	}
	opts := options{
		requireBodySignature: *requireBody, requireRequestSignature: *requireReq, signWindow: *signWindow,
		nonceCache: *nonceCache, maxValues: *maxValues, maxBuckets: *maxBuckets,
		kinds: kinds, redisPrefix: *redisPrefix, flushEvery: *flushEvery, maxBody: *maxBody, workers: *workers,
	}
	for g, d := range ttls {
		if *d < time.Second {
			return usage("-%s must be at least 1s", "ttl-"+requestKeys[g])
		}
		opts.ttls[g] = *d
	}
	opts.authKey = []byte(*authKey)
	if *authKey == "" {
		opts.authKey = randomKey()
		fmt.Fprintf(stderr, "auth key %s\n", opts.authKey)
	}
	opts.signKey = []byte(*signKey)
	if *signKey == "" {
		opts.signKey = randomKey()
		fmt.Fprintf(stderr, "sign key %s\n", opts.signKey)
	}

	// go-redis's own log lines (a failed dial, a bad pooled connection)
	// come out as netflowd's, not with its stderr logger's format.
	redis.SetLogger(redisLogger{w: stderr})
	ropts, err := redis.ParseURL(*redisURL)
	if err != nil {
		return usage("-redis: %v", err)
	}
	rdb := redis.NewClient(ropts)
	defer rdb.Close()
	pingCtx, cancelPing := context.WithTimeout(ctx, 5*time.Second)
	err = rdb.Ping(pingCtx).Err()
	cancelPing()
	if err != nil {
		fmt.Fprintf(stderr, "netflowd: redis %s: %v\n", ropts.Addr, err)
		return 1
	}
	svc, err := newService(ctx, opts, rdb)
	if err != nil {
		fmt.Fprintf(stderr, "netflowd: %v\n", err)
		return 1
	}
	// The receiver lives until the final flush; ctx only starts the stop.
	udp, stopUDP, err := svc.listen(context.Background(), *listen)
	if err != nil {
		fmt.Fprintf(stderr, "netflowd: %v\n", err)
		return 1
	}
	defer stopUDP()
	ln, err := net.Listen("tcp", *httpAddr)
	if err != nil {
		fmt.Fprintf(stderr, "netflowd: api: %v\n", err)
		return 1
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	fmt.Fprintf(stderr, "listening on %s\n", udp)
	fmt.Fprintf(stderr, "api on %s\n", ln.Addr())

	srv := &http.Server{Handler: svc.handler(), TLSConfig: tlsCfg, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: time.Minute, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	stopFlush := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		svc.flushLoop(stopFlush, logf)
	}()

	status := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		logf("netflowd: api: %v", err)
		status = 1
	case err := <-svc.failed:
		logf("netflowd: receiver: %v", err)
		status = 1
	}
	shutCtx, cancelShut := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShut()
	srv.Shutdown(shutCtx)
	stopUDP() // every datagram read is counted when it returns
	close(stopFlush)
	<-flushed
	flushCtx, cancelFlush := context.WithTimeout(context.Background(), flushTimeout)
	defer cancelFlush()
	if err := svc.flush(flushCtx); err != nil {
		logf("netflowd: final flush: %v", err)
		status = 1
	}
	return status
}

// randomKey returns 32 random hex digits.
func randomKey() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return []byte(hex.EncodeToString(b))
}

// apiTLS loads the API's TLS certificate and key; nil without them. TLS
// 1.2 is the oldest version offered.
func apiTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("TLS needs both -http-tls-cert and -http-tls-key")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("-http-tls-cert, -http-tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// redisLogger writes go-redis's log lines as netflowd's own: one line on
// stderr, prefixed "netflowd: redis: ".
type redisLogger struct{ w io.Writer }

// Printf implements go-redis's internal.Logging.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	msg := strings.TrimSuffix(fmt.Sprintf(format, v...), "\n")
	msg = strings.TrimPrefix(msg, "redis: ") // most of its messages start so
	fmt.Fprintf(l.w, "netflowd: redis: %s\n", msg)
}
