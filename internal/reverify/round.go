package reverify

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/workload"
)

// maxChain bounds the controllers followed from a Pod to its workload.
const maxChain = 8

// state is what one term as leader remembers between rounds: enough to
// report only changes (results' first-seen times, workloads gone, Pods
// that already failed). It holds an entry per workload and per failing
// Pod image, bounded by what the informers hold.
type state struct {
	results   map[types.UID]map[string]Result // workload → result key → result
	workloads map[types.UID]Workload
	podFails  map[types.UID]map[string]bool // Pod → image key → failing
}

func newState() *state {
	return &state{results: map[types.UID]map[string]Result{}, workloads: map[types.UID]Workload{}, podFails: map[types.UID]map[string]bool{}}
}

// evalKey is one evaluation: an image under the credentials of the
// workloads that use it, in a namespace (whose policies apply).
type evalKey struct {
	namespace, serviceAccount, pullSecrets, ref string
}

// use is one image of one object, and the evaluation that decides it.
type use struct {
	obj *object
	img workload.Image
	key evalKey
}

// group is a workload and the images that run or will run in its name.
type group struct {
	w    Workload
	uses []use
	errs []string
}

// round re-verifies every image of objs (what the informers hold) once,
// then reports.
func (r *Reverifier) round(ctx context.Context, objs []*object, eng *policy.Engine, why string) {
	start := r.opts.Now()
	byUID := make(map[types.UID]*object, len(objs))
	for _, o := range objs {
		byUID[o.UID] = o
	}
	top := func(o *object) *object {
		for range maxChain {
			c := o.controller()
			if c == nil {
				return o
			}
			p, ok := byUID[c.UID]
			if !ok {
				return o
			}
			o = p
		}
		return o
	}
	groups := map[types.UID]*group{}
	evals := map[evalKey]*policy.Decision{}
	for _, o := range objs {
		if r.excluded(o.Namespace) || o.DeletionTimestamp != nil || o.done {
			continue
		}
		t := top(o)
		if o.kind != "Pod" && t != o {
			// An intermediate controller (a Deployment's ReplicaSet, a
			// CronJob's Job): its Pods and the top's template speak for
			// it; old ReplicaSets kept for rollbacks are not reported.
			continue
		}
		g := groups[t.UID]
		if g == nil {
			g = &group{w: Workload{APIVersion: t.apiVersion, Kind: t.kind, Namespace: t.Namespace, Name: t.Name, UID: string(t.UID)}}
			groups[t.UID] = g
		}
		if o.err != "" {
			g.errs = append(g.errs, o.err)
			continue
		}
		for _, img := range o.images {
			ref := img.Ref
			if d, ok := o.running[img.Key()]; ok && !strings.Contains(ref, "@") {
				// What the node runs, not what the tag names now.
				ref += "@" + d
			}
			k := evalKey{o.Namespace, o.serviceAccount, strings.Join(o.pullSecrets, ","), ref}
			evals[k] = nil
			g.uses = append(g.uses, use{obj: o, img: img, key: k})
		}
	}
	r.evaluate(ctx, eng, evals)
	if ctx.Err() != nil {
		return // leadership lost mid-round: another replica reports
	}
	r.report(ctx, eng, groups, evals, byUID)
	r.opts.Metrics.ReverifyRound(why, float64(r.opts.Now().Unix()), len(groups))
	r.opts.Log.Info("re-verification round", "trigger", why, "workloads", len(groups), "evaluations", len(evals), "seconds", r.opts.Now().Sub(start).Seconds())
}

// evaluate decides every key, Concurrency at a time.
func (r *Reverifier) evaluate(ctx context.Context, eng *policy.Engine, evals map[evalKey]*policy.Decision) {
	keys := slices.Collect(maps.Keys(evals))
	out := make([]policy.Decision, len(keys))
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, r.opts.Concurrency)
	)
	for i, k := range keys {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Go(func() {
			defer func() { <-sem }()
			out[i] = r.evaluateOne(ctx, eng, k)
			r.opts.Metrics.Reverification(string(outcomeOf(out[i])))
		})
	}
	wg.Wait()
	for i, k := range keys {
		evals[k] = &out[i]
	}
}

