//go:build linux

// Command pipebench measures flow collectors end to end on loopback: CPU per
// flow and per datagram, and loss, at a paced send rate.
//
// It builds (or takes) the collectors, starts each as a process of its own
// with standard output to /dev/null, and sends it datagrams of 30 flows from
// several exporters (each a UDP socket on an address of its own, 127.0.0.1,
// 127.0.0.2, ...), paced at the asked rate with sendmmsg, templates first
// for v9 and IPFIX. The collectors:
//
//   - netflow: this module's examples/collector -json (the receiver, the
//     decoder, Flow.AppendJSONWithFields, its output writer)
//   - netflow-kafka: the same with -kafka, to a kfake broker (cmd/kfake,
//     a process of its own)
//   - goflow2: goflow2 v2.2.6's decoder, proto producer, json format and
//     file transport behind its UDP receiver (cmd/gf2collect)
//   - bare: a Go loop that only reads and counts the datagrams
//     (cmd/udpsink), the floor: what a datagram costs any Go program on
//     this machine
//
// A collector's CPU is the on-CPU time of its threads
// (/proc/PID/task/*/schedstat) from just before the first data datagram
// (or the first after -warmup) until it has been idle for 300 ms after the
// last, over the flows it reported at exit (flows decoded; Kafka records
// delivered; goflow2's flows written) less the warm-up's, and per datagram
// over those flows' datagrams. The
// sender's CPU (this process, getrusage) is reported apart, per datagram
// sent. Loss is the flows sent and not reported.
//
// Usage, from bench/:
//
//	go run ./cmd/pipebench [-impl netflow,goflow2] [-version v5,v9,ipfix] [-rate 20000] [-duration 5s]
//	go run ./cmd/pipebench -impl netflow -version v9 -max 10000   # the loss-free rate, from 10000 datagrams/s up
//	go run ./cmd/pipebench -impl netflow -version v9 -rate 250 -duration 20s -strace   # system calls per datagram
//	go run ./cmd/pipebench -impl netflow -version v9 -rate 250 -duration 30s -warmup 5s   # the steady state
//	go run ./cmd/pipebench -send 127.0.0.1:2055 -version v9 -rate 250 -duration 60s   # only send, to a collector run by hand
//
// Rates are datagrams per second (30 flows each). Each line of the output
// is one run: the collector, version, rate asked and achieved, flows sent
// and lost, the collector's CPU per flow and per datagram, the sender's CPU
// per datagram, and the load average when the run started (the machine is
// shared: repeat runs with -repeat and compare CPU times, not wall times).
// A run of the netflow collector that lost flows ends with the datagrams
// its queues dropped and the kernel dropped ("drops queue+kernel").
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flowkit/netflow/internal/testkit"
	"golang.org/x/net/ipv4"
)

// flowsPerDatagram is the number of flow records of each data datagram.
const flowsPerDatagram = 30

type options struct {
	impls, versions []string
	rates           []int
	duration        time.Duration
	warmup          time.Duration
	exporters       int
	repeat          int
	max             int
	workers         int
	strace          bool
	collector, gf2  string
	sink            string
	kfake           string
	extra           []string
	verbose         bool
}

