package reverify

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	coordinationv1 "k8s.io/client-go/kubernetes/typed/coordination/v1"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// Defaults.
const (
	DefaultInterval           = time.Hour
	DefaultConcurrency        = 4
	DefaultTimeout            = 30 * time.Second
	DefaultLeaseName          = "signet-reverifier"
	DefaultEvictionsPerMinute = 10
	// Jitter is the fraction of the interval a scheduled round moves by,
	// either way, so that replicas restarted together do not hit the
	// registries together.
	Jitter = 0.1
	// policyPoll is how often the leader looks for a new policy engine.
	policyPoll = time.Second
)

// Keychains builds the registry credentials of a workload: its pull
// secrets and its service account's (kube.Keychains).
type Keychains interface {
	Workload(ctx context.Context, namespace, serviceAccount string, pullSecrets []string) (*registry.Keychain, error)
}

// Options configure a Reverifier.
type Options struct {
	// Engine returns the policy engine in force (nil: none yet).
	Engine func() *policy.Engine
	// Client reads Pods and workloads, and evicts; Config makes the Lease
	// and Event clients.
	Client dynamic.Interface
	Config *rest.Config
	// Namespace holds the Lease (signet's own); Identity names this
	// replica in it (its Pod name).
	Namespace, Identity string
	LeaseName           string // default DefaultLeaseName
	// Lease timings (client-go's leaderelection); defaults 15s, 10s, 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// Interval between scheduled rounds (jittered by Jitter); cached
	// verified results older than it are not used. Default
	// DefaultInterval.
	Interval time.Duration
	// Concurrency bounds the images evaluated at once. Default
	// DefaultConcurrency.
	Concurrency int
	// Timeout bounds one image's evaluation. Default DefaultTimeout.
	Timeout time.Duration
	// Excluded namespaces are never re-verified, reported on or evicted
	// from.
	Excluded []string
	// Keychains, when set, gives each evaluation its workload's registry
	// credentials (as admission does).
	Keychains Keychains
	// Reporter, when set, publishes each workload's results.
	Reporter Reporter
	// Events, when set (default: on with Config), records
	// ImageNoLongerTrusted Events.
	Events EventRecorder
	// Decisions receives a record per workload whose results changed
	// (the audit log).
	Decisions decisionlog.Sink
	// Alerts is told of workloads whose images fail.
	Alerts *alert.Alerter
	// Evict, when set, evicts Pods whose images fail, at most
	// EvictionsPerMinute a minute (default DefaultEvictionsPerMinute).
	Evict              bool
	EvictionsPerMinute int
	Metrics            *metrics.Metrics
	Log                *slog.Logger
	Now                func() time.Time
}

// Reverifier re-verifies the images of running workloads.
type Reverifier struct {
	opts    Options
	trigger chan string
	state   *state
	// untrusted holds the UIDs of workload objects with a failing image
	// (read by admission; replaced after each round).
	untrusted atomic.Pointer[map[string]struct{}]
	evictor   *evictor
}

