package reverify

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/reverify/report"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

const miB = 1 << 20

// scale is the size of a simulated cluster: ReplicaSets of PodsPerSet
// Pods each, spread over Namespaces, running Images distinct images of
// which the last Unsigned have no signature. ReplicaSet i runs image
// i mod Images; every fourth also has an init container running another.
type scale struct {
	Namespaces, ReplicaSets, PodsPerSet, Images, Unsigned int
}

// scaleNamespace is signet's own namespace (the Lease's).
const scaleNamespace = "signet-system"

// figures is what one measurement found.
type figures struct {
	Pods, Images, Workloads, Evaluations int
	// Baseline is the RSS of signet serve without re-verification.
	Baseline int64
	// Start-up round: from the process's start to its log line; the
	// round's own seconds (its log line); CPU seconds of the process from
	// its start; registry requests (the registry's count and signet's
	// metric); RSS and peak after it.
	FirstWall, FirstRound, FirstCPU float64
	FirstRequests, FirstMetric      int64
	RSS, Peak                       int64
	Reports, Results, Fails         int
	// The round the policy change triggered: from the file's rewrite to
	// its log line; its own seconds; CPU seconds and registry requests
	// during it; RSS and peak after it.
	SecondWall, SecondRound, SecondCPU float64
	SecondRequests, SecondMetric       int64
	RSS2, Peak2                        int64
}

// TestScale measures the re-verifier at 10,000 Pods (1,000 ReplicaSets of
// 10, in 10 namespaces) and 800 images; `make bench-reverify` runs it and
// docs/benchmarks.md records its figures. It takes minutes, so it runs
// only with SIGNET_REVERIFY_SCALE set. With SIGNET_REVERIFY_PPROF=DIR it
// also saves a CPU profile of the start-up round and a heap profile after
// it there.
func TestScale(t *testing.T) {
	if os.Getenv("SIGNET_REVERIFY_SCALE") == "" {
		t.Skip("set SIGNET_REVERIFY_SCALE (make bench-reverify) to measure re-verification at 10,000 Pods")
	}
	f := measure(t, scale{Namespaces: 10, ReplicaSets: 1000, PodsPerSet: 10, Images: 800, Unsigned: 8}, os.Getenv("SIGNET_REVERIFY_PPROF"))
	t.Logf("re-verification, %d Pods, %d images, %d workloads, %d evaluations (%d CPUs, %s/%s)", f.Pods, f.Images, f.Workloads, f.Evaluations, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	t.Logf("baseline RSS (--reverify-interval 0): %.1f MiB", mib(f.Baseline))
	t.Logf("after the start-up round: RSS %.1f MiB, peak %.1f MiB; per Pod (RSS - baseline)/Pods: %.1f KiB", mib(f.RSS), mib(f.Peak), float64(f.RSS-f.Baseline)/float64(f.Pods)/1024)
	t.Logf("start-up round: %.1f s from start, round %.1f s, CPU %.1f s, registry requests %d (metric %d), PolicyReports %d (%d results, %d fail)",
		f.FirstWall, f.FirstRound, f.FirstCPU, f.FirstRequests, f.FirstMetric, f.Reports, f.Results, f.Fails)
	t.Logf("policy-change round: %.1f s from the rewrite, round %.1f s, CPU %.1f s, registry requests %d (metric %d); RSS %.1f MiB, peak %.1f MiB",
		f.SecondWall, f.SecondRound, f.SecondCPU, f.SecondRequests, f.SecondMetric, mib(f.RSS2), mib(f.Peak2))
}

// Bounds of TestScaleSmall.
const (
	// requestsPerImage bounds the registry requests one image's
	// verification makes. Measured: 175–180 for 80 images (1,632 for 800),
	// about two each: images are pinned by digest, so none is resolved,
	// and each is verified once however many Pods and namespaces use it.
	requestsPerImage = 4
	// maxGrowth bounds the RSS the re-verifier adds, at 1,000 Pods, to
	// signet serve without it. Measured: 41–54 MiB (the baseline itself
	// varies from 16 to 33 MiB between runs), most of it the same at
	// 10,000 Pods (the API clients, leader election, the Event
	// broadcaster, the verifiers' first use, the Go heap's headroom; see
	// docs/benchmarks.md); the trimmed objects are under 1 KiB each. The
	// bound catches a cost per Pod gone wrong: lists read whole, as an
	// informer reads them, cost 430 MiB at 10,000 Pods.
	maxGrowth = 96 * miB
)

// TestScaleSmall is TestScale at a tenth of the size, as make test runs
// it: 1,000 Pods, 80 images. It checks counts, never times: one report
// per ReplicaSet with one result per container, a fail for each unsigned
// image, every (namespace, image) evaluated, each distinct image fetched
// from the registry once (requestsPerImage), the policy-change round
// answered from the cache, and the memory the re-verifier adds under
// maxGrowth.
func TestScaleSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and signet serve")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads the process's memory and CPU from /proc")
	}
	t.Parallel()
	sc := scale{Namespaces: 10, ReplicaSets: 100, PodsPerSet: 10, Images: 80, Unsigned: 2}
	f := measure(t, sc, "")
	wantEvals, wantResults, wantFails := sc.expected()
	if f.Workloads != sc.ReplicaSets || f.Evaluations != wantEvals {
		t.Errorf("start-up round: %d workloads, %d evaluations; want %d, %d", f.Workloads, f.Evaluations, sc.ReplicaSets, wantEvals)
	}
	if f.Reports != sc.ReplicaSets || f.Results != wantResults || f.Fails != wantFails {
		t.Errorf("PolicyReports: %d with %d results, %d fail; want %d with %d, %d fail", f.Reports, f.Results, f.Fails, sc.ReplicaSets, wantResults, wantFails)
	}
	if limit := int64(sc.Images * requestsPerImage); f.FirstRequests > limit {
		t.Errorf("start-up round: %d registry requests for %d images, want at most %d", f.FirstRequests, sc.Images, limit)
	}
	if f.FirstRequests < int64(sc.Images) {
		t.Errorf("start-up round: %d registry requests for %d images: not every image was fetched", f.FirstRequests, sc.Images)
	}
	// Results younger than the interval are reused: the policy change
	// fetches nothing that the start-up round fetched.
	if f.SecondRequests > int64(sc.Unsigned*requestsPerImage) {
		t.Errorf("policy-change round: %d registry requests, want at most %d (the unsigned images', if failures are not cached)", f.SecondRequests, sc.Unsigned*requestsPerImage)
	}
	if growth := f.RSS - f.Baseline; growth > maxGrowth {
		t.Errorf("RSS after the start-up round %.1f MiB, baseline %.1f MiB: grew %.1f MiB, want at most %.0f", mib(f.RSS), mib(f.Baseline), mib(growth), mib(maxGrowth))
	}
	t.Logf("%d Pods: baseline %.1f MiB, RSS %.1f MiB (peak %.1f), start-up round %.1f s (CPU %.1f s, %d registry requests), policy round %.1f s (CPU %.1f s, %d requests)",
		f.Pods, mib(f.Baseline), mib(f.RSS), mib(f.Peak), f.FirstRound, f.FirstCPU, f.FirstRequests, f.SecondRound, f.SecondCPU, f.SecondRequests)
}