func main() {
	var o options
	impls := flag.String("impl", "netflow,goflow2", "comma-separated `collectors`: netflow, netflow-kafka, goflow2, bare")
	versions := flag.String("version", "v5,v9,ipfix", "comma-separated export `versions`: v5, v9, ipfix")
	rates := flag.String("rate", "20000", "comma-separated send `rates`, datagrams per second")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "how long each run sends")
	flag.DurationVar(&o.warmup, "warmup", 0, "send at the run's rate this long before the measured window, so that what a collector does once at its first datagrams (page faults on fresh buffers, its first garbage collection) is left out")
	flag.IntVar(&o.exporters, "exporters", 8, "exporters (sockets on 127.0.0.1, 127.0.0.2, ...)")
	flag.IntVar(&o.repeat, "repeat", 1, "runs of each case")
	flag.IntVar(&o.max, "max", 0, "find the loss-free rate: from this `rate` up by 25% a step until a run loses flows")
	flag.IntVar(&o.workers, "workers", 0, "the netflow collector's -workers (0: its default)")
	flag.BoolVar(&o.strace, "strace", false, "attach strace -c -f to the collector while the data is sent and print its system calls per datagram (its CPU figures then include strace's cost)")
	flag.StringVar(&o.collector, "collector", "", "the examples/collector `binary` (default: built into a temporary directory)")
	flag.StringVar(&o.gf2, "gf2collect", "", "the cmd/gf2collect `binary` (default: built)")
	flag.StringVar(&o.kfake, "kfake", "", "the cmd/kfake `binary` (default: built)")
	flag.StringVar(&o.sink, "udpsink", "", "the cmd/udpsink `binary` (default: built)")
	extra := flag.String("args", "", "more space-separated `arguments` for the netflow collector")
	flag.BoolVar(&o.verbose, "v", false, "print the collectors' standard error")
	target := flag.String("send", "", "only send, to a collector you run at this `address` (with -version's first version and -rate's first rate, for -duration)")
	flag.Parse()
	o.impls = split(*impls)
	o.versions = split(*versions)
	for _, r := range split(*rates) {
		n, err := strconv.Atoi(r)
		if err != nil || n <= 0 {
			fatalf("-rate: %q is not a positive number", r)
		}
		o.rates = append(o.rates, n)
	}
	o.extra = strings.Fields(*extra)
	if *target != "" {
		if err := sendOnly(*target, o); err != nil {
			fatalf("%v", err)
		}
		return
	}
	if err := o.build(); err != nil {
		fatalf("%v", err)
	}
	fmt.Println(header)
	for _, impl := range o.impls {
		for _, v := range o.versions {
			if o.max > 0 {
				o.findMax(impl, v)
				continue
			}
			for _, rate := range o.rates {
				for range o.repeat {
					res, err := o.run(impl, v, rate)
					if err != nil {
						fatalf("%s %s %d/s: %v", impl, v, rate, err)
					}
					fmt.Println(res)
				}
			}
		}
	}
}

func split(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pipebench: "+format+"\n", args...)
	os.Exit(1)
}

// build builds the binaries not given, into a temporary directory.
func (o *options) build() error {
	need := map[string]bool{}
	for _, impl := range o.impls {
		switch impl {
		case "netflow":
			need["collector"] = o.collector == ""
		case "netflow-kafka":
			need["collector"] = o.collector == ""
			need["kfake"] = o.kfake == ""
		case "goflow2":
			need["gf2"] = o.gf2 == ""
		case "bare":
			need["sink"] = o.sink == ""
		default:
			return fmt.Errorf("-impl: unknown collector %q", impl)
		}
	}
	dir, err := os.MkdirTemp("", "pipebench")
	if err != nil {
		return err
	}
	build := func(moduleDir, pkg, out string) (string, error) {
		path := filepath.Join(dir, out)
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Dir = moduleDir
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("go build %s: %w", pkg, err)
		}
		return path, nil
	}
	if need["collector"] {
		if o.collector, err = build("../examples", "./collector", "collector"); err != nil {
			return err
		}
	}
	if need["gf2"] {
		if o.gf2, err = build(".", "./cmd/gf2collect", "gf2collect"); err != nil {
			return err
		}
	}
	if need["sink"] {
		if o.sink, err = build(".", "./cmd/udpsink", "udpsink"); err != nil {
			return err
		}
	}
	if need["kfake"] {
		if o.kfake, err = build(".", "./cmd/kfake", "kfake"); err != nil {
			return err
		}
	}
	return nil
}

// findMax raises the rate by 25% a step from o.max until a run loses
// flows, and prints each run and the last rate without loss.
func (o *options) findMax(impl, version string) {
	best := 0
	for rate := o.max; ; rate = rate * 5 / 4 {
		res, err := o.run(impl, version, rate)
		if err != nil {
			fatalf("%s %s %d/s: %v", impl, version, rate, err)
		}
		fmt.Println(res)
		if res.lost > 0 || res.achieved < 0.97*float64(rate) {
			break
		}
		best = rate
	}
	fmt.Printf("# %s %s: loss-free up to %d datagrams/s (%d flows/s)\n", impl, version, best, best*flowsPerDatagram)
}

const header = "# impl          version   rate/s  sent/s   flows-sent  lost    loss%   cpu-µs/flow  cpu-µs/dgram  sender-µs/dgram  load"

