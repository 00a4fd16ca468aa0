package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// commandTimeout bounds a Command or Commands call, connection included.
const commandTimeout = 2 * time.Second

// maxBulk bounds a bulk string reply Command reads.
const maxBulk = 1 << 20

// ReplyError is an error reply of the server (its text without the "-",
// such as "NOAUTH Authentication required.").
type ReplyError string

// Error returns the reply with the package's prefix.
func (e ReplyError) Error() string { return "redistest: redis replied -" + string(e) }

// Command sends one command (its name and arguments, each one word, sent
// as a RESP array of bulk strings) on a new connection and returns the
// reply as text: a simple string without its "+" ("OK", "PONG"), an
// integer in decimal, a bulk string's contents ("" for nil), or, for an
// array, its length in decimal (its elements are read and dropped; 0 for
// a nil array). An
// error reply is a ReplyError. It is for tests that look at keys without
// a client library.
func (s *Server) Command(args ...string) (string, error) {
	replies, err := s.Commands(args)
	if err != nil {
		return "", err
	}
	return replies[0], nil
}

// Commands sends commands one after the other on one connection (so that
// AUTH and SELECT apply to those that follow) and returns their replies as
// Command does. It stops at the first error reply and returns it.
func (s *Server) Commands(cmds ...[]string) ([]string, error) {
	c, err := net.DialTimeout("tcp", s.Addr(), commandTimeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(commandTimeout)); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	replies := make([]string, 0, len(cmds))
	for _, cmd := range cmds {
		if _, err := c.Write(encodeCommand(cmd)); err != nil {
			return nil, err
		}
		reply, err := readReply(br)
		if err != nil {
			return nil, err
		}
		replies = append(replies, reply)
	}
	return replies, nil
}

// encodeCommand encodes args as a RESP array of bulk strings.
func encodeCommand(args []string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// readReply reads one RESP2 reply and returns it as Command describes.
func readReply(br *bufio.Reader) (string, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("redistest: an empty reply line")
	}
	kind, rest := line[0], line[1:]
	switch kind {
	case '+', ':':
		return rest, nil
	case '-':
		return "", ReplyError(rest)
	case '$':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 || n > maxBulk {
			return "", fmt.Errorf("redistest: a bulk string reply of length %q", rest)
		}
		if n == -1 {
			return "", nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(br, b); err != nil {
			return "", err
		}
		return string(b[:n]), nil
	case '*':
		n, err := strconv.Atoi(rest)
		if err != nil || n < -1 {
			return "", fmt.Errorf("redistest: an array reply of length %q", rest)
		}
		for range n {
			if _, err := readReply(br); err != nil {
				var refused ReplyError
				if !errors.As(err, &refused) { // an error inside an array is an element
					return "", err
				}
			}
		}
		return strconv.Itoa(max(n, 0)), nil
	}
	return "", fmt.Errorf("redistest: a reply of unknown type %q", line)
}
