package main

import (
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A handler kicks the writer when its output comes flushInterval or more
// after the last write, and not before: the writer then runs in the
// handler's wake-up, not at its own backstop.
func TestWriterKickedWhenDue(t *testing.T) {
	b := unstartedWriter(io.Discard) // no writer goroutine: the test looks at what hand decides
	defer b.clock.Close()

	b.lastWrite = time.Now()
	b.hand([]byte("a\n"))
	require.False(t, b.kicked, "kicked right after a write")

	b.lastWrite = time.Now().Add(-flushInterval)
	b.hand([]byte("b\n"))
	require.True(t, b.kicked, "not kicked a flushInterval after the last write")
	require.Equal(t, 2, len(b.pending))
}

// Output handed over after a quiet spell is written, kicked or at the
// backstop, and the writer keeps writing what later handlers hand over.
func TestWriterWritesAfterQuiet(t *testing.T) {
	w := &chanWriter{c: make(chan string, 16)}
	b := newBoundedWriter(w)
	defer b.close(time.Second)
	for _, line := range []string{"one\n", "two\n"} {
		b.hand([]byte(line))
		select {
		case got := <-w.c:
			require.Equal(t, line, got)
		case <-time.After(5 * time.Second):
			t.Fatalf("%q not written", line)
		}
		time.Sleep(writerBackstop * writerQuietTicks) // the writer falls asleep
	}
}

type chanWriter struct{ c chan string }

func (w *chanWriter) Write(p []byte) (int, error) {
	w.c <- string(p)
	return len(p), nil
}