// result is one run's figures.
type result struct {
	impl, version    string
	rate             int
	achieved         float64 // datagrams/s sent
	datagrams, flows int64   // data sent
	lost             int64
	cpu              time.Duration // the collector's, over the run
	sender           time.Duration
	load             string
	syscalls         map[string]int64 // -strace
	drops            string           // the netflow collector's dropped datagrams: "queue+kernel"
}

func (r result) String() string {
	s := fmt.Sprintf("%-15s %-8s %7d %7.0f %11d %6d %7.3f%% %12.3f %13.2f %16.2f  %s",
		r.impl, r.version, r.rate, r.achieved, r.flows, r.lost, 100*float64(r.lost)/float64(max(r.flows, 1)),
		float64(r.cpu.Nanoseconds())/1e3/float64(max(r.flows-r.lost, 1)),
		float64(r.cpu.Nanoseconds())/1e3/float64(max(r.flows-r.lost, 1))*flowsPerDatagram,
		float64(r.sender.Nanoseconds())/1e3/float64(max(r.datagrams, 1)), r.load)
	if r.drops != "" && r.lost > 0 {
		s += "  drops " + r.drops
	}
	if r.syscalls != nil {
		var names []string
		for name := range r.syscalls {
			names = append(names, name)
		}
		sort.Slice(names, func(i, j int) bool { return r.syscalls[names[i]] > r.syscalls[names[j]] })
		var parts []string
		for _, name := range names {
			if per := float64(r.syscalls[name]) / float64(max(r.datagrams, 1)); per >= 0.01 {
				parts = append(parts, fmt.Sprintf("%s %.2f", name, per))
			}
		}
		s += "\n#   system calls per datagram: " + strings.Join(parts, ", ")
	}
	return s
}

// proc is a child process and the lines of its standard error.
type proc struct {
	cmd   *exec.Cmd
	lines chan string
	all   []string
	done  chan struct{}
}

// start starts a child with standard output to stdout (nil: /dev/null)
// and collects its standard error.
func start(verbose bool, stdout io.Writer, name string, args ...string) (*proc, error) {
	cmd := exec.Command(name, args...)
	if stdout == nil {
		devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		cmd.Stdout = devnull
	} else {
		cmd.Stdout = stdout
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if verbose {
				fmt.Fprintf(os.Stderr, "  [%s] %s\n", filepath.Base(name), sc.Text())
			}
			select {
			case p.lines <- sc.Text():
			default:
			}
			p.all = append(p.all, sc.Text())
		}
	}()
	return p, nil
}

// waitLine waits for a line of standard error matching re and returns
// its first group.
func (p *proc) waitLine(re *regexp.Regexp, timeout time.Duration) (string, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line := <-p.lines:
			if m := re.FindStringSubmatch(line); m != nil {
				return m[1], nil
			}
		case <-p.done:
			return "", fmt.Errorf("%s exited: %s", p.cmd.Path, strings.Join(p.all, " | "))
		case <-t.C:
			return "", fmt.Errorf("%s: no line matching %s", p.cmd.Path, re)
		}
	}
}

// stop sends SIGTERM and waits for the process and its standard error.
// Its standard error is read to the end before Wait, which closes the
// pipe once the process has exited (and so could cut the last lines off,
// such as udpsink's count).
func (p *proc) stop() []string {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		p.cmd.Process.Kill()
	}
	p.cmd.Wait()
	<-p.done
	return p.all
}

// cpuTime returns the on-CPU time of every thread of process pid.
func cpuTime(pid int) (time.Duration, error) {
	dirs, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(dirs) == 0 {
		return 0, fmt.Errorf("no /proc/%d/task/*/schedstat", pid)
	}
	var total int64
	for _, path := range dirs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // a thread that ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return time.Duration(total), nil
}

// selfCPU returns this process's user and system CPU time.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

var (
	listeningRe = regexp.MustCompile(`^listening on (\S+)`)
	kafkaRe     = regexp.MustCompile(`^kafka on (\S+)`)
	totalRe     = regexp.MustCompile(`^total: datagrams (\d+), .* flows (\d+),`)
	// The collector's counts of Kafka records delivered and, with
	// -kafka-record datagram (a record holds a datagram's flows), of the
	// flows in them.
	deliveredRe      = regexp.MustCompile(`^kafka: (\d+) records produced, (\d+) delivered`)
	flowsDeliveredRe = regexp.MustCompile(`^kafka: (\d+) flows produced, (\d+) delivered`)
	gf2FlowsRe       = regexp.MustCompile(`^flows (\d+)`)
	sinkRe           = regexp.MustCompile(`^datagrams (\d+)`)
)

