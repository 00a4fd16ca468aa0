package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/flowkit/netflow"
)

// counts is what -stats prints.
type counts struct {
	files, badFiles int
	datagrams       int
	skipped         int // captured frames that held no datagram to decode
	versions        map[uint16]int
	sflow           int // sFlow datagrams (not in versions: v5 is NetFlow's)
	sflowCounters   int // sFlow counter samples
	flows           int
	options         int
	templates       int
	errors          int
	kinds           [8]int // by errorKinds, then none of them
	tcp             tcpCounts
}

// tcpCounts are the counts of TCP streams (one direction of a connection
// each) that carried data.
type tcpCounts struct {
	streams  int
	ipfix    int // read as IPFIX
	notIPFIX int
	failed   int // ended by an error
	messages int
	skipped  int64 // bytes skipped to resynchronise
	missing  int64 // bytes missing from the capture (lost segments)
}

// errorKinds are the sentinels errors are counted by.
var errorKinds = []struct {
	name string
	err  error
}{
	{"truncated", netflow.ErrTruncated},
	{"unsupported version", netflow.ErrUnsupportedVersion},
	{"no records", netflow.ErrEmpty},
	{"malformed", netflow.ErrMalformed},
	{"template not found", netflow.ErrTemplateNotFound},
	{"limit", netflow.ErrLimit},
	{"store", netflow.ErrStore},
}

// addError counts a datagram's error, and each of the problems a v9 or
// IPFIX error joins, by the sentinel it matches.
func (c *counts) addError(err error) {
	c.errors++
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		i := 0
		for i < len(errorKinds) && !errors.Is(e, errorKinds[i].err) {
			i++
		}
		c.kinds[i]++
	}
}

func (c *counts) print(w io.Writer, ps netflow.PendingStats) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "files: %d read, %d failed\n", c.files, c.badFiles)
	var vs []string
	for _, v := range []uint16{1, 5, 6, 7, 9, 10} {
		if n := c.versions[v]; n > 0 {
			name := fmt.Sprintf("v%d", v)
			if v == 10 {
				name = "ipfix"
			}
			vs = append(vs, fmt.Sprintf("%s %d", name, n))
		}
	}
	if c.sflow > 0 {
		vs = append(vs, fmt.Sprintf("sflow %d", c.sflow))
	}
	fmt.Fprintf(&b, "datagrams: %d", c.datagrams)
	if len(vs) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(vs, ", "))
	}
	fmt.Fprintf(&b, "; frames skipped: %d\n", c.skipped)
	fmt.Fprintf(&b, "flows: %d; options records: %d; templates: %d", c.flows, c.options, c.templates)
	if c.sflow > 0 {
		fmt.Fprintf(&b, "; sflow counter samples: %d", c.sflowCounters)
	}
	b.WriteByte('\n')
	var ks []string
	for i, n := range c.kinds {
		if n == 0 {
			continue
		}
		name := "other"
		if i < len(errorKinds) {
			name = errorKinds[i].name
		}
		ks = append(ks, fmt.Sprintf("%s %d", name, n))
	}
	fmt.Fprintf(&b, "errors: %d datagrams", c.errors)
	if len(ks) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(ks, ", "))
	}
	b.WriteByte('\n')
	if t := c.tcp; t.streams > 0 {
		fmt.Fprintf(&b, "tcp streams: %d (ipfix %d, not ipfix %d, ended by an error %d); messages: %d; bytes skipped: %d; bytes missing from the capture: %d\n",
			t.streams, t.ipfix, t.notIPFIX, t.failed, t.messages, t.skipped, t.missing)
	}
	fmt.Fprintf(&b, "pending: held %d (%d bytes), added %d, matched %d, expired %d, refused %d\n",
		ps.Held, ps.Bytes, ps.Added, ps.Matched, ps.Expired, ps.Refused)
	w.Write(b.Bytes())
}
