package main

import (
	"fmt"
	"time"
)

// granularity is the width of a statistics bucket.
type granularity uint8

// The granularities, coarsest first.
const (
	year granularity = iota
	month
	day
	hour
	minute
	numGranularities
)

// layouts are the bucket names, as time layouts (UTC): 2024, 2024-03,
// 2024-03-01, 2024-03-01 12, 2024-03-01 12:00.
var layouts = [numGranularities]string{"2006", "2006-01", "2006-01-02", "2006-01-02 15", "2006-01-02 15:04"}

// requestKeys are the keys of a POST /stats request and its answer.
var requestKeys = [numGranularities]string{"years", "months", "days", "hours", "minutes"}

// String returns the granularity's request key ("minutes", ...).
func (g granularity) String() string {
	if g < numGranularities {
		return requestKeys[g]
	}
	return fmt.Sprintf("granularity(%d)", uint8(g))
}

// bucketStarts returns the start, in Unix seconds, of the bucket of each
// granularity that holds t.
func bucketStarts(t time.Time) [numGranularities]int64 {
	t = t.UTC()
	y, m, d := t.Date()
	s := t.Unix()
	return [numGranularities]int64{
		year:   time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC).Unix(),
		month:  time.Date(y, m, 1, 0, 0, 0, 0, time.UTC).Unix(),
		day:    time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix(),
		hour:   floorDiv(s, 3600) * 3600,
		minute: floorDiv(s, 60) * 60,
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// bucketName formats the bucket of granularity g starting at start.
func bucketName(g granularity, start int64) string {
	return time.Unix(start, 0).UTC().Format(layouts[g])
}

// parseBucket checks that name is a bucket of granularity g and returns it
// in its canonical form.
func parseBucket(g granularity, name string) (string, error) {
	t, err := time.Parse(layouts[g], name)
	if err != nil || t.Format(layouts[g]) != name {
		return "", fmt.Errorf("%s: bucket %q is not in the form %q", g, name, layouts[g])
	}
	return name, nil
}
