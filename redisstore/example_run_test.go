package redisstore_test

import (
	"io"
	"os"
	"testing"

	"github.com/flowkit/netflow/internal/redistest"
	"github.com/stretchr/testify/require"
)

// TestExampleOpen runs ExampleOpen, which go test only compiles (it has no
// Output comment: it needs a Redis), against a real redis-server, and
// checks what it prints against the comment in its documentation.
func TestExampleOpen(t *testing.T) {
	r := redistest.Start(t)
	t.Setenv("REDIS_URL", r.URL())

	read, write, err := os.Pipe()
	require.NoError(t, err)
	stdout := os.Stdout
	os.Stdout = write
	done := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(read)
		done <- b
	}()
	func() {
		defer func() { os.Stdout = stdout }()
		ExampleOpen()
	}()
	write.Close()
	require.Equal(t, "template store: 1 template(s) of 1 exporter(s), learned 1\n"+
		"192.0.2.1 -> 198.51.100.7: 1500 bytes\n", string(<-done))
}
