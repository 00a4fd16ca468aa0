package netflow

// Shared test helpers: fixture loading (pcap UDP payloads, raw payload
// files split with SplitMessage, tshark's expected decodes in
// testdata/expected). The implementations live in internal/testkit, shared
// with the receiver and example tests; the names here are the root tests'
// short names for them (the builders: builders_test.go).

import (
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/flowkit/netflow/internal/testkit"
)

// testExporter is the exporter address the tests decode as.
var testExporter = netip.MustParseAddrPort("192.0.2.1:2055")

// ---------------------------------------------------------------- fixtures

// readPcapPayloads returns the UDP payloads of a pcap file, in capture order.
func readPcapPayloads(tb testing.TB, path string) [][]byte {
	tb.Helper()
	return testkit.UDPPayloads(tb, path)
}

// splitMessages splits a raw payload file into the export messages stored
// back to back in it, with SplitMessage. A file SplitMessage cannot frame is
// returned whole, as one datagram.
func splitMessages(data []byte) [][]byte {
	var out [][]byte
	rest := data
	for len(rest) > 0 {
		msg, r, err := SplitMessage(rest)
		if err != nil || len(msg) == 0 {
			if len(out) == 0 {
				return [][]byte{data}
			}
			return append(out, rest)
		}
		out = append(out, msg)
		rest = r
	}
	return out
}

// fixtureFiles lists the pcap and raw payload (.dat, .bin) files under
// testdata, sorted, testdata/fuzz excluded.
func fixtureFiles(tb testing.TB) []string {
	tb.Helper()
	var files []string
	err := filepath.WalkDir("testdata", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == filepath.Join("testdata", "fuzz") || path == filepath.Join("testdata", "expected")) {
			return filepath.SkipDir
		}
		switch filepath.Ext(path) {
		case ".pcap", ".dat", ".bin":
			files = append(files, path)
		}
		return nil
	})
	require.NoError(tb, err)
	sort.Strings(files)
	return files
}

// fixturePayloads returns every export datagram of a fixture file: the UDP
// payloads of a pcap, or the messages of a raw payload file.
func fixturePayloads(tb testing.TB, path string) [][]byte {
	tb.Helper()
	if strings.HasSuffix(path, ".pcap") {
		return readPcapPayloads(tb, path)
	}
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	return splitMessages(data)
}

// allFixtureDatagrams returns every datagram of every fixture file.
func allFixtureDatagrams(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, f := range fixtureFiles(tb) {
		out = append(out, fixturePayloads(tb, f)...)
	}
	return out
}

// expectedDoc, expectedDatagram and expectedFlow are the one schema of
// testdata/expected/*.json (internal/testkit).
type (
	expectedDoc      = testkit.Expected
	expectedDatagram = testkit.ExpectedDatagram
	expectedFlow     = testkit.ExpectedFlow
)

// loadExpected reads testdata/expected/name.
func loadExpected(tb testing.TB, name string) expectedDoc {
	tb.Helper()
	return testkit.LoadExpected(tb, filepath.Join("testdata", "expected", name))
}

// expectedPayloads returns the datagram that each expected datagram of doc
// decodes (testkit.Expected.Payloads).
func expectedPayloads(tb testing.TB, doc expectedDoc) [][]byte {
	tb.Helper()
	return doc.Payloads(tb, "testdata")
}

// withWatchdog runs fn and fails tb if it does not return within d
// (testkit.WithWatchdog).
func withWatchdog(tb testing.TB, d time.Duration, fn func()) {
	tb.Helper()
	testkit.WithWatchdog(tb, d, fn)
}

// eachFixtureSets decodes every fixture datagram in order, with one decoder
// per folder (logstash's fixtures keep a datagram's template in a file of
// its own; held data is released when it comes), and calls fn with the
// sets of each v9 or IPFIX packet.
func eachFixtureSets(tb testing.TB, fn func(file string, s *Sets)) {
	tb.Helper()
	decoders := map[string]*Decoder{}
	for _, file := range fixtureFiles(tb) {
		d := decoders[filepath.Dir(file)]
		if d == nil {
			d = NewDecoder(Config{})
			decoders[filepath.Dir(file)] = d
		}
		for _, data := range fixturePayloads(tb, file) {
			p, _ := d.Decode(testExporter, data) // the sets that decoded are kept
			if s := setsOf(p); s != nil {
				fn(file, s)
			}
		}
	}
}
