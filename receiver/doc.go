// Package receiver receives NetFlow v1/v5/v6/v7/v9, IPFIX and sFlow v5
// export datagrams over UDP, and IPFIX messages over TCP and TLS (RFC 7011
// sections 10 and 11), decodes them with a shared netflow.Decoder and hands
// them to a Handler.
//
// A Receiver is made with New and started with Listen or Serve (UDP) and
// ListenTCP or ServeListener (TCP, TLS when Config.TLS is set), side by
// side as needed. Cancelling a context given to them, or calling a cancel
// func they return, stops everything.
//
// # UDP
//
// Readers (one per socket, Config.Sockets with SO_REUSEPORT, batch reads
// with recvmmsg on Linux) check the allow-list and split what they read by
// the share of its exporter's address (Config.Workers), so that one
// exporter's datagrams stay in order. A share with nothing queued and
// nobody handing it over is handed over by the reader itself, from its
// read buffers: a lightly loaded receiver decodes and calls the handler
// without waking another goroutine. For the other shares the reader copies
// the datagrams into pooled buffers of their size class and queues them, as
// one batch, for the share's worker; so do they all after a full batch
// read (more is waiting) and for 100 ms after a hand-over that took over
// 2 ms (a slow handler), so that the socket is read at its pace and the
// workers hand over in parallel. A full queue drops the datagram and
// counts it. The socket never stalls for long: while a reader hands
// datagrams over, the socket's second reading goroutine takes the reading
// over if that goes on for more than 50 ms to 2 s (a stuck handler; the
// lower the rate, the longer the socket buffer lasts, and the less often
// the watchdog looks).
//
// With Config.ReadCoalesce, a reader that empties its socket waits up to
// that long before it reads again, so that a receiver of a few hundred
// datagrams a second wakes ten or a few tens of times a second rather than
// once a datagram (latency traded for CPU; docs/performance-pipeline.md);
// the receive buffer bounds the wait (ReadCoalesceFlood).
//
// # TCP and TLS
//
// Each connection has a goroutine that reads one message with a
// netflow.MessageReader, decodes it and hands it over before reading the
// next, so a slow handler slows the exporter through TCP flow control.
// Templates are scoped to the session (the exporter's address and port),
// and forgotten when it ends. A malformed or truncated message closes the
// connection after every complete message before it was handed over.
//
// # Bounds
//
// Everything a sender can make the receiver hold is bounded, each bound
// with a documented default: queued datagrams in count per worker
// (Config.QueueLen, 4096) and in bytes over all workers
// (Config.MaxQueueBytes, 64 MiB); per-source counters (Config.MaxExporters,
// 4096; idle ones dropped after Config.ExporterIdle, 15 minutes; refused
// sources take none); datagram and message size (Config.MaxDatagramSize,
// 65535); open connections (Config.MaxConnections, 1024, and
// Config.MaxConnectionsPerSource, 128 per source address; at the bound a
// newcomer takes the place of the longest-idle connection of the busiest
// source), their idle time (Config.IdleTimeout, 5 minutes; optionally
// Config.FirstMessageTimeout until the first message), the time a message
// may take once begun (Config.MessageTimeout, 10 s, plus its length at
// Config.MinProgressRate, 1000 bytes/s) and TLS handshakes
// (TLSHandshakeTimeout, 10 s). docs/tcp-limits.md explains the TCP bounds. A stop hands queued datagrams over for at most Config.DrainTimeout
// (2 s) and counts the rest in Counters.Stopped. The sweeper
// (Config.SweepInterval, one minute) expires the decoder's pending data and
// the store's stale templates.
//
// The allow-list may be replaced while the receiver runs (SetAllow,
// AllowAll), for services that register exporters at run time.
package receiver
