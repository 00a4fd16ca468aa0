module github.com/flowkit/netflow/bench

go 1.25.0

require github.com/flowkit/netflow v0.1.0

require (
	github.com/google/gopacket v1.1.19
	github.com/netsampler/goflow2/v2 v2.2.6
)

require (
	github.com/libp2p/go-reuseport v0.4.0 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)
