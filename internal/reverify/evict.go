package reverify

import (
	"context"
	"log/slog"
	"maps"
	"sync"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"

	"github.com/signet-dev/signet/internal/metrics"
)

var podsResource = schema.GroupVersionResource{Version: "v1", Resource: "pods"}

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
	client  dynamic.Interface
	limiter *rate.Limiter
	metrics *metrics.Metrics
	log     *slog.Logger

	mu      sync.Mutex
	pending map[types.UID]podRef
	wake    chan struct{}
}

func newEvictor(client dynamic.Interface, perMinute int, m *metrics.Metrics, log *slog.Logger) *evictor {
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
	ev := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "policy/v1",
		"kind":       "Eviction",
		"metadata":   map[string]any{"name": p.name, "namespace": p.namespace},
		"deleteOptions": map[string]any{
			"preconditions": map[string]any{"uid": string(uid)},
		},
	}}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := e.client.Resource(podsResource).Namespace(p.namespace).Create(ctx, ev, metav1.CreateOptions{}, "eviction")
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

// queued returns the Pods waiting (tests).
func (e *evictor) queued() map[types.UID]podRef {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.pending)
}
