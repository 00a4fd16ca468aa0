package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The authentication headers. X-Io-Auth carries the auth key in every
// scheme; X-Io-Sign is the seed's signature (of the auth key or of the
// body); X-Io-Timestamp, X-Io-Nonce and X-Io-Signature make the request
// signature, the recommended scheme (docs/netflowd-api-auth.md).
const (
	headerAuth      = "X-Io-Auth"
	headerSign      = "X-Io-Sign"
	headerTimestamp = "X-Io-Timestamp"
	headerNonce     = "X-Io-Nonce"
	headerSignature = "X-Io-Signature"
)

// signatureScheme is the first line of the string a request signature
// signs: it names the scheme, so that a signature of this scheme is never
// valid in another.
const signatureScheme = "netflowd-request-v1"

// Defaults of the request signature's flags.
const (
	defaultSignWindow = 5 * time.Minute // -sign-window
	defaultNonceCache = 100000          // -nonce-cache
)

// authenticator checks a request's authentication headers. The request
// signature (X-Io-Signature) signs the method, the request target, a
// timestamp, a nonce and the body's digest: a captured request cannot be
// used for another method, path or body, is refused once its timestamp is
// more than window away from the service's clock, and is refused if its
// nonce was used within the window. The seed's schemes (X-Io-Sign: the
// HMAC of the auth key, or of the body) are accepted unless requestOnly;
// they cannot tell a replay from a request.
type authenticator struct {
	authKey, signKey []byte
	requireBody      bool // seed scheme: a request with a body must sign the body
	requestOnly      bool // refuse the seed's schemes
	window           time.Duration
	nonces           *nonceCache
	now              func() time.Time
	keySig           []byte // the signature of the auth key
}

// authOptions are the authenticator's settings (the command's flags).
type authOptions struct {
	authKey, signKey []byte
	requireBody      bool
	requestOnly      bool
	window           time.Duration // zero: defaultSignWindow
	nonceCache       int           // zero: defaultNonceCache
}

func newAuthenticator(o authOptions) *authenticator {
	if o.window <= 0 {
		o.window = defaultSignWindow
	}
	if o.nonceCache <= 0 {
		o.nonceCache = defaultNonceCache
	}
	a := &authenticator{authKey: o.authKey, signKey: o.signKey, requireBody: o.requireBody,
		requestOnly: o.requestOnly, window: o.window, nonces: newNonceCache(o.nonceCache), now: time.Now}
	a.keySig = []byte(a.sign(o.authKey))
	return a
}

