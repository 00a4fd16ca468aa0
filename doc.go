// Package netflow decodes NetFlow v1, v5, v6, v7, v9 (RFC 3954), IPFIX
// (RFC 7011) and sFlow v5 export datagrams into typed packets and
// normalised flows. It imports only the standard library.
//
// # Decoding
//
// A Decoder turns (exporter address, datagram) pairs into one packet value
// per version (*V1Packet, *V5Packet, *V6Packet, *V7Packet, *V9Packet,
// *IPFIXPacket, *SFlowPacket), all of which implement Packet. It tells sFlow
// from NetFlow by the first four bytes (sFlow's version is 32 bits, 5). Three calls, from the most
// convenient to the fastest:
//
//   - Decoder.Decode allocates a fresh packet per call.
//   - Decoder.DecodeInto decodes into a caller-owned Buffer whose capacity
//     is reused, so that a warm decode allocates nothing; the packet lives
//     in the Buffer until its next use.
//   - Decoder.DecodeFlows appends the datagram's flows to a []Flow and
//     skips the typed records where it can.
//
// v9 and IPFIX records alias the datagram (their raw field bytes are
// sub-slices of it): keep the datagram unchanged while you use them, or copy
// what you keep. Flow values never alias anything. A Decoder is safe for
// concurrent use; a Buffer is not.
//
// # Flow and Known
//
// Packet.AppendFlows gives the flows of any version as the same Flow struct:
// exporter, addresses, ports, protocol, counters, absolute start and end
// times, interfaces, AS numbers and so on. A record rarely carries every
// field: Flow.Known says which ones it did (a zero field with its bit set
// is a real zero). For a v9 or IPFIX template the mapping from elements to
// Flow fields is compiled once, when the template is learned. Record.Flow
// gives the Flow of one record beside its values.
//
// # sFlow
//
// An sFlow v5 datagram (sflow.go) gives one Flow per flow sample: one
// sampled packet, Packets 1 and Bytes its frame length, SamplingInterval the
// sampling rate, Start and End the decode time (sFlow carries no wall
// clock), and the fields of the sampled packet header, read by the parser
// that IPFIX's packet sections share (packetheader.go; Config.Decapsulate
// goes through tunnels). Flow.ExportProtocol is ExportSFlow and Flow.Agent
// the agent address; such a flow's JSON has "protocol":"sflow". Counter
// samples are typed exporter state (SFlowCounterSample,
// SFlowPacket.AppendInterfaceCounters). docs/sflow.md has the details.
//
// # Templates and the store
//
// v9 and IPFIX data can only be read with the template the exporter sent
// earlier. Templates live in a TemplateStore, keyed by exporter address and
// port, version, source ID or observation domain, and template ID
// (TemplateKey). The default MemoryStore is bounded, can expire templates
// (MemoryStoreConfig.TTL) and can be saved and loaded (Save, Load, SaveFile,
// LoadFile, Snapshotter), so that a restart loses nothing. A store may be
// shared by several decoders or be remote (a Redis store lives in the
// nested module github.com/flowkit/netflow/redisstore); every method may
// fail, and failures match ErrStore. Optional interfaces beside
// TemplateStore: StateStore (options state in the store), Announcer
// (changes made by other instances), ExporterForgetter (drop one exporter)
// and StatsReporter or TemplateStatsReporter (counters in Decoder.Stats).
// The package templatetest checks any implementation.
//
// # Data before its template
//
// Data sets whose template is not known yet are held, bounded in sets,
// bytes and age (PendingLimits), and decoded when the template arrives: in
// a later datagram, later in the same datagram, or through a shared store
// from another instance. Such sets come back with DataSet.Late set.
// Decoder.Stats counts what was held, released, expired and refused;
// Decoder.PendingSets lists what waits. Sets released by a template another
// instance learned need no datagram of their exporter: Decoder.Releases
// signals them and Decoder.TakeReleased decodes them (the receiver does
// both and hands them over as a Datagram with Released set).
//
// # Several instances
//
// With a store shared by several instances whose local copy may lag behind
// (a TemplateChecker, such as the Redis store), a data set that its
// template from the store cannot account for (Template.Fits: whole records
// and the padding RFC 3954 and RFC 7011 permit) was made with a definition
// this instance has not seen: it is held, never decoded with that
// template, and released with a definition it fits (PendingStats.Misfits).
// A redefinition that keeps the record length cannot be told from the data.
// docs/several-instances-consistency.md describes what is guaranteed, the
// windows that remain and the measurements.
//
// # Options data
//
// Options data is exporter state: sampling intervals per sampler, interface,
// VRF and application names, the exporter's boot time. The decoder keeps it
// per exporter domain (ExporterState), applies the sampling interval to
// Flow.SamplingInterval (counters are not multiplied), and, with a
// StateStore, shares it with the other decoders of the store.
//
// # Limits and errors
//
// Everything a sender can make the decoder hold is bounded (Limits,
// PendingLimits, MemoryStoreConfig), and bounds stated in bytes hold in
// memory. The tables keyed by exporter admit a newcomer at their bound by
// evicting an entry on probation (a source seen in one datagram only),
// never one confirmed by a second datagram, so that spoofed sources can
// neither push out known exporters nor lock new ones out; the counters say
// what was evicted. A limit with nothing to evict (one per exporter or
// domain) refuses the new thing, counts it, and reports it with an error
// matching ErrLimit (docs/limits-eviction.md). Every error matches
// one of the sentinels ErrTruncated, ErrUnsupportedVersion, ErrEmpty,
// ErrMalformed, ErrTemplateNotFound, ErrLimit or ErrStore with errors.Is,
// usually through a *DecodeError that says where. A bad v9 or IPFIX set
// spoils only itself: the packet holds the sets that decoded and the error
// joins the problems of the others.
//
// # Receiving
//
// The package github.com/flowkit/netflow/receiver binds UDP (and IPFIX over
// TCP and TLS) sockets, decodes on a pool of workers that keeps each
// exporter's datagrams in order, and hands the packets to a handler; it is a
// separate package so that the decoder's importers do not inherit its
// dependencies. MessageReader reads IPFIX messages from a stream (an RFC
// 5655 file, a TCP connection); SplitMessage splits messages stored back to
// back.
package netflow
