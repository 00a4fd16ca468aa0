package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strings"
)

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// decodeJSON decodes body into v strictly: one JSON value, no unknown keys.
func decodeJSON(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("bad JSON: data after the JSON value")
	}
	return nil
}

// parseSender parses the {ip} of a path.
func parseSender(r *http.Request) (netip.Addr, error) {
	s := r.PathValue("ip")
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("sender %q is not an IP address", s)
	}
	return a.Unmap(), nil
}

// handler returns the HTTP API.
func (s *service) handler() http.Handler {
	auth := newAuthenticator(authOptions{authKey: s.opts.authKey, signKey: s.opts.signKey,
		requireBody: s.opts.requireBodySignature, requestOnly: s.opts.requireRequestSignature,
		window: s.opts.signWindow, nonceCache: s.opts.nonceCache})
	mux := http.NewServeMux()
	route := func(pattern string, h func(http.ResponseWriter, *http.Request, []byte)) {
		mux.Handle(pattern, auth.middleware(s.opts.maxBody, h))
	}
	route("GET /senders", s.listSenders)
	route("GET /senders/{ip}", s.getSender)
	route("PUT /senders/{ip}", s.putSender)
	route("DELETE /senders/{ip}", s.deleteSender)
	route("POST /stats/{ip}", s.postStats)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); allow != "" {
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed on "+r.URL.Path+": "+allow)
			return
		}
		writeError(w, http.StatusNotFound, "no such call: "+r.Method+" "+r.URL.Path)
	})
	return recoverJSON(mux)
}

// apiMethods are the methods of the API's calls (HEAD with GET).
var apiMethods = []string{"GET", "HEAD", "PUT", "DELETE", "POST"}

// allowedMethods lists the methods with a call on r's path, as an Allow
// header value, or "" if the path has none.
func allowedMethods(mux *http.ServeMux, r *http.Request) string {
	var allow []string
	for _, m := range apiMethods {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return strings.Join(allow, ", ")
}

// recoverJSON turns a panic of a handler into a 500 with a JSON message
// (a panic is a bug; the service goes on).
func recoverJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

var errMissingPrefixes = errors.New(`bad JSON: want {"prefixes":[{"prefix":"2001:db8::","prefixLen":32}]}`)
