package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
)

// The authentication headers of the original service.
const (
	headerAuth = "X-Io-Auth"
	headerSign = "X-Io-Sign"
)

// authenticator checks the X-Io-Auth and X-Io-Sign headers: the auth key,
// and the lowercase hex HMAC-SHA256, keyed with the sign key, of either the
// auth key (any request) or the request body (requests with a body; the
// only form accepted for them with requireBody).
type authenticator struct {
	authKey, signKey []byte
	requireBody      bool
	keySig           []byte // the signature of the auth key
}

func newAuthenticator(authKey, signKey []byte, requireBody bool) *authenticator {
	a := &authenticator{authKey: authKey, signKey: signKey, requireBody: requireBody}
	a.keySig = []byte(a.sign(authKey))
	return a
}

// sign returns the lowercase hex HMAC-SHA256 of msg keyed with the sign key.
func (a *authenticator) sign(msg []byte) string {
	m := hmac.New(sha256.New, a.signKey)
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// equal compares a and b in constant time, whatever their lengths: it
// compares their SHA-256 digests.
func equal(a, b []byte) bool {
	da, db := sha256.Sum256(a), sha256.Sum256(b)
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

// check returns nil when the headers authenticate a request with body, or
// the reason they do not.
func (a *authenticator) check(h http.Header, body []byte) error {
	auth, sign := h.Values(headerAuth), h.Values(headerSign)
	if len(auth) == 0 || len(sign) == 0 {
		return errors.New("missing " + headerAuth + " or " + headerSign + " header")
	}
	if len(auth) > 1 || len(sign) > 1 {
		return errors.New("repeated " + headerAuth + " or " + headerSign + " header")
	}
	keyOK := equal([]byte(auth[0]), a.authKey)
	got := []byte(sign[0])
	bySig := equal(got, a.keySig)
	byBody := len(body) > 0 && equal(got, []byte(a.sign(body)))
	switch {
	case !keyOK:
		return errors.New("wrong auth key")
	case byBody:
		return nil
	case bySig && len(body) > 0 && a.requireBody:
		return errors.New("this request has a body: " + headerSign + " must sign the body")
	case bySig:
		return nil
	}
	return errors.New("wrong signature")
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
		if err := a.check(r.Header, body); err != nil {
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		next(w, r, body)
	}
}
