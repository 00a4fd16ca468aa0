package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// maxQueryFields bounds the (bucket, field) pairs of one POST /stats.
const maxQueryFields = 10000

// statCounts are three counters of an answer.
type statCounts struct {
	Flows   uint64 `json:"flows"`
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// statAnswer is what POST /stats answers for one bucket and field: every
// flow once, and split by direction.
type statAnswer struct {
	statCounts
	In  statCounts `json:"in"`
	Out statCounts `json:"out"`
}

// statsQuery is a parsed POST /stats body: per granularity, what is asked
// of each bucket.
type statsQuery [numGranularities]map[string]bucketQuery

// bucketQuery is what a request asks of one bucket: the fields as it
// spelled them, each with its canonical form (dstport:053 is dstport:53,
// srcip:2001:DB8::10 is srcip:2001:db8::10), which Redis is asked for; the
// answer is keyed by the spelling.
type bucketQuery struct {
	fields []string          // canonical, sorted, each once
	asked  map[string]string // spelling -> canonical
}

// parseStatsQuery parses {"minutes":["2024-03-01 12:00"], "hours":{"2024-03-01 12":["all","dstport:443"]}, ...}.
func parseStatsQuery(body []byte) (statsQuery, error) {
	var q statsQuery
	var raw map[string]json.RawMessage
	if err := decodeJSON(body, &raw); err != nil {
		return q, err
	}
	if raw == nil {
		return q, fmt.Errorf("bad JSON: want an object with keys %v", requestKeys)
	}
	n := 0
	for key, v := range raw {
		g := granularity(slices.Index(requestKeys[:], key))
		if g >= numGranularities {
			return q, fmt.Errorf("unknown key %q: want one of %v", key, requestKeys)
		}
		byBucket := map[string][]string{}
		switch bytes.TrimSpace(v)[0] {
		case '[':
			var list []string
			if err := decodeJSON(v, &list); err != nil {
				return q, fmt.Errorf("%s: %w", key, err)
			}
			for _, b := range list {
				byBucket[b] = []string{"all"}
			}
		case '{':
			if err := decodeJSON(v, &byBucket); err != nil {
				return q, fmt.Errorf("%s: %w", key, err)
			}
		default:
			return q, fmt.Errorf("%s: bad JSON: want a list of buckets or an object from bucket to a list of fields", key)
		}
		q[g] = make(map[string]bucketQuery, len(byBucket))
		for b, fields := range byBucket {
			if _, err := parseBucket(g, b); err != nil {
				return q, err
			}
			if len(fields) == 0 {
				return q, fmt.Errorf("%s %q: no fields: want a list such as [\"all\",\"dstport:443\"]", key, b)
			}
			if n += len(fields); n > maxQueryFields {
				return q, fmt.Errorf("at most %d bucket fields per request", maxQueryFields)
			}
			bq := bucketQuery{fields: make([]string, 0, len(fields)), asked: make(map[string]string, len(fields))}
			for _, f := range fields {
				c, err := parseField(f)
				if err != nil {
					return q, fmt.Errorf("%s %q: %w", key, b, err)
				}
				bq.fields = append(bq.fields, c)
				bq.asked[f] = c
			}
			bq.fields = slices.Compact(slices.Sorted(slices.Values(bq.fields)))
			q[g][b] = bq
		}
	}
	return q, nil
}

func (s *service) postStats(w http.ResponseWriter, r *http.Request, body []byte) {
	a, err := parseSender(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.reg.lookup(a) == nil {
		writeError(w, http.StatusNotFound, "no sender "+a.String())
		return
	}
	q, err := parseStatsQuery(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), redisTimeout)
	defer cancel()
	type pending struct {
		g       granularity
		bucket  string
		fields  []string          // canonical
		spelled map[string]string // as asked -> canonical
		cmd     *redis.SliceCmd
	}
	var asked []pending
	p := s.rdb.Pipeline()
	for g, byBucket := range q {
		for b, bq := range byBucket {
			fields := bq.fields
			names := make([]string, 0, 9*len(fields))
			for _, f := range fields {
				for d := range counterNames {
					for _, c := range counterNames[d] {
						names = append(names, f+c)
					}
				}
			}
			asked = append(asked, pending{g: granularity(g), bucket: b, fields: fields, spelled: bq.asked,
				cmd: p.HMGet(ctx, s.keys.stats(a, b), names...)})
		}
	}
	if len(asked) > 0 {
		if _, err := p.Exec(ctx); err != nil {
			writeError(w, http.StatusServiceUnavailable, "redis: "+err.Error())
			return
		}
	}
	out := map[string]map[string]map[string]statAnswer{}
	for g, byBucket := range q {
		if byBucket != nil {
			out[requestKeys[g]] = map[string]map[string]statAnswer{}
		}
	}
	for _, pa := range asked {
		vals := pa.cmd.Val()
		byCanon := make(map[string]statAnswer, len(pa.fields))
		for i, f := range pa.fields {
			num := func(j int) uint64 {
				str, _ := vals[9*i+j].(string)
				n, _ := strconv.ParseUint(str, 10, 64)
				return n
			}
			in := statCounts{num(0), num(1), num(2)}
			out := statCounts{num(3), num(4), num(5)}
			both := statCounts{num(6), num(7), num(8)}
			byCanon[f] = statAnswer{
				statCounts: statCounts{in.Flows + out.Flows - both.Flows,
					in.Packets + out.Packets - both.Packets, in.Bytes + out.Bytes - both.Bytes},
				In:  in,
				Out: out,
			}
		}
		answers := make(map[string]statAnswer, len(pa.spelled))
		for spelling, canon := range pa.spelled {
			answers[spelling] = byCanon[canon]
		}
		out[requestKeys[pa.g]][pa.bucket] = answers
	}
	writeJSON(w, http.StatusOK, out)
}
