package main

import "testing"

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
				for _, fields := range byBucket {
					if len(fields) == 0 {
						t.Fatal("a bucket without fields accepted")
					}
					n += len(fields)
				}
			}
			if n > maxQueryFields {
				t.Fatalf("%d fields accepted", n)
			}
		}
	})
}