// evaluateOne decides one image as admission would, with its workload's
// credentials, not answered from verified results older than the interval.
func (r *Reverifier) evaluateOne(ctx context.Context, eng *policy.Engine, k evalKey) policy.Decision {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	ctx = cache.Revalidate(ctx, r.opts.Interval)
	if r.opts.Keychains != nil {
		var secrets []string
		if k.pullSecrets != "" {
			secrets = strings.Split(k.pullSecrets, ",")
		}
		kc, err := r.opts.Keychains.Workload(ctx, k.namespace, k.serviceAccount, secrets)
		if err != nil {
			kc = registry.UnreadableKeychain(fmt.Errorf("%w; check that signet may get secrets and serviceaccounts in namespace %s", err, k.namespace))
		}
		ctx = registry.ContextWithKeychain(ctx, kc)
	}
	return eng.EvaluateFor(ctx, k.namespace, k.ref)
}

// outcomeOf maps a decision to a report's outcome.
func outcomeOf(d policy.Decision) Outcome {
	switch {
	case d.Outcome == verify.Inconclusive:
		return Error
	case d.Allowed:
		return Pass
	case d.Mode == policy.ModeWarn || d.Mode == policy.ModeAudit:
		return Warn // denied, but admission only warns or logs
	}
	return Fail
}

// report turns the decisions into results per workload and publishes
// them: reports, Events, audit records, alerts, metrics, evictions.
func (r *Reverifier) report(ctx context.Context, eng *policy.Engine, groups map[types.UID]*group, evals map[evalKey]*policy.Decision, byUID map[types.UID]*object) {
	now := r.opts.Now()
	prev := r.state
	next := newState()
	running := map[string]Outcome{}
	untrusted := map[string]struct{}{}
	var evict []*object
	for uid, g := range groups {
		results := map[string]Result{}
		var failing []alert.Image
		for _, u := range g.uses {
			d := evals[u.key]
			if d == nil {
				continue
			}
			o := outcomeOf(*d)
			res := Result{Container: u.img.Key(), Image: u.key.ref, Digest: d.Digest, Outcome: o, Rule: d.Rule, Validator: d.Validator, Mode: d.Mode, Reason: truncate(d.Reason, MaxReasonBytes)}
			rk := res.Container + "|" + res.Image
			if u.obj.kind == "Pod" {
				nr := string(u.obj.Namespace) + "/" + u.key.ref
				running[nr] = worse(running[nr], o)
				r.podEvents(prev, next, u, res)
				if o == Fail && r.opts.Evict && !slices.Contains(evict, u.obj) {
					evict = append(evict, u.obj)
				}
			}
			if o == Fail {
				untrusted[string(u.obj.UID)] = struct{}{}
				if c := u.obj.controller(); c != nil {
					untrusted[string(c.UID)] = struct{}{}
				}
				untrusted[string(uid)] = struct{}{}
			}
			if old, ok := results[rk]; ok && worse(old.Outcome, o) == old.Outcome {
				continue // the same image under other credentials: the worse result stands
			}
			results[rk] = res
		}
		for i, e := range g.errs {
			results[fmt.Sprintf("error/%d", i)] = Result{Container: "-", Outcome: Error, Reason: e}
		}
		old := prev.results[uid]
		changed := len(old) != len(results)
		list := make([]Result, 0, len(results))
		for k, res := range results {
			res.Time = now
			if o, ok := old[k]; ok && o.Outcome == res.Outcome {
				res.Time = o.Time
				changed = changed || o.Reason != res.Reason || o.Digest != res.Digest || o.Rule != res.Rule
			} else {
				changed = true
				if res.Outcome == Fail {
					failing = append(failing, alert.Image{Image: res.Image, Digest: res.Digest, Outcome: string(res.Outcome), Rule: res.Rule, Reason: res.Reason})
				}
			}
			results[k] = res
			list = append(list, res)
		}
		slices.SortFunc(list, func(a, b Result) int {
			return cmp.Or(cmp.Compare(a.Container, b.Container), cmp.Compare(a.Image, b.Image))
		})
		next.results[uid], next.workloads[uid] = results, g.w
		if r.opts.Reporter != nil {
			if err := r.opts.Reporter.Report(ctx, g.w, list); err != nil {
				r.opts.Log.Warn("re-verification report not written", "workload", g.w.Kind+" "+g.w.Namespace+"/"+g.w.Name, "error", err.Error())
			}
		}
		if changed {
			r.opts.Decisions.Write(auditRecord(eng, g.w, list, now))
		}
		if len(failing) > 0 {
			r.opts.Alerts.ReverificationFailed(g.w.Namespace, alert.Object{Kind: g.w.Kind, Name: g.w.Name}, failing)
		}
	}
	for uid, w := range prev.workloads {
		if _, ok := next.workloads[uid]; ok || r.opts.Reporter == nil {
			continue
		}
		if err := r.opts.Reporter.Forget(ctx, w); err != nil {
			r.opts.Log.Warn("re-verification report not removed", "workload", w.Kind+" "+w.Namespace+"/"+w.Name, "error", err.Error())
		}
	}
	r.state = next
	r.untrusted.Store(&untrusted)
	counts := map[string]int{}
	for _, o := range running {
		counts[string(o)]++
	}
	r.opts.Metrics.RunningImages(counts)
	if r.evictor != nil {
		r.evictor.add(ctx, evict)
	}
}