// run is one run of one collector at one rate.
func (o *options) run(impl, version string, rate int) (result, error) {
	res := result{impl: impl, version: version, rate: rate, load: loadavg()}
	var args []string
	var bin string
	var broker *proc
	switch impl {
	case "goflow2":
		bin, args = o.gf2, []string{"-listen", "127.0.0.1:0"}
	case "bare":
		bin, args = o.sink, []string{"-listen", "127.0.0.1:0"}
	case "netflow", "netflow-kafka":
		bin, args = o.collector, []string{"-listen", "127.0.0.1:0", "-json", "-flows-only"}
		if o.workers > 0 {
			args = append(args, "-workers", strconv.Itoa(o.workers))
		}
		args = append(args, o.extra...)
		if impl == "netflow-kafka" {
			pr, pw := io.Pipe()
			var err error
			broker, err = start(o.verbose, pw, o.kfake)
			if err != nil {
				return res, err
			}
			defer broker.stop()
			addr, err := readLine(pr, kafkaRe, 10*time.Second)
			if err != nil {
				return res, err
			}
			go io.Copy(io.Discard, pr)
			args = append(args, "-kafka", addr, "-topic", "flows")
		}
	}
	p, err := start(o.verbose, nil, bin, args...)
	if err != nil {
		return res, err
	}
	addrText, err := p.waitLine(listeningRe, 20*time.Second)
	if err != nil {
		p.stop()
		return res, err
	}
	target, err := netip.ParseAddrPort(addrText)
	if err != nil {
		p.stop()
		return res, err
	}
	s, err := newSender(version, o.exporters, target)
	if err != nil {
		p.stop()
		return res, err
	}
	defer s.close()
	if err := s.sendTemplates(); err != nil {
		p.stop()
		return res, err
	}
	time.Sleep(300 * time.Millisecond)
	pid := p.cmd.Process.Pid
	var tracer *exec.Cmd
	var straceOut string
	if o.strace {
		if tracer, straceOut, err = attachStrace(pid); err != nil {
			p.stop()
			return res, err
		}
		defer os.Remove(straceOut)
	}
	warm := 0
	if o.warmup > 0 {
		if warm, err = s.send(rate, o.warmup); err != nil {
			p.stop()
			return res, err
		}
	}
	cpu0, err := cpuTime(pid)
	if err != nil {
		p.stop()
		return res, err
	}
	self0 := selfCPU()
	t0 := time.Now()
	sent, err := s.send(rate, o.duration)
	if err != nil {
		p.stop()
		return res, err
	}
	elapsed := time.Since(t0)
	res.sender = selfCPU() - self0
	// Wait for the collector to go idle: it has handled what it got.
	cpu1 := cpu0
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		time.Sleep(300 * time.Millisecond)
		c, err := cpuTime(pid)
		if err != nil {
			break
		}
		idle := c-cpu1 < 3*time.Millisecond
		cpu1 = c
		if idle {
			break
		}
	}
	res.cpu = cpu1 - cpu0
	if tracer != nil {
		tracer.Process.Signal(os.Interrupt) // detach and write the summary
		tracer.Wait()
	}
	res.datagrams = int64(sent)
	res.flows = int64(sent) * flowsPerDatagram
	res.achieved = float64(sent) / elapsed.Seconds()
	lines := p.stop()
	got, err := received(impl, lines, int64(s.templatesSent))
	if err != nil {
		return res, err
	}
	// The warm-up's flows are in the collector's count: what it lost of
	// them counts as lost in the measured window.
	res.lost = res.flows + int64(warm)*flowsPerDatagram - got
	res.drops = drops(lines)
	if o.strace {
		res.syscalls, err = readStrace(straceOut)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// sendOnly sends to a collector started by hand (to profile it, say).
func sendOnly(target string, o options) error {
	to, err := netip.ParseAddrPort(target)
	if err != nil {
		return err
	}
	s, err := newSender(o.versions[0], o.exporters, to)
	if err != nil {
		return err
	}
	defer s.close()
	if err := s.sendTemplates(); err != nil {
		return err
	}
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	sent, err := s.send(o.rates[0], o.duration)
	fmt.Printf("sent %d datagrams (%d flows) in %v\n", sent, sent*flowsPerDatagram, time.Since(t0).Round(time.Millisecond))
	return err
}

// attachStrace attaches strace -c -f to every thread of process pid and
// returns once it is attached; interrupting it writes its summary to the
// returned file.
func attachStrace(pid int) (*exec.Cmd, string, error) {
	f, err := os.CreateTemp("", "pipebench-strace")
	if err != nil {
		return nil, "", err
	}
	f.Close()
	// strace attaches to every thread of the process ("Process N attached
	// with M threads").
	cmd := exec.Command("strace", "-c", "-f", "-o", f.Name(), "-p", strconv.Itoa(pid))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("strace: %w", err)
	}
	line, err := readLine(stderr, regexp.MustCompile(`(attached)`), 10*time.Second)
	if err != nil || line == "" {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, "", fmt.Errorf("strace did not attach: %v", err)
	}
	go io.Copy(io.Discard, stderr)
	return cmd, f.Name(), nil
}

