package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/fixture"
)

type config struct {
	signet   string
	dur      time.Duration
	rates    []int
	workers  int
	burstN   int
	coldN    int
	coldAdm  int
	write    string
	cacheTTL string
	soak     int
	cpuprof  string
	extra    string
}

func main() {
	// The load generator's own collections would show up as latency it
	// measures: collect rarely (it keeps only latencies).
	debug.SetGCPercent(800)
	var c config
	var rates string
	flag.StringVar(&c.signet, "signet", "bin/signet", "signet binary to measure")
	flag.DurationVar(&c.dur, "duration", 10*time.Second, "length of each fixed-rate and saturation run")
	flag.StringVar(&rates, "rates", "100,1000", "fixed request rates (per second), comma-separated")
	flag.IntVar(&c.workers, "workers", 64, "concurrent clients for the saturation run")
	flag.IntVar(&c.burstN, "burst", 500, "concurrent admissions of one uncached image")
	flag.IntVar(&c.coldN, "cold", 10, "uncached images verified one by one per trust-root count")
	flag.IntVar(&c.coldAdm, "cold-admissions", 200, "never-seen images, each in its own repository, admitted one by one per cold admission variant")
	flag.IntVar(&c.soak, "soak", 0, "instead of the benchmark, send this many admissions (cached, uncached and denied) and sample RSS and goroutines")
	flag.StringVar(&c.extra, "serve-args", "", "more arguments for signet serve, space-separated (e.g. \"--release-startup-pages=false\")")
	flag.StringVar(&c.cpuprof, "cpuprofile", "", "write a CPU profile of signet serve during the saturation run to this file (starts it with --profiling)")
	flag.StringVar(&c.write, "write", "", "Markdown file whose generated section is replaced with the results (docs/benchmarks.md)")
	flag.StringVar(&serveStderr, "serve-stderr", "", "append signet serve's standard error (its log; GODEBUG=gctrace=1 output) to this file")
	noop := flag.String("noop-server", "", "internal: serve the do-nothing handler with CERT,KEY (the ceiling run starts it)")
	flag.Parse()
	if *noop != "" {
		if err := noopServer(*noop); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	for _, r := range strings.Split(rates, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "bench: bad rate %q\n", r)
			os.Exit(2)
		}
		c.rates = append(c.rates, n)
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	dir, err := os.MkdirTemp("", "signet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	reg, err := startRegistry()
	if err != nil {
		return err
	}
	rootCounts := []int{1, 3, 10}
	signer, err := fixture.NewKey()
	if err != nil {
		return err
	}
	var pol strings.Builder
	// The load generator's registry speaks plain HTTP on loopback.
	fmt.Fprintf(&pol, "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\ninsecureRegistries: [%q]\nvalidators:\n", reg.host)
	for _, n := range rootCounts {
		fmt.Fprintf(&pol, "- name: roots%d\n  type: cosign\n  trustRoots:\n", n)
		for i := range n {
			k := signer // the valid key is tried last
			if i < n-1 {
				if k, err = fixture.NewKey(); err != nil {
					return err
				}
			}
			fmt.Fprintf(&pol, "  - name: k%d\n    key: |\n      %s\n", i, strings.ReplaceAll(strings.TrimSpace(k.PEM), "\n", "\n      "))
		}
	}
	head := pol.String()
	coldRuleYAML, fellBack, err := coldRules(c.signet, dir, head, reg.host, "roots1")
	if err != nil {
		return err
	}
	pol.WriteString("rules:\n" + coldRuleYAML)
	for _, n := range rootCounts {
		fmt.Fprintf(&pol, "- pattern: %q\n  validator: roots%d\n  with: {trustRoot: \"*\"}\n", reg.host+"/r"+strconv.Itoa(n)+"/**", n)
	}
	polFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polFile, []byte(pol.String()), 0o600); err != nil {
		return err
	}
	push := func(ref string) (name.Digest, error) {
		d, err := fixture.PushImage(reg.host + "/" + ref)
		if err != nil {
			return d, err
		}
		return d, fixture.SignLegacy(d, signer)
	}
	fmt.Fprintln(os.Stderr, "bench: pushing and signing images...")
	for _, n := range rootCounts {
		for i := range c.coldN {
			if _, err := push(fmt.Sprintf("r%d/app:cold-%d", n, i)); err != nil {
				return err
			}
		}
	}
	if c.soak == 0 {
		if err := pushCold(reg.host, signer, c.coldAdm); err != nil {
			return err
		}
	}
	for _, ref := range []string{"r1/app:burst", "r1/app:warm"} {
		if _, err := push(ref); err != nil {
			return err
		}
	}

	if c.soak > 0 {
		if _, err := fixture.PushImage(reg.host + "/r1/app:unsigned"); err != nil {
			return err
		}
		return soak(c, reg, dir, polFile)
	}
	extra := strings.Fields(c.extra)
	if c.cpuprof != "" {
		extra = append(extra, "--profiling")
	}
	srv, err := startSignet(c.signet, dir, polFile, extra...)
	if err != nil {
		return err
	}
	defer srv.stop()
	cl := newClient(srv.addr, srv.cert, c.workers*2)
	res := results{cfg: c}
	time.Sleep(time.Second)
	res.rssIdle = srv.rss()

	fmt.Fprintln(os.Stderr, "bench: cold admissions...")
	cpu0, conns0 := srv.cpu(), reg.conns.Load()
	if res.coldAdmissions, err = measureCold(cl, reg, c.coldAdm, fellBack); err != nil {
		return err
	}
	if n := len(res.coldAdmissions) * c.coldAdm; n > 0 {
		res.coldCPU = (srv.cpu() - cpu0) / time.Duration(n)
	}
	res.coldConns = reg.conns.Load() - conns0
	fmt.Fprintln(os.Stderr, "bench: cold verifications...")
	for _, n := range rootCounts {
		var lat []time.Duration
		var reqs []int64
		for i := range c.coldN {
			before := reg.requests.Load()
			d, ok, err := cl.admit(context.Background(), cl.review(fmt.Sprintf("%s/r%d/app:cold-%d", reg.host, n, i)))
			if err != nil || !ok {
				return fmt.Errorf("cold admission (%d roots): allowed=%v err=%v", n, ok, err)
			}
			lat = append(lat, d)
			reqs = append(reqs, reg.requests.Load()-before)
		}
		res.cold = append(res.cold, coldResult{roots: n, stats: summarise(lat, 0, 0, 0), requests: reqs})
	}

	fmt.Fprintln(os.Stderr, "bench: burst of", c.burstN, "admissions of one uncached image...")
	v0, err := srv.verifications()
	if err != nil {
		return err
	}
	r0 := reg.requests.Load()
	bs, err := burst(cl, reg.host+"/r1/app:burst", c.burstN)
	if err != nil {
		return fmt.Errorf("burst: %w", err)
	}
	v1, err := srv.verifications()
	if err != nil {
		return err
	}
	res.burst, res.burstVerifications, res.burstRequests = bs, v1-v0, reg.requests.Load()-r0
	res.rssBurst = srv.rss()

	warm := reg.host + "/r1/app:warm"
	if _, ok, err := cl.admit(context.Background(), cl.review(warm)); err != nil || !ok {
		return fmt.Errorf("priming the warm image: allowed=%v err=%v", ok, err)
	}
	for _, rate := range c.rates {
		fmt.Fprintf(os.Stderr, "bench: %d req/s for %s...\n", rate, c.dur)
		stop := srv.sampleRSS()
		s, err := fixedRate(cl, warm, rate, c.dur)
		if err != nil {
			return fmt.Errorf("%d req/s: %w", rate, err)
		}
		res.rates = append(res.rates, rateResult{rate: rate, stats: s, rssMax: stop()})
	}
	fmt.Fprintf(os.Stderr, "bench: saturating with %d clients for %s...\n", c.workers, c.dur)
	stop := srv.sampleRSS()
	prof := srv.cpuProfile(c.cpuprof, c.dur)
	srvCPU0, cliCPU0 := srv.cpu(), selfCPU()
	s, err := saturate(cl, warm, c.workers, c.dur)
	if s.n > 0 {
		res.serverCPU = (srv.cpu() - srvCPU0) / time.Duration(s.n)
		res.clientCPU = (selfCPU() - cliCPU0) / time.Duration(s.n)
	}
	if err := prof(); err != nil {
		return fmt.Errorf("CPU profile: %w", err)
	}
	if err != nil {
		return fmt.Errorf("saturation: %w", err)
	}
	res.saturated, res.rssSaturated = s, stop()
	res.rssAfter = srv.rss()
	fmt.Fprintf(os.Stderr, "bench: a do-nothing HTTPS handler, same client, %d clients for %s...\n", c.workers, c.dur)
	if res.ceiling, res.ceilingRate, err = ceiling(dir, c.workers, c.rates[len(c.rates)-1], c.dur); err != nil {
		return fmt.Errorf("ceiling: %w", err)
	}

	// The same warm load on a second signet whose Redis is unreachable: the
	// circuit breaker must keep latency where it is without Redis.
	dead, err := freeAddr() // nothing listens there once freeAddr returns
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: %d req/s with Redis unreachable...\n", c.rates[len(c.rates)-1])
	srv2, err := startSignet(c.signet, dir, polFile, "--redis-url", "redis://"+dead+"/0")
	if err != nil {
		return err
	}
	defer srv2.stop()
	cl2 := newClient(srv2.addr, srv2.cert, c.workers*2)
	if _, ok, err := cl2.admit(context.Background(), cl2.review(warm)); err != nil || !ok {
		return fmt.Errorf("priming the warm image (Redis down): allowed=%v err=%v", ok, err)
	}
	rd, err := fixedRate(cl2, warm, c.rates[len(c.rates)-1], c.dur)
	if err != nil {
		return fmt.Errorf("Redis down: %w", err)
	}
	res.redisDown = rateResult{rate: c.rates[len(c.rates)-1], stats: rd}

	report := res.markdown()
	fmt.Print(report)
	if c.write != "" {
		return replaceSection(c.write, report)
	}
	return nil
}

