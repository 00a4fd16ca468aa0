module github.com/flowkit/netflow/bench

go 1.25.0

require github.com/flowkit/netflow v0.0.0-00010101000000-000000000000

require (
	github.com/google/gopacket v1.1.19
	github.com/netsampler/goflow2/v2 v2.2.6
	github.com/vmware/go-ipfix v0.16.0
)

require (
	github.com/go-logr/logr v1.4.2 // indirect
	github.com/libp2p/go-reuseport v0.4.0 // indirect
	github.com/pion/dtls/v2 v2.2.12 // indirect
	github.com/pion/logging v0.2.2 // indirect
	github.com/pion/transport/v2 v2.2.10 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/net v0.58.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	k8s.io/klog/v2 v2.130.1 // indirect
)

replace github.com/flowkit/netflow => ../