// readLine reads r until a line matches re and returns its first group.
func readLine(r io.Reader, re *regexp.Regexp, timeout time.Duration) (string, error) {
	found := make(chan string, 1)
	br := bufio.NewReader(r)
	go func() {
		for {
			line, err := br.ReadString('\n')
			if m := re.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				found <- m[1]
				return
			}
			if err != nil {
				close(found)
				return
			}
		}
	}()
	select {
	case s, ok := <-found:
		if !ok {
			return "", errors.New("no line matching " + re.String())
		}
		return s, nil
	case <-time.After(timeout):
		return "", errors.New("no line matching " + re.String())
	}
}

// received returns the flows a collector reported at exit (for bare, its
// datagrams but the templates, times the flows of a datagram).
func received(impl string, lines []string, templates int64) (int64, error) {
	// A Kafka run counts the flows delivered; without the flows line
	// (-kafka-record flow) a record is a flow.
	kafkaCount := deliveredRe
	if hasLine(lines, flowsDeliveredRe) {
		kafkaCount = flowsDeliveredRe
	}
	for _, line := range lines {
		var m []string
		switch impl {
		case "netflow":
			m = totalRe.FindStringSubmatch(line)
			if m != nil {
				m = m[1:]
			}
		case "netflow-kafka":
			m = kafkaCount.FindStringSubmatch(line)
		case "goflow2":
			m = gf2FlowsRe.FindStringSubmatch(line)
		case "bare":
			if m = sinkRe.FindStringSubmatch(line); m != nil {
				n, err := strconv.ParseInt(m[1], 10, 64)
				return (n - templates) * flowsPerDatagram, err
			}
		}
		if m != nil {
			return strconv.ParseInt(m[len(m)-1], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no count of flows in its output: %s", impl, strings.Join(lines, " | "))
}

// hasLine reports whether a line matches re.
func hasLine(lines []string, re *regexp.Regexp) bool {
	for _, line := range lines {
		if re.MatchString(line) {
			return true
		}
	}
	return false
}

// drops returns the netflow collector's dropped datagrams, those its
// queues refused and the kernel's, as "queue+kernel", or "".
func drops(lines []string) string {
	var queue, kernel string
	for _, line := range lines {
		if m := droppedRe.FindStringSubmatch(line); m != nil && queue == "" {
			queue = m[1]
		}
		if m := kernelRe.FindStringSubmatch(line); m != nil {
			kernel = m[1]
		}
	}
	if queue == "" {
		return ""
	}
	return queue + "+" + kernel
}

var (
	droppedRe = regexp.MustCompile(`^total: .* dropped (\d+),`)
	kernelRe  = regexp.MustCompile(`^kernel drops: (\d+)`)
)

// readStrace reads the calls column of strace -c's summary.
func readStrace(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	calls := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		// % time, seconds, usecs/call, calls, [errors], syscall
		if len(f) < 5 || f[len(f)-1] == "total" || f[len(f)-1] == "syscall" {
			continue
		}
		n, err := strconv.ParseInt(f[3], 10, 64)
		if err != nil {
			continue
		}
		calls[f[len(f)-1]] = n
	}
	return calls, nil
}

// sender sends the datagrams of several exporters, each from a connected
// UDP socket of its own.
type sender struct {
	version       string
	exporters     []*exporter
	template      []byte
	templatesSent int
}

// exporter is one exporter's socket and its ring of datagrams, whose
// sequence numbers it writes before each send.
type exporter struct {
	conn  *net.UDPConn
	pc    *ipv4.PacketConn
	ring  [][]byte
	msgs  []ipv4.Message
	seq   uint32
	batch int
}

const ringSize = 64

func newSender(version string, n int, target netip.AddrPort) (*sender, error) {
	s := &sender{version: version}
	var data []byte
	switch version {
	case "v5":
		data = testkit.V5(flowsPerDatagram)
	case "v9":
		s.template, data = testkit.V9Template(), testkit.V9Data(flowsPerDatagram)
	case "ipfix":
		s.template, data = testkit.IPFIXTemplate(), testkit.IPFIXData(flowsPerDatagram)
	default:
		return nil, fmt.Errorf("unknown version %q", version)
	}
	for i := range n {
		local := &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(1+i%250))}
		c, err := net.DialUDP("udp4", local, net.UDPAddrFromAddrPort(target))
		if err != nil {
			s.close()
			return nil, err
		}
		c.SetWriteBuffer(4 << 20)
		e := &exporter{conn: c, pc: ipv4.NewPacketConn(c)}
		for range ringSize {
			e.ring = append(e.ring, append([]byte(nil), data...))
		}
		e.msgs = make([]ipv4.Message, ringSize)
		for j := range e.msgs {
			e.msgs[j].Buffers = [][]byte{e.ring[j]}
		}
		s.exporters = append(s.exporters, e)
	}
	return s, nil
}

