package main

import (
	"errors"
	"flag"
	"strings"
	"time"

	"github.com/flowkit/netflow/receiver"
)

// tcpLimitFlags are the flags bounding the connections of -tcp
// (receiver.Config's TCP fields; docs/tcp-limits.md).
type tcpLimitFlags struct {
	maxConns, perSource, minRate   *int
	idle, firstMessage, msgTimeout *time.Duration
}

func addTCPLimitFlags(fs *flag.FlagSet) *tcpLimitFlags {
	return &tcpLimitFlags{
		maxConns: fs.Int("tcp-max-connections", receiver.DefaultMaxConnections,
			"with -tcp: open connections at most; at the bound a new one takes the place of the longest-idle connection of the source address with the most"),
		perSource: fs.Int("tcp-max-per-source", receiver.DefaultMaxConnectionsPerSource,
			"with -tcp: open connections from one source address at most (0 or negative: no bound but -tcp-max-connections)"),
		idle: fs.Duration("tcp-idle-timeout", receiver.DefaultIdleTimeout,
			"with -tcp: close a connection on which no message arrived for this `duration`"),
		firstMessage: fs.Duration("tcp-first-message-timeout", 0,
			"with -tcp: close a connection whose first message has not arrived this `duration` after accept (0: -tcp-idle-timeout applies)"),
		msgTimeout: fs.Duration("tcp-message-timeout", receiver.DefaultMessageTimeout,
			"with -tcp: the `duration` a message may take once its first byte is in, besides its length at -tcp-min-rate"),
		minRate: fs.Int("tcp-min-rate", receiver.DefaultMinProgressRate,
			"with -tcp: slowest `rate` in bytes a second at which the rest of a message may arrive (0 or negative: -tcp-message-timeout only)"),
	}
}

// check refuses the flags given without -tcp, and values out of range.
func (f *tcpLimitFlags) check(fs *flag.FlagSet, tcpAddr string) error {
	var given []string
	fs.Visit(func(fl *flag.Flag) {
		if strings.HasPrefix(fl.Name, "tcp-") {
			given = append(given, "-"+fl.Name)
		}
	})
	switch {
	case len(given) > 0 && tcpAddr == "":
		return errors.New(strings.Join(given, ", ") + " need -tcp")
	case *f.maxConns < 1:
		return errors.New("-tcp-max-connections must be at least 1")
	case *f.idle <= 0 || *f.msgTimeout <= 0:
		return errors.New("-tcp-idle-timeout and -tcp-message-timeout must be positive")
	case *f.firstMessage < 0:
		return errors.New("-tcp-first-message-timeout must not be negative")
	}
	return nil
}

// apply sets the flags' bounds in cfg.
func (f *tcpLimitFlags) apply(cfg *receiver.Config) {
	cfg.MaxConnections = *f.maxConns
	cfg.MaxConnectionsPerSource = max(*f.perSource, -1)
	if *f.perSource == 0 {
		cfg.MaxConnectionsPerSource = -1
	}
	cfg.IdleTimeout = *f.idle
	cfg.FirstMessageTimeout = *f.firstMessage
	cfg.MessageTimeout = *f.msgTimeout
	cfg.MinProgressRate = max(*f.minRate, -1)
	if *f.minRate == 0 {
		cfg.MinProgressRate = -1
	}
}
