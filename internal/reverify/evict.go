package reverify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"

	"github.com/signet-dev/signet/internal/metrics"
)

// podRef names a Pod to evict (the UID is a precondition: a new Pod that
// took the name is not evicted).
type podRef struct {
	namespace, name string
	uid             types.UID
}

// evictor evicts Pods through the Eviction API (so PodDisruptionBudgets
// are respected), at most perMinute a minute. Its queue is the set of Pods
// that failed in the last round: replaced by each round, so it never holds
// more than the Pods the inventory holds, and a Pod that passes again or
// is gone is not evicted.
type evictor struct {
	client  rest.Interface // core/v1
	limiter *rate.Limiter
	metrics *metrics.Metrics
	log     *slog.Logger

	mu      sync.Mutex
	pending map[types.UID]podRef
	wake    chan struct{}
}

func newEvictor(client rest.Interface, perMinute int, m *metrics.Metrics, log *slog.Logger) *evictor {
	return &evictor{client: client, limiter: rate.NewLimiter(rate.Every(time.Minute/time.Duration(perMinute)), 1), metrics: m, log: log, wake: make(chan struct{}, 1)}
}

// add replaces the queue with the Pods of the last round.
func (e *evictor) add(_ context.Context, pods []*object) {
	next := make(map[types.UID]podRef, len(pods))
	for _, p := range pods {
		next[p.UID] = podRef{namespace: p.Namespace, name: p.Name, uid: p.UID}
	}
	e.mu.Lock()
	e.pending = next
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// run evicts queued Pods until ctx is done.
func (e *evictor) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.wake:
		}
		for {
			e.mu.Lock()
			var p podRef
			found := false
			for _, q := range e.pending {
				p, found = q, true
				break
			}
			e.mu.Unlock()
			if !found {
				break
			}
			if err := e.limiter.Wait(ctx); err != nil {
				return
			}
			e.mu.Lock()
			_, still := e.pending[p.uid]
			delete(e.pending, p.uid)
			e.mu.Unlock()
			if still {
				e.evict(ctx, p)
			}
		}
	}
}

func (e *evictor) evict(ctx context.Context, p podRef) {
	uid := p.uid
	ev := &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Name: p.name, Namespace: p.namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}},
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	// No retries: a budget's refusal (429) is an answer, tried again next
	// round, not something to wait out here.
	err := e.client.Post().Namespace(p.namespace).Resource("pods").Name(p.name).SubResource("eviction").Body(ev).MaxRetries(0).Do(ctx).Error()
	switch {
	case err == nil:
		e.metrics.ReverifyEviction("evicted")
		e.log.Warn("evicted a Pod whose images failed re-verification", "pod", p.namespace+"/"+p.name)
	case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		// Gone, or another Pod has the name now.
	case apierrors.IsTooManyRequests(err):
		e.metrics.ReverifyEviction("refused")
		e.log.Info("eviction refused (a PodDisruptionBudget?); trying again next round", "pod", p.namespace+"/"+p.name, "error", err.Error())
	default:
		e.metrics.ReverifyEviction("error")
		e.log.Warn("eviction failed", "pod", p.namespace+"/"+p.name, "error", err.Error())
	}
}