func (s *sender) close() {
	for _, e := range s.exporters {
		e.conn.Close()
	}
}

// sendTemplates sends each exporter's template datagram (v9, IPFIX).
func (s *sender) sendTemplates() error {
	if s.template == nil {
		return nil
	}
	for _, e := range s.exporters {
		if s.version == "v9" {
			binary.BigEndian.PutUint32(s.template[12:], e.seq)
			e.seq++
		}
		if _, err := e.conn.Write(s.template); err != nil {
			return err
		}
		s.templatesSent++
	}
	return nil
}

// stamp writes the next sequence number into datagram b: v5 counts flows,
// v9 datagrams, IPFIX data records.
func (s *sender) stamp(e *exporter, b []byte) {
	switch s.version {
	case "v5":
		binary.BigEndian.PutUint32(b[16:], e.seq)
		e.seq += flowsPerDatagram
	case "v9":
		binary.BigEndian.PutUint32(b[12:], e.seq)
		e.seq++
	case "ipfix":
		binary.BigEndian.PutUint32(b[8:], e.seq)
		e.seq += flowsPerDatagram
	}
}

// send sends rate datagrams a second for d, round robin over the
// exporters, each exporter's share of what is due in one sendmmsg, and
// returns the datagrams sent.
func (s *sender) send(rate int, d time.Duration) (int, error) {
	total := int(int64(rate) * int64(d) / int64(time.Second))
	start := time.Now()
	sent := 0
	next := 0 // the exporter of the next datagram
	for sent < total {
		due := min(int(time.Since(start).Nanoseconds()*int64(rate)/1e9)+1, total)
		if due <= sent {
			wake := start.Add(time.Duration(int64(sent) * 1e9 / int64(rate)))
			time.Sleep(time.Until(wake))
			continue
		}
		n := due - sent
		for _, e := range s.exporters {
			e.batch = 0
		}
		for i := range n {
			e := s.exporters[(next+i)%len(s.exporters)]
			if e.batch == ringSize {
				if err := e.flush(); err != nil {
					return sent, err
				}
			}
			b := e.ring[e.batch]
			s.stamp(e, b)
			e.batch++
		}
		next = (next + n) % len(s.exporters)
		for _, e := range s.exporters {
			if err := e.flush(); err != nil {
				return sent, err
			}
		}
		sent += n
	}
	return sent, nil
}

// flush sends the exporter's pending batch.
func (e *exporter) flush() error {
	msgs := e.msgs[:e.batch]
	for len(msgs) > 0 {
		k, err := e.pc.WriteBatch(msgs, 0)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				continue // an ICMP error of an earlier datagram
			}
			return err
		}
		msgs = msgs[k:]
	}
	e.batch = 0
	return nil
}
