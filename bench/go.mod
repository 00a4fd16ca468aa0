module github.com/flowkit/netflow/bench

go 1.26.0

require github.com/flowkit/netflow v0.1.0

require (
	github.com/google/gopacket v1.1.19
	github.com/netsampler/goflow2/v2 v2.2.6
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/vmware/go-ipfix v0.16.0
	golang.org/x/net v0.58.0
)

require (
	github.com/go-logr/logr v1.4.2 // indirect
	github.com/klauspost/compress v1.20.0 // indirect
	github.com/libp2p/go-reuseport v0.4.0 // indirect
	github.com/pierrec/lz4/v4 v4.1.30 // indirect
	github.com/pion/dtls/v2 v2.2.12 // indirect
	github.com/pion/logging v0.2.2 // indirect
	github.com/pion/transport/v2 v2.2.10 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	github.com/twmb/franz-go v1.21.7 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.14.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/crypto v0.55.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
	k8s.io/klog/v2 v2.130.1 // indirect
)