// New checks opts and returns a Reverifier (not running).
func New(opts Options) (*Reverifier, error) {
	if opts.Engine == nil || opts.Client == nil {
		return nil, errors.New("re-verification needs the policy engine and the Kubernetes API")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Interval, DefaultInterval)
	def(&opts.Timeout, DefaultTimeout)
	def(&opts.LeaseDuration, 15*time.Second)
	def(&opts.RenewDeadline, 10*time.Second)
	def(&opts.RetryPeriod, 2*time.Second)
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.EvictionsPerMinute <= 0 {
		opts.EvictionsPerMinute = DefaultEvictionsPerMinute
	}
	if opts.LeaseName == "" {
		opts.LeaseName = DefaultLeaseName
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Decisions == nil {
		opts.Decisions = decisionlog.Discard
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Reverifier{opts: opts, trigger: make(chan string, 1), state: newState()}
	if opts.Evict {
		if opts.Config == nil {
			return nil, errors.New("eviction needs the Kubernetes API's config")
		}
		c, err := typedcorev1.NewForConfig(opts.Config)
		if err != nil {
			return nil, err
		}
		r.evictor = newEvictor(c.RESTClient(), opts.EvictionsPerMinute, opts.Metrics, opts.Log)
	}
	return r, nil
}

// Trigger asks for a round now (trigger names why: policy, key). Triggers
// that arrive during a round make one more round after it. It never
// blocks; on a replica not leading, it does nothing.
func (r *Reverifier) Trigger(why string) {
	select {
	case r.trigger <- why:
	default:
	}
}

// Untrusted says whether the workload object with this UID (a Pod's
// controlling owner) had an image fail its last re-verification: such an
// owner vouches for nothing (package admission's child approval).
func (r *Reverifier) Untrusted(uid string) bool {
	m := r.untrusted.Load()
	if m == nil {
		return false
	}
	_, ok := (*m)[uid]
	return ok
}

// Run campaigns for the Lease until ctx is done; while this replica holds
// it, it re-verifies. Losing the Lease stops the work and campaigns again.
func (r *Reverifier) Run(ctx context.Context) error {
	if r.opts.Config == nil {
		// Tests without a Lease: this replica leads.
		r.lead(ctx)
		return nil
	}
	cc, err := coordinationv1.NewForConfig(r.opts.Config)
	if err != nil {
		return err
	}
	if r.opts.Events == nil {
		if r.opts.Events, err = newEventRecorder(ctx, r.opts.Config, r.opts.Identity); err != nil {
			return err
		}
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: r.opts.Namespace, Name: r.opts.LeaseName},
		Client:     cc,
		LockConfig: resourcelock.ResourceLockConfig{Identity: r.opts.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   r.opts.LeaseDuration,
			RenewDeadline:   r.opts.RenewDeadline,
			RetryPeriod:     r.opts.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            r.opts.LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					r.opts.Log.Info("re-verification lease acquired: re-verifying running workloads", "lease", r.opts.Namespace+"/"+r.opts.LeaseName, "identity", r.opts.Identity)
					r.opts.Metrics.ReverifyLeader(true)
					r.lead(ctx)
				},
				OnStoppedLeading: func() {
					r.opts.Metrics.ReverifyLeader(false)
					r.opts.Log.Info("re-verification lease released or lost", "identity", r.opts.Identity)
				},
			},
		})
		if err != nil {
			return err
		}
		le.Run(ctx)
		r.reset()
	}
	return nil
}

// reset forgets what a term as leader learnt (another replica leads now).
func (r *Reverifier) reset() {
	r.state = newState()
	r.untrusted.Store(nil)
	r.opts.Metrics.RunningImages(nil)
}

// lead watches and re-verifies until ctx is done.
func (r *Reverifier) lead(ctx context.Context) {
	if rs, ok := r.opts.Reporter.(interface{ Reset() }); ok {
		// Another replica may have written reports while this one did
		// not lead: what this one wrote before says nothing now.
		rs.Reset()
	}
	inv, err := newInventory(r.opts.Client, r.opts.Log)
	if err != nil {
		r.opts.Log.Error("re-verification not started", "error", err.Error())
		return
	}
	ictx, stop := context.WithCancel(ctx)
	defer stop()
	inv.run(ictx)
	for {
		err := inv.wait(ictx, time.Minute)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		r.opts.Log.Error("re-verification waiting for the API", "error", err.Error())
	}
	if r.evictor != nil {
		go r.evictor.run(ictx)
	}
	why := "start"
	last := (*policy.Engine)(nil)
	for {
		eng := r.opts.Engine()
		if eng != nil {
			last = eng
			r.round(ctx, inv.snapshot(), eng, why)
		}
		next := time.NewTimer(r.jittered())
		poll := time.NewTicker(policyPoll)
	wait:
		for {
			select {
			case <-ctx.Done():
				next.Stop()
				poll.Stop()
				return
			case <-next.C:
				why = "schedule"
				break wait
			case why = <-r.trigger:
				break wait
			case <-poll.C:
				if e := r.opts.Engine(); e != nil && e != last {
					why = "policy"
					break wait
				}
			}
		}
		next.Stop()
		poll.Stop()
	}
}

// jittered returns the interval moved by up to Jitter either way.
func (r *Reverifier) jittered() time.Duration {
	d := float64(r.opts.Interval)
	return time.Duration(d * (1 - Jitter + 2*Jitter*rand.Float64()))
}

// excluded says whether namespace is never re-verified.
func (r *Reverifier) excluded(namespace string) bool {
	return slices.Contains(r.opts.Excluded, namespace)
}
