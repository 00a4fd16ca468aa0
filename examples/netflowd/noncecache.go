package main

import (
	"crypto/sha256"
	"errors"
	"sync"
)

var (
	errReplayed = errors.New("nonce used within the window")
	// errNonceCacheFull refuses a request when the cache holds -nonce-cache
	// nonces still in their window: forgetting one early would let its
	// request be replayed.
	errNonceCacheFull = errors.New("too many signed requests within the window (-nonce-cache): try again later")
)

// nonceCache remembers the nonce of every accepted request signature until
// its timestamp leaves the window, so that a request replayed within the
// window is refused. It holds at most max nonces, each as 16 bytes of its
// SHA-256 and 8 of its expiry (about 40 bytes with the map's overhead: 4 MB
// for the default 100,000). When it is full, expired nonces are dropped (at
// most once a second); if none has expired the request is refused, never a
// nonce forgotten early.
type nonceCache struct {
	mu        sync.Mutex
	m         map[[16]byte]int64 // nonce digest -> Unix second after which it may go
	max       int
	lastPurge int64 // Unix second of the last walk
}

func newNonceCache(max int) *nonceCache {
	return &nonceCache{m: make(map[[16]byte]int64), max: max}
}

// add records nonce until the Unix second expires; it fails with
// errReplayed if the nonce is there and not expired at now, and with
// errNonceCacheFull if there is no room.
func (c *nonceCache) add(nonce string, expires, now int64) error {
	d := sha256.Sum256([]byte(nonce))
	k := [16]byte(d[:16])
	c.mu.Lock()
	defer c.mu.Unlock()
	if exp, ok := c.m[k]; ok && exp >= now {
		return errReplayed
	}
	if len(c.m) >= c.max && now != c.lastPurge {
		c.lastPurge = now
		for k, exp := range c.m {
			if exp < now {
				delete(c.m, k)
			}
		}
	}
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		return errNonceCacheFull
	}
	c.m[k] = expires
	return nil
}

// len returns the number of nonces held.
func (c *nonceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
