package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// redisTimeout bounds the Redis calls of one API request.
const redisTimeout = 5 * time.Second

// senderJSON is a sender as GET /senders lists it.
type senderJSON struct {
	IP       string       `json:"ip"`
	Prefixes []prefixJSON `json:"prefixes"`
}

// senderDetail is GET /senders/{ip}: the sender and its counters.
type senderDetail struct {
	senderJSON
	Counters senderCountsJSON `json:"counters"`
}

// senderCountsJSON are a sender's counters, those in Redis and those not
// flushed yet.
type senderCountsJSON struct {
	Datagrams   uint64 `json:"datagrams"`
	Flows       uint64 `json:"flows"`
	Unmatched   uint64 `json:"unmatched"`   // flows matching none of its prefixes
	OtherValues uint64 `json:"otherValues"` // field values counted under other
	LastSeen    string `json:"lastSeen,omitempty"`
}

// sendersList is GET /senders.
type sendersList struct {
	Senders []senderJSON `json:"senders"`
	// Unregistered counts the datagrams dropped, before decoding, since
	// the service started because their source is not a sender.
	Unregistered uint64 `json:"unregistered"`
	// OverBuckets counts the flows not counted because -max-buckets
	// minute buckets were held in memory.
	OverBuckets uint64 `json:"overBuckets"`
	// FlushFailures counts the flushes that met a Redis error (their
	// counts are kept for the next flush); FlushLost counts the bucket
	// writes dropped after failures, beyond what is kept.
	FlushFailures uint64 `json:"flushFailures"`
	FlushLost     uint64 `json:"flushLost"`
}

func toSenderJSON(s *sender) senderJSON {
	return senderJSON{IP: s.addr.String(), Prefixes: toJSON(s.prefixes)}
}

func (s *service) listSenders(w http.ResponseWriter, r *http.Request, _ []byte) {
	out := sendersList{Senders: []senderJSON{}, Unregistered: s.rcv.Stats().Total.Denied + s.vanished.Load(),
		OverBuckets: s.agg.bucketsFull.Load(), FlushFailures: s.fl.failures.Load(), FlushLost: s.fl.lost.Load()}
	for _, snd := range s.reg.list() {
		out.Senders = append(out.Senders, toSenderJSON(snd))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *service) getSender(w http.ResponseWriter, r *http.Request, _ []byte) {
	a, err := parseSender(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	snd := s.reg.lookup(a)
	if snd == nil {
		writeError(w, http.StatusNotFound, "no sender "+a.String())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	stored, err := s.rdb.HGetAll(ctx, s.keys.senderCounters(a)).Result()
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "redis: "+err.Error())
		return
	}
	num := func(name string) uint64 {
		n, _ := strconv.ParseUint(stored[name], 10, 64)
		return n
	}
	c := snd.counters
	out := senderDetail{senderJSON: toSenderJSON(snd), Counters: senderCountsJSON{
		Datagrams:   num("datagrams") + c.datagrams.Load(),
		Flows:       num("flows") + c.flows.Load(),
		Unmatched:   num("unmatched") + c.unmatched.Load(),
		OtherValues: num("otherValues") + c.otherValues.Load(),
	}}
	last, _ := strconv.ParseInt(stored["lastSeen"], 10, 64)
	last = max(last, c.lastSeen.Load())
	if last > 0 {
		out.Counters.LastSeen = time.Unix(0, last).UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, http.StatusOK, out)
}

// prefixesBody parses a {"prefixes":[...]} body.
func prefixesBody(body []byte) ([]netip.Prefix, error) {
	var rec struct {
		Prefixes *[]prefixJSON `json:"prefixes"`
	}
	if err := decodeJSON(body, &rec); err != nil {
		return nil, err
	}
	if rec.Prefixes == nil {
		return nil, errMissingPrefixes
	}
	if len(*rec.Prefixes) == 0 {
		return nil, errNoPrefixes
	}
	return parsePrefixes(*rec.Prefixes)
}

var errNoPrefixes = errors.New(`no prefixes: list at least one (DELETE /senders/{ip} without a body deletes the sender)`)

// checkSenderAddr refuses a sender address no datagram can come from: the
// unspecified address (0.0.0.0, ::), a multicast one, the IPv4 broadcast
// address. (Registered, one would let nothing in, and hide a typo.)
func checkSenderAddr(a netip.Addr) error {
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("sender %s cannot be the source of a datagram (unspecified, multicast or broadcast address)", a)
	}
	return nil
}

// maxPrefixes bounds the prefixes of one sender.
const maxPrefixes = 10000

func (s *service) putSender(w http.ResponseWriter, r *http.Request, body []byte) {
	a, err := parseSender(r)
	if err == nil {
		err = checkSenderAddr(a)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ps, err := prefixesBody(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if old := s.reg.lookup(a); len(ps)+len(oldPrefixes(old)) > maxPrefixes {
		writeError(w, http.StatusBadRequest, "a sender has at most "+strconv.Itoa(maxPrefixes)+" prefixes")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	snd, err := s.reg.add(ctx, a, ps)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, toSenderJSON(snd))
}

func oldPrefixes(s *sender) []netip.Prefix {
	if s == nil {
		return nil
	}
	return s.prefixes
}

func (s *service) deleteSender(w http.ResponseWriter, r *http.Request, body []byte) {
	a, err := parseSender(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	if len(body) == 0 {
		found, err := s.reg.delete(ctx, a)
		switch {
		case !found:
			writeError(w, http.StatusNotFound, "no sender "+a.String())
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, err.Error())
		default:
			writeJSON(w, http.StatusOK, map[string]string{"deleted": a.String()})
		}
		return
	}
	ps, err := prefixesBody(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	snd, found, err := s.reg.remove(ctx, a, ps)
	switch {
	case !found:
		writeError(w, http.StatusNotFound, "no sender "+a.String())
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		writeJSON(w, http.StatusOK, toSenderJSON(snd))
	}
}