// mainImage and initImage are the images of ReplicaSet i (initImage -1:
// none).
func (sc scale) mainImage(i int) int { return i % sc.Images }
func (sc scale) initImage(i int) int {
	if i%4 != 0 {
		return -1
	}
	return (i/4*7 + 3) % sc.Images
}
func (sc scale) namespace(i int) string { return fmt.Sprintf("team-%d", i%sc.Namespaces) }
func (sc scale) signed(img int) bool    { return img < sc.Images-sc.Unsigned }

// expected returns the evaluations a round makes (distinct namespace and
// image pairs), the results of all reports (a result per container of
// each ReplicaSet) and how many of them fail.
func (sc scale) expected() (evals, results, fails int) {
	pairs := map[string]bool{}
	for i := range sc.ReplicaSets {
		for _, img := range []int{sc.mainImage(i), sc.initImage(i)} {
			if img < 0 {
				continue
			}
			pairs[sc.namespace(i)+"/"+strconv.Itoa(img)] = true
			results++
			if !sc.signed(img) {
				fails++
			}
		}
	}
	return len(pairs), results, fails
}

// measure builds the cluster sc describes in a real API server, then runs
// signet serve against it without and with re-verification.
func measure(t *testing.T, sc scale, pprofDir string) *figures {
	t.Helper()
	ctx := context.Background()
	env, cfg := harness.StartAPIServer(t, crdDir)
	kubeconfig := harness.Kubeconfig(t, env, envtest.User{Name: "admin", Groups: []string{"system:masters"}})

	// The images, in the in-process registry of internal/testutil, signed
	// in process (a cosign legacy signature each).
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	images := make([]name.Digest, sc.Images)
	parallel(t, sc.Images, 8, func(j int) error {
		d, err := fixture.PushImage(fmt.Sprintf("%s/scale/app-%03d:v1", reg.Host, j))
		if err == nil && sc.signed(j) {
			err = fixture.SignLegacy(d, key.Key)
		}
		images[j] = d
		return err
	})

	started := time.Now()
	fast := rest.CopyConfig(cfg)
	fast.QPS, fast.Burst = 2000, 4000
	cs := kubernetes.NewForConfigOrDie(fast)
	for _, ns := range append([]string{scaleNamespace}, namespaces(sc)...) {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	spec := func(i int) corev1.PodSpec {
		s := corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: images[sc.mainImage(i)].String()}}}
		if j := sc.initImage(i); j >= 0 {
			s.InitContainers = []corev1.Container{{Name: "setup", Image: images[j].String()}}
		}
		return s
	}
	sets := make([]*appsv1.ReplicaSet, sc.ReplicaSets)
	parallel(t, sc.ReplicaSets, 16, func(i int) error {
		n := int32(sc.PodsPerSet)
		labels := map[string]string{"app": fmt.Sprintf("rs-%04d", i)}
		rs, err := cs.AppsV1().ReplicaSets(sc.namespace(i)).Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: labels["app"]},
			Spec: appsv1.ReplicaSetSpec{Replicas: &n, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec(i)}},
		}, metav1.CreateOptions{})
		sets[i] = rs
		return err
	})
	yes := true
	parallel(t, sc.ReplicaSets*sc.PodsPerSet, 32, func(k int) error {
		i := k / sc.PodsPerSet
		rs := sets[i]
		_, err := cs.CoreV1().Pods(rs.Namespace).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%02d", rs.Name, k%sc.PodsPerSet), Labels: rs.Spec.Selector.MatchLabels,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
			Spec: spec(i),
		}, metav1.CreateOptions{})
		return err
	})
	t.Logf("%d ReplicaSets and %d Pods created in %s", sc.ReplicaSets, sc.ReplicaSets*sc.PodsPerSet, time.Since(started).Round(time.Millisecond))

	policy := testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/scale/**", validator: signed}
`)
	args := []string{"--kubeconfig", kubeconfig, "--namespace", scaleNamespace, "--reload-interval", "500ms", "--decision-log", "off"}
	f := &figures{Pods: sc.ReplicaSets * sc.PodsPerSet, Images: sc.Images}

	// Baseline: the same cluster, no re-verification.
	base := harness.StartServe(t, policy, append(args, "--reverify-interval", "0")...)
	time.Sleep(3 * time.Second)
	f.Baseline, _ = base.Memory(t)
	stop(t, base)

	// With re-verification: the start-up round.
	reg.Reset()
	t0 := time.Now()
	s := harness.StartServe(t, policy, append(args, "--reverify-interval", "1h", "--profiling")...)
	var profiled sync.WaitGroup
	if pprofDir != "" {
		profiled.Go(func() { saveProfile(t, s, "profile?seconds=60", filepath.Join(pprofDir, "cpu.pprof")) })
	}
	first := waitRound(t, s, 1, sc.timeout())
	f.FirstWall = time.Since(t0).Seconds()
	f.FirstCPU = cpuSeconds(t, s.PID())
	f.FirstRequests, f.FirstMetric = reg.Requests(), registryRequests(t, s)
	f.RSS, f.Peak = s.Memory(t)
	f.Workloads, f.Evaluations, f.FirstRound = int(first["workloads"].(float64)), int(first["evaluations"].(float64)), first["seconds"].(float64)
	if pprofDir != "" {
		saveProfile(t, s, "heap?gc=1", filepath.Join(pprofDir, "heap.pprof"))
		profiled.Wait()
	}
	f.Reports, f.Results, f.Fails = countReports(t, dynamic.NewForConfigOrDie(fast))

	// The policy rewritten, equivalent: the engine is recompiled, a round
	// follows (trigger "policy").
	reg.Reset()
	cpu, metric := cpuSeconds(t, s.PID()), registryRequests(t, s)
	t1 := time.Now()
	harness.ReplaceFile(t, s.PolicyFile, []byte("# the same rules, re-read\n"+policy))
	second := waitRound(t, s, 2, sc.timeout())
	f.SecondWall = time.Since(t1).Seconds()
	if second["trigger"] != "policy" {
		t.Errorf("second round's trigger: %v, want policy", second["trigger"])
	}
	f.SecondRound = second["seconds"].(float64)
	f.SecondCPU = cpuSeconds(t, s.PID()) - cpu
	f.SecondRequests, f.SecondMetric = reg.Requests(), registryRequests(t, s)-metric
	f.RSS2, f.Peak2 = s.Memory(t)
	if n := s.Log.Count(`"level":"ERROR"`); n > 0 {
		t.Errorf("signet logged %d errors:\n%s", n, s.Log.String())
	}
	return f
}

// namespaces returns the namespaces of sc's workloads.
func namespaces(sc scale) []string {
	var out []string
	for i := range sc.Namespaces {
		out = append(out, sc.namespace(i))
	}
	return out
}

// parallel calls f(0) … f(n-1), workers at a time, and fails t on the
// first error.
func parallel(t *testing.T, n, workers int, f func(int) error) {
	t.Helper()
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%d: %w", i, err))
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d failed, first: %v", len(errs), n, errs[0])
	}
}

// stop stops a signet serve process (SIGTERM) and waits for it.
func stop(t *testing.T, s *harness.Serve) {
	t.Helper()
	s.Signal(t, syscall.SIGTERM)
	if _, ok := s.Wait(30 * time.Second); !ok {
		t.Fatal("signet serve did not stop within 30 s of SIGTERM")
	}
}

// waitRound waits for the nth "re-verification round" log line and
// returns it decoded.
func waitRound(t *testing.T, s *harness.Serve, n int, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var rounds []map[string]any
		for line := range strings.Lines(s.Log.String()) {
			if !strings.Contains(line, `"msg":"re-verification round"`) {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			rounds = append(rounds, m)
		}
		if len(rounds) >= n {
			return rounds[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no re-verification round %d within %s\n%s", n, timeout, s.Log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// cpuSeconds returns the CPU time (user and system) of process pid so far,
// from /proc/PID/stat (in clock ticks of 1/100 s: Linux's USER_HZ).
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command (in parentheses, which may hold
	// spaces): state is the first, utime the 12th, stime the 13th.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	utime, err1 := strconv.ParseInt(fields[11], 10, 64)
	stime, err2 := strconv.ParseInt(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	return float64(utime+stime) / 100
}

// registryRequests sums signet_registry_requests_total over its labels.
func registryRequests(t *testing.T, s *harness.Serve) int64 {
	t.Helper()
	var n float64
	sc := bufio.NewScanner(strings.NewReader(s.Metrics(t)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "signet_registry_requests_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		n += v
	}
	return int64(n)
}

// countReports returns the PolicyReports signet wrote, their results and
// the failed ones among them.
func countReports(t *testing.T, dc dynamic.Interface) (reports, results, fails int) {
	t.Helper()
	opts := metav1.ListOptions{LabelSelector: report.LabelManagedBy + "=signet", Limit: 500}
	for {
		list, err := dc.Resource(report.Resource).List(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.Items {
			reports++
			rs, _, _ := unstructured.NestedSlice(r.Object, "results")
			for _, x := range rs {
				results++
				if m, _ := x.(map[string]any); m["result"] == "fail" {
					fails++
				}
			}
		}
		if opts.Continue = list.GetContinue(); opts.Continue == "" {
			return reports, results, fails
		}
	}
}

// saveProfile saves /debug/pprof/<what> of s to file.
func saveProfile(t *testing.T, s *harness.Serve, what, file string) {
	resp, err := http.Get("http://" + s.MetricsAddr + "/debug/pprof/" + what)
	if err != nil {
		t.Errorf("profile %s: %v", what, err)
		return
	}
	defer resp.Body.Close()
	out, err := os.Create(file)
	if err == nil {
		_, err = io.Copy(out, resp.Body)
		err = errors.Join(err, out.Close())
	}
	if err != nil {
		t.Errorf("profile %s: %v", what, err)
	}
}

func mib(b int64) float64 { return float64(b) / miB }

// timeout bounds a round of sc: generous, a bound for a hung test, not a
// measure (3 minutes at 1,000 Pods, 30 at 10,000).
func (sc scale) timeout() time.Duration {
	if sc.ReplicaSets*sc.PodsPerSet > 1000 {
		return 30 * time.Minute
	}
	return 3 * time.Minute
}
