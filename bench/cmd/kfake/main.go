// Command kfake runs franz-go's in-process Kafka cluster (pkg/kfake, one
// broker, one topic) as a process of its own, so that cmd/pipebench can
// measure the collector's -kafka path without the broker's CPU in the
// collector's or the sender's figures. It prints "kafka on ADDR" on
// standard output and runs until SIGTERM or SIGINT.
//
// Usage:
//
//	go run ./cmd/kfake [-topic flows] [-partitions 1]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	topic := flag.String("topic", "flows", "the `topic` to create")
	partitions := flag.Int("partitions", 1, "its `partitions`")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(*partitions), *topic))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kfake:", err)
		os.Exit(1)
	}
	defer cluster.Close()
	fmt.Printf("kafka on %s\n", cluster.ListenAddrs()[0])
	<-ctx.Done()
}