// serveStderr names a file for signet serve's standard error (-serve-stderr).
var serveStderr string

// signetProc is the signet serve process under test.
type signetProc struct {
	cmd         *exec.Cmd
	addr, maddr string
	cert        []byte
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startSignet(bin, dir, polFile string, extra ...string) (*signetProc, error) {
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		return nil, err
	}
	cert, key := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(cert, certPEM, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	maddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"serve", "--policy", polFile, "--tls-cert", cert, "--tls-key", key, "--addr", addr, "--metrics-addr", maddr}, extra...)
	cmd := exec.Command(bin, args...)
	// The decision log is produced, not kept: nil is /dev/null itself (an
	// io.Writer would be a pipe this process copies from).
	cmd.Stdout, cmd.Stderr = nil, nil
	if serveStderr != "" {
		f, err := os.OpenFile(serveStderr, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close() // the child has its own copy once started
		cmd.Stderr = f
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &signetProc{cmd: cmd, addr: addr, maddr: maddr, cert: certPEM}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + maddr + "/metrics"); err == nil {
			resp.Body.Close()
			return p, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s serve did not start", bin)
}

// cpuProfile starts a CPU profile of the server lasting about d, to be
// written to file by the function it returns (which waits for it). An
// empty file profiles nothing.
func (p *signetProc) cpuProfile(file string, d time.Duration) func() error {
	if file == "" {
		return func() error { return nil }
	}
	errc := make(chan error, 1)
	go func() {
		secs := max(1, int(d.Seconds())-1)
		resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", p.maddr, secs))
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
		}
		if err == nil {
			err = os.WriteFile(file, b, 0o644)
		}
		errc <- err
	}()
	return func() error { return <-errc }
}

func (p *signetProc) stop() {
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
	}
}

// cpu returns the process's CPU time so far (user + system).
func (p *signetProc) cpu() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)        // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64)        // stime, field 15
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// selfCPU returns this process's CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rss returns the process's resident set size in bytes.
func (p *signetProc) rss() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// sampleRSS samples the RSS every 100 ms until the returned function is
// called, which returns the maximum.
func (p *signetProc) sampleRSS() func() int64 {
	done := make(chan struct{})
	out := make(chan int64, 1)
	go func() {
		var m int64
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			m = max(m, p.rss())
			select {
			case <-done:
				out <- m
				return
			case <-t.C:
			}
		}
	}()
	return func() int64 { close(done); return <-out }
}

// verifications reads how many uncached verifications signet has run.
func (p *signetProc) verifications() (int64, error) {
	resp, err := http.Get("http://" + p.maddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var total int64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "signet_verification_duration_seconds_count") {
			f := strings.Fields(line)
			n, _ := strconv.ParseFloat(f[len(f)-1], 64)
			total += int64(n)
		}
	}
	return total, sc.Err()
}
