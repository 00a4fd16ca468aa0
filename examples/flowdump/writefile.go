package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/flowkit/netflow"
	"github.com/flowkit/netflow/export"
)

// -w FILE: what flowdump reads goes into an RFC 5655 IPFIX file instead of
// its output. IPFIX messages keep their records as they are (every field,
// options data included, in their observation domain, re-encoded with
// export.Writer.WriteRecords); the flows of every other version become
// IPFIX records of the fields they carry, with the exporter's address in
// exporterIPv4Address or exporterIPv6Address (130, 131), their domain as
// observation domain and their times in flowStartNanoseconds and
// flowEndNanoseconds (156, 157): a v1-v9 time is its header's export time,
// which may have nanoseconds, less a number of milliseconds, and comes back
// exact. `flowdump FILE` reads the file back.

// ipfixFile is the file -w writes.
type ipfixFile struct {
	f     *os.File
	bw    *bufio.Writer
	w     *export.Writer
	flows []netflow.Flow
}

func createIPFIXFile(path string) (*ipfixFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	x := &ipfixFile{f: f, bw: bufio.NewWriterSize(f, 1<<20)}
	x.w, err = export.NewWriter(x.bw, export.Config{Version: 10, Stream: true, ExporterAddress: true, TimeFormat: export.TimeNanos})
	if err != nil {
		f.Close()
		return nil, err
	}
	return x, nil
}

// packet writes the records or flows of one decoded packet. A flow or
// record the writer refuses is reported in the error; the others are
// written.
func (x *ipfixFile) packet(p netflow.Packet) error {
	if ip, ok := p.(*netflow.IPFIXPacket); ok {
		h, _ := export.HeaderOf(ip)
		var first error
		for i := range ip.DataSets {
			if err := x.w.WriteRecords(h, ip.DataSets[i].Records); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	x.flows = p.AppendFlows(x.flows[:0])
	return x.w.WriteFlows(x.flows)
}

// close writes what is left and closes the file.
func (x *ipfixFile) close() error {
	err := x.w.Flush()
	if ferr := x.bw.Flush(); err == nil {
		err = ferr
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("-w: %w", err)
	}
	return nil
}