// podEvents records an ImageNoLongerTrusted Event on a Pod, and on its
// controlling owner, the first round one of its images fails (not again
// while it keeps failing).
func (r *Reverifier) podEvents(prev, next *state, u use, res Result) {
	if res.Outcome != Fail {
		return
	}
	pod := u.obj.UID
	if next.podFails[pod] == nil {
		next.podFails[pod] = map[string]bool{}
	}
	k := res.Container + "|" + res.Image
	next.podFails[pod][k] = true
	if prev.podFails[pod][k] || r.opts.Events == nil {
		return
	}
	msg := truncate(fmt.Sprintf("image %s (%s) no longer passes verification under the policy in force: %s", res.Image, res.Container, res.Reason), MaxReasonBytes)
	o := u.obj
	r.opts.Events.Event(&corev1.ObjectReference{APIVersion: "v1", Kind: "Pod", Namespace: o.Namespace, Name: o.Name, UID: o.UID, ResourceVersion: o.ResourceVersion}, ReasonImageNoLongerTrusted, msg)
	if c := o.controller(); c != nil {
		r.opts.Events.Event(&corev1.ObjectReference{APIVersion: c.APIVersion, Kind: c.Kind, Namespace: o.Namespace, Name: c.Name, UID: c.UID}, ReasonImageNoLongerTrusted, truncate("Pod "+o.Name+": "+msg, MaxReasonBytes))
	}
}

// worse returns the worse of two outcomes ("" counts as none).
func worse(a, b Outcome) Outcome {
	rank := func(o Outcome) int {
		switch o {
		case Fail:
			return 4
		case Error:
			return 3
		case Warn:
			return 2
		case Pass:
			return 1
		}
		return 0
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// auditRecord is the decision-log (audit) record of a workload whose results
// changed.
func auditRecord(eng *policy.Engine, w Workload, results []Result, now time.Time) *decisionlog.Record {
	rec := &decisionlog.Record{Time: now, Level: "INFO", Msg: "re-verification", Webhook: "reverify", Operation: "REVERIFY",
		Kind: w.Kind, Namespace: w.Namespace, Name: w.Name, Decision: "allowed",
		PolicyGeneration: eng.Generation(), PolicyHash: eng.Hash()}
	for _, res := range results {
		rec.Images = append(rec.Images, decisionlog.Image{Path: res.Container, Image: res.Image, Digest: res.Digest, Allowed: res.Outcome == Pass || res.Outcome == Warn, Outcome: string(res.Outcome), Mode: res.Mode, Rule: res.Rule, Validator: res.Validator, Reason: res.Reason})
		switch {
		case res.Outcome == Fail || res.Outcome == Error:
			if rec.Decision != "denied" {
				rec.Decision, rec.Level, rec.Reason = "denied", "WARN", res.Image+": "+res.Reason
			}
		case res.Outcome == Warn && rec.Decision == "allowed":
			rec.Decision, rec.Reason = "warned", res.Image+": "+res.Reason
		}
	}
	return rec
}
