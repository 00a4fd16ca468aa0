package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

// -kafka-compression offers the named codec first, then lz4, snappy and
// none for brokers that lack it; an unknown name is an error.
func TestKafkaCompression(t *testing.T) {
	codecs, err := kafkaCompression("zstd")
	require.NoError(t, err)
	require.Equal(t, []kgo.CompressionCodec{kgo.ZstdCompression(), kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()}, codecs)
	codecs, err = kafkaCompression("lz4")
	require.NoError(t, err)
	require.Equal(t, []kgo.CompressionCodec{kgo.Lz4Compression(), kgo.SnappyCompression(), kgo.NoCompression()}, codecs)
	codecs, err = kafkaCompression("none")
	require.NoError(t, err)
	require.Equal(t, []kgo.CompressionCodec{kgo.NoCompression(), kgo.Lz4Compression(), kgo.SnappyCompression()}, codecs)
	_, err = kafkaCompression("brotli")
	require.ErrorContains(t, err, "-kafka-compression")

	var out, errs syncBuffer
	status := run(t.Context(), []string{"-listen", "127.0.0.1:0", "-kafka", "127.0.0.1:1", "-topic", "t", "-kafka-compression", "brotli"}, &out, &errs)
	require.Equal(t, 2, status)
	require.Contains(t, errs.String(), "-kafka-compression")
}