// sign returns the lowercase hex HMAC-SHA256 of msg keyed with the sign key.
func (a *authenticator) sign(msg []byte) string {
	m := hmac.New(sha256.New, a.signKey)
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// stringToSign is what a request signature signs: six lines joined by
// "\n" (no newline at the end): the scheme, the method, the request target
// as sent on the request line (path and query, escaped as sent), the
// X-Io-Timestamp and X-Io-Nonce values as sent, and the lowercase hex
// SHA-256 of the body (of no bytes when there is none).
func stringToSign(method, target, timestamp, nonce string, body []byte) string {
	d := sha256.Sum256(body)
	return signatureScheme + "\n" + method + "\n" + target + "\n" + timestamp + "\n" + nonce + "\n" + hex.EncodeToString(d[:])
}

// equal compares a and b in constant time, whatever their lengths: it
// compares their SHA-256 digests.
func equal(a, b []byte) bool {
	da, db := sha256.Sum256(a), sha256.Sum256(b)
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// authError is a refused request: its status (401, or 503 when the nonce
// cache is full) and why.
type authError struct {
	status int
	msg    string
}

func (e *authError) Error() string { return e.msg }

func unauthorized(msg string) *authError { return &authError{http.StatusUnauthorized, msg} }

// check returns nil when the headers of r authenticate it with body, or
// why they do not.
func (a *authenticator) check(r *http.Request, body []byte) *authError {
	h := r.Header
	if len(h.Values(headerSignature))+len(h.Values(headerTimestamp))+len(h.Values(headerNonce)) > 0 {
		return a.checkRequest(r, body)
	}
	if a.requestOnly {
		return unauthorized("this service accepts only request signatures (" + headerTimestamp + ", " + headerNonce +
			", " + headerSignature + "), not " + headerSign + ": see docs/netflowd-api-auth.md")
	}
	return a.checkSeed(h, body)
}

// one returns the only value of header k, or why there is not one.
func one(h http.Header, k string) (string, *authError) {
	switch v := h.Values(k); len(v) {
	case 0:
		return "", unauthorized("missing " + k + " header")
	case 1:
		return v[0], nil
	}
	return "", unauthorized("repeated " + k + " header")
}

// Bounds of X-Io-Nonce: 16 to 64 of the characters of hex and base64url.
const (
	minNonce = 16
	maxNonce = 64
)

func validNonce(s string) bool {
	if len(s) < minNonce || len(s) > maxNonce {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// parseUnix parses a timestamp of decimal Unix seconds: digits only, at
// most 12 of them.
func parseUnix(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 12 {
		return 0, false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// checkRequest checks a request signature: the headers, the signature,
// then the timestamp's window, then the nonce (so that only signed
// requests take room in the nonce cache).
func (a *authenticator) checkRequest(r *http.Request, body []byte) *authError {
	h := r.Header
	if len(h.Values(headerSign)) > 0 {
		return unauthorized(headerSign + " together with the request signature's headers: use one scheme")
	}
	var vals [4]string
	for i, k := range []string{headerAuth, headerTimestamp, headerNonce, headerSignature} {
		v, err := one(h, k)
		if err != nil {
			return err
		}
		vals[i] = v
	}
	auth, ts, nonce, sig := vals[0], vals[1], vals[2], vals[3]
	if !equal([]byte(auth), a.authKey) {
		return unauthorized("wrong auth key")
	}
	at, ok := parseUnix(ts)
	if !ok {
		return unauthorized(fmt.Sprintf("%s %q is not Unix seconds", headerTimestamp, ts))
	}
	if !validNonce(nonce) {
		return unauthorized(fmt.Sprintf("%s must be %d to %d characters of 0-9, a-z, A-Z, - and _", headerNonce, minNonce, maxNonce))
	}
	if !equal([]byte(sig), []byte(a.sign([]byte(stringToSign(r.Method, r.RequestURI, ts, nonce, body))))) {
		return unauthorized("wrong signature")
	}
	now := a.now()
	if off := now.Sub(time.Unix(at, 0)); off > a.window || off < -a.window {
		return unauthorized(fmt.Sprintf("%s is %v off the service's clock, more than the window of %v",
			headerTimestamp, off.Round(time.Second), a.window))
	}
	switch err := a.nonces.add(nonce, at+int64((a.window+time.Second-1)/time.Second), now.Unix()); {
	case errors.Is(err, errReplayed):
		return unauthorized("replayed request: this " + headerNonce + " was used within the window")
	case err != nil:
		return &authError{http.StatusServiceUnavailable, err.Error()}
	}
	return nil
}

// checkSeed checks the seed's schemes: X-Io-Sign is the HMAC of the auth
// key (any request) or of the body (requests with a body; the only form
// accepted for them with requireBody).
func (a *authenticator) checkSeed(h http.Header, body []byte) *authError {
	auth, sign := h.Values(headerAuth), h.Values(headerSign)
	if len(auth) == 0 || len(sign) == 0 {
		return unauthorized("missing " + headerAuth + " or " + headerSign + " header (or the request signature's " +
			headerTimestamp + ", " + headerNonce + ", " + headerSignature + ")")
	}
	if len(auth) > 1 || len(sign) > 1 {
		return unauthorized("repeated " + headerAuth + " or " + headerSign + " header")
	}
	keyOK := equal([]byte(auth[0]), a.authKey)
	got := []byte(sign[0])
	bySig := equal(got, a.keySig)
	byBody := len(body) > 0 && equal(got, []byte(a.sign(body)))
	switch {
	case !keyOK:
		return unauthorized("wrong auth key")
	case byBody:
		return nil
	case bySig && len(body) > 0 && a.requireBody:
		return unauthorized("this request has a body: " + headerSign + " must sign the body")
	case bySig:
		return nil
	}
	return unauthorized("wrong signature")
}

// middleware reads the body (at most maxBody bytes), authenticates the
// request and hands it to next with the body.
func (a *authenticator) middleware(maxBody int64, next func(w http.ResponseWriter, r *http.Request, body []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, "request body larger than the limit")
				return
			}
			writeError(w, http.StatusBadRequest, "cannot read the request body")
			return
		}
		if err := a.check(r, body); err != nil {
			if err.status == http.StatusServiceUnavailable {
				w.Header().Set("Retry-After", "1")
			}
			writeError(w, err.status, err.msg)
			return
		}
		next(w, r, body)
	}
}
