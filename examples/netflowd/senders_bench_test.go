package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/flowkit/netflow/internal/redistest"
)

// senderAddr is the i-th address of 10.0.0.0/8.
func senderAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// preloadSenders stores n senders in Redis in one pipeline and loads them.
func preloadSenders(tb testing.TB, s *service, n int) {
	tb.Helper()
	ctx := context.Background()
	p := s.rdb.Pipeline()
	for i := range n {
		p.HSet(ctx, s.keys.senders(), senderAddr(i).String(), `{"prefixes":[{"prefix":"192.0.2.0","prefixLen":24}]}`)
	}
	if _, err := p.Exec(ctx); err != nil {
		tb.Fatal(err)
	}
	if err := s.reg.load(ctx); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkPutSender measures PUT /senders/{ip} of a new sender through the
// API handler, on a real redis-server, with 10 and with 10,000 senders
// registered (each one added is deleted again, timer stopped, so that the
// count stays). The cost must not grow with the count.
//
//	cd examples/netflowd && go test -run '^$' -bench PutSender -benchtime 2000x .
func BenchmarkPutSender(b *testing.B) {
	url := redistest.Start(b).URL()
	for _, n := range []int{10, 10000} {
		b.Run(itoa(n)+"-senders", func(b *testing.B) {
			opts := testOptions()
			opts.redisPrefix = "bench" + itoa(n)
			ts := startService(b, url, opts)
			preloadSenders(b, ts.svc, n)
			h := ts.svc.handler()
			body := []byte(`{"prefixes":[{"prefix":"198.51.100.0","prefixLen":24}]}`)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				a := senderAddr(n + i%1000)
				i++
				req := newSignedRequest(b, "PUT", "/senders/"+a.String(), body)
				w := newRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("PUT: %d %s", w.Code, w.Body)
				}
				b.StopTimer()
				if _, err := ts.svc.reg.delete(context.Background(), a); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}

// newSignedRequest is an API request with a request signature, for a
// handler called directly.
func newSignedRequest(tb testing.TB, method, target string, body []byte) *http.Request {
	tb.Helper()
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header = signedHeaders(method, target, body, time.Now(), newNonce())
	return req
}

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

// allocatedPerRun returns the bytes allocated per call of f, over n calls
// (f gets the call's index), as runtime.MemStats counts them.
func allocatedPerRun(n int, f func(i int)) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		f(i)
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}
