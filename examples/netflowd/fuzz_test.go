package main

import (
	"slices"
	"testing"
)

// FuzzRequestBodies: the API's body parsers return a value or an error for
// any input, never panic.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{
		`{"prefixes":[{"prefix":"2001:db8::","prefixLen":32}]}`,
		`{"prefixes":[{"prefix":"192.0.2.1","prefixLen":24}]}`,
		`{"minutes":{"2024-03-01 12:00":["all","dstas:34868","dstport:443"]},"hours":["2024-03-01 12"]}`,
		`{"years":["2024"],"months":["2024-03"],"days":["2024-03-01"]}`,
		`{"minutes":{"2024-03-01 12:00":[]}}`, `{"minutes":5}`, `[]`, ``, `null`, `{"prefixes":null}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if ps, err := prefixesBody(body); err == nil {
			for _, p := range ps {
				if p.Masked() != p {
					t.Fatalf("accepted %v, not its network's first address", p)
				}
			}
		}
		if q, err := parseStatsQuery(body); err == nil {
			n := 0
			for _, byBucket := range q {
				for _, bq := range byBucket {
					if len(bq.fields) == 0 || len(bq.asked) < len(bq.fields) {
						t.Fatalf("a bucket with %d fields asked as %d spellings accepted", len(bq.fields), len(bq.asked))
					}
					for _, canon := range bq.asked {
						if _, ok := slices.BinarySearch(bq.fields, canon); !ok {
							t.Fatalf("%q asked, not among the fields %q", canon, bq.fields)
						}
					}
					n += len(bq.asked)
				}
			}
			if n > maxQueryFields {
				t.Fatalf("%d fields accepted", n)
			}
		}
	})
}
