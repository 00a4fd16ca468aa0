package testkit

import (
	"flag"
	"runtime"
	"strconv"
)

// RaiseParallel raises go test's -parallel default (GOMAXPROCS) to n
// times GOMAXPROCS, unless the command line set -parallel: for a package
// whose parallel tests (t.Parallel) mostly wait on the processes they
// start, on sockets and on timers (a Redis outage of seconds), not on the
// CPU. Call it from TestMain before m.Run.
func RaiseParallel(n int) {
	if !flag.Parsed() {
		flag.Parse()
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", strconv.Itoa(n*runtime.GOMAXPROCS(0)))
	}
}
