//go:build !linux

package receiver

import (
	"errors"
	"net"

	"github.com/flowkit/netflow/internal/polltimer"
)

// Outside Linux sockets are not detached: there are no batch reads to
// coalesce (see the Linux detachedSocket).
type detachedSocket struct{}

var errNoDetach = errors.New("netflow: detached sockets are Linux only")

func detach(*net.UDPConn, int) (*detachedSocket, error) { return nil, errNoDetach }

func (*detachedSocket) Close() error { return nil }
func (*detachedSocket) release()     {}

func (*detachedSocket) newTimer() (*polltimer.Timer, error) { return nil, errNoDetach }

func newDetachedReader(*detachedSocket, int, int) *rawReader { return nil }
