package cli

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/signet-dev/signet/internal/reverify"
	"github.com/signet-dev/signet/internal/reverify/report"
)

// reverifyFlags are signet serve's re-verification flags.
type reverifyFlags struct {
	interval           time.Duration
	concurrency        int
	action             string
	evictionsPerMinute int
	policyReports      bool
	lease              string
	keyCheckInterval   time.Duration
}

// The values of --reverify-action.
const (
	reverifyReport = "report"
	reverifyEvict  = "evict"
)

func (f *reverifyFlags) addFlags(fl *pflag.FlagSet) {
	fl.DurationVar(&f.interval, "reverify-interval", reverify.DefaultInterval, "re-verify the images of running Pods and workloads this often (jittered by 10%), at once when the policy or a key changes, on the replica holding the lease; cached verified results older than this are not used (0: no re-verification)")
	fl.IntVar(&f.concurrency, "reverify-concurrency", reverify.DefaultConcurrency, "images re-verified at once")
	fl.StringVar(&f.action, "reverify-action", reverifyReport, "what a failed re-verification does besides reports, Events, metrics and alerts: report (nothing more) or evict (evict the Pod through the Eviction API, respecting PodDisruptionBudgets; never in excluded namespaces)")
	fl.IntVar(&f.evictionsPerMinute, "reverify-evictions-per-minute", reverify.DefaultEvictionsPerMinute, "with --reverify-action=evict, Pods evicted a minute at most")
	fl.BoolVar(&f.policyReports, "reverify-policy-reports", true, "write a PolicyReport (wgpolicyk8s.io/v1alpha2) per workload with the re-verification results (skipped, with a warning, when its CRD is not installed)")
	fl.StringVar(&f.lease, "reverify-lease", reverify.DefaultLeaseName, "the coordination.k8s.io Lease, in --namespace, that elects the replica that re-verifies")
	fl.DurationVar(&f.keyCheckInterval, "key-check-interval", 30*time.Second, "how often keys in Secrets (k8s://) and KMS are read again: a rotated key is used, and running images re-verified, at once (0: only when a key's cache expires, every 5 minutes)")
}

func (f *reverifyFlags) check() error {
	switch {
	case f.action != reverifyReport && f.action != reverifyEvict:
		return usageError("--reverify-action: want %s or %s, got %q", reverifyReport, reverifyEvict, f.action)
	case f.interval < 0:
		return usageError("--reverify-interval: must not be negative (0 disables re-verification)")
	case f.concurrency < 1 || f.concurrency > 256:
		return usageError("--reverify-concurrency: want 1 to 256, got %d", f.concurrency)
	case f.evictionsPerMinute < 1 || f.evictionsPerMinute > 6000:
		return usageError("--reverify-evictions-per-minute: want 1 to 6000, got %d", f.evictionsPerMinute)
	case f.keyCheckInterval < 0:
		return usageError("--key-check-interval: must not be negative")
	case f.lease == "":
		return usageError("--reverify-lease: must not be empty")
	}
	return nil
}

// options returns the re-verifier's options, nil when it is off. rc is the
// API's config.
func (f *reverifyFlags) options(rc *rest.Config, namespace string, log *slog.Logger) (*reverify.Options, error) {
	if f.interval == 0 {
		return nil, nil
	}
	// Its own client and rate limit: lists, report writes and evictions
	// never wait behind admission's reads.
	c := rest.CopyConfig(rc)
	c.QPS, c.Burst = 20, 40
	client, err := dynamic.NewForConfig(c)
	if err != nil {
		return nil, err
	}
	// The Lease holder's identity must be unique among replicas: the Pod
	// name is; outside a Pod, the host name and a random suffix (two
	// processes on one host must not both believe they lead).
	id := os.Getenv("POD_NAME")
	if id == "" {
		host, _ := os.Hostname()
		id = fmt.Sprintf("%s_%08x", host, rand.Uint32())
	}
	o := &reverify.Options{
		Client: client, Config: c, Namespace: namespace, Identity: id, LeaseName: f.lease,
		Interval: f.interval, Concurrency: f.concurrency,
		Evict: f.action == reverifyEvict, EvictionsPerMinute: f.evictionsPerMinute,
	}
	if f.policyReports {
		o.Reporter = report.New(client, report.Options{Log: log})
	}
	return o, nil
}
