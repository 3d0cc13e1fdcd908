package reverify

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// fakes record what a round published.
type reports struct {
	mu      sync.Mutex
	written map[string][]Result
	forgot  []string
}

func (r *reports) Report(_ context.Context, w Workload, results []Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.written[w.Kind+"/"+w.Name] = results
	return nil
}

func (r *reports) Forget(_ context.Context, w Workload) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.forgot = append(r.forgot, w.Kind+"/"+w.Name)
	return nil
}

type events struct{ got []string }

func (e *events) Event(ref *corev1.ObjectReference, reason, message string) {
	e.got = append(e.got, ref.Kind+"/"+ref.Name+" "+reason)
}

type records struct{ got []*decisionlog.Record }

func (r *records) Write(rec *decisionlog.Record) { c := *rec; r.got = append(r.got, &c) }

// obj builds a watched object as the informers store it.
func obj(t *testing.T, kind, ns, name, uid, owner string, images ...string) *object {
	t.Helper()
	var containers []any
	for i, im := range images {
		containers = append(containers, map[string]any{"name": fmt.Sprintf("c%d", i), "image": im})
	}
	spec := map[string]any{"containers": containers}
	u := &unstructured.Unstructured{Object: map[string]any{"kind": kind, "metadata": map[string]any{"name": name, "namespace": ns, "uid": uid}}}
	if kind == "Pod" {
		u.Object["spec"] = spec
	} else {
		u.Object["spec"] = map[string]any{"template": map[string]any{"spec": spec}}
	}
	if owner != "" {
		kind, oname, _ := strings.Cut(owner, "/")
		u.Object["metadata"].(map[string]any)["ownerReferences"] = []any{map[string]any{"apiVersion": "apps/v1", "kind": kind, "name": oname, "uid": oname + "-uid", "controller": true}}
	}
	o, err := trim(kind, "v1")(u)
	if err != nil {
		t.Fatal(err)
	}
	return o.(*object)
}

// TestRound: a round groups Pods under the top of their controllers,
// evaluates each distinct image once, reports every workload, records an
// Event on a failing Pod and its owner once, writes audit records only for
// changes, forgets workloads that are gone, and — the feedback to
// admission — a signature deleted from the registry is seen by the next
// round despite a cached verified result, which it withdraws.
func TestRound(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	signed := reg.PushImage(t, "team/app:v1")
	testutil.SignLegacy(t, signed, key)
	unsigned := reg.PushImage(t, "team/other:v1")
	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/team/**", validator: signed}
- {pattern: "static.example/allowed", validator: allow}
- {pattern: "static.example/warned", validator: deny, with: {mode: warn}}`)))
	if err != nil {
		t.Fatal(err)
	}
	vc, err := cache.New(cache.Config{TTL: time.Hour, FailedTTL: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew(), policy.WithCache(vc))
	if err != nil {
		t.Fatal(err)
	}
	rep, ev, rec := &reports{written: map[string][]Result{}}, &events{}, &records{}
	r, err := New(Options{Engine: func() *policy.Engine { return eng }, Client: nil, Reporter: rep, Events: ev, Decisions: rec,
		Excluded: []string{"kube-system"}, Interval: time.Minute, Metrics: metrics.New()})
	if err == nil {
		t.Fatal("New without a client: want an error")
	}
	r, err = New(Options{Engine: func() *policy.Engine { return eng }, Client: fakeClient{}, Reporter: rep, Events: ev, Decisions: rec,
		Excluded: []string{"kube-system"}, Interval: time.Minute, Metrics: metrics.New()})
	if err != nil {
		t.Fatal(err)
	}
	objs := []*object{
		obj(t, "Deployment", "team", "web", "web-uid", "", signed.String()),
		obj(t, "ReplicaSet", "team", "web-1", "web-1-uid", "Deployment/web", signed.String()),
		obj(t, "ReplicaSet", "team", "web-old", "web-old-uid", "Deployment/web", "static.example/warned"), // kept for rollbacks: not reported
		obj(t, "Pod", "team", "web-1-a", "pa", "ReplicaSet/web-1", signed.String()),
		obj(t, "Pod", "team", "web-1-b", "pb", "ReplicaSet/web-1", signed.String()),
		obj(t, "Pod", "team", "bare", "pc", "", unsigned.String(), "static.example/allowed", "static.example/warned"),
		obj(t, "Pod", "kube-system", "skipped", "pd", "", unsigned.String()),
	}
	ctx := context.Background()
	r.round(ctx, objs, eng, "start")

	if len(rep.written) != 2 {
		t.Fatalf("reports: %v, want Deployment/web and Pod/bare", rep.written)
	}
	web := rep.written["Deployment/web"]
	if len(web) != 1 || web[0].Outcome != Pass || web[0].Digest != signed.DigestStr() {
		t.Errorf("Deployment/web: %+v", web)
	}
	bare := rep.written["Pod/bare"]
	got := map[string]Outcome{}
	for _, res := range bare {
		got[res.Image] = res.Outcome
	}
	if got[unsigned.String()] != Fail || got["static.example/allowed"] != Pass || got["static.example/warned"] != Warn || len(got) != 3 {
		t.Errorf("Pod/bare: %v", got)
	}
	if strings.Join(ev.got, ",") != "Pod/bare ImageNoLongerTrusted" {
		t.Errorf("events: %v", ev.got)
	}
	if len(rec.got) != 2 {
		t.Errorf("audit records after the first round: %d, want one per workload", len(rec.got))
	}
	if !r.Untrusted("pc") || r.Untrusted("web-1-uid") {
		t.Errorf("untrusted: bare %v, web-1 %v", r.Untrusted("pc"), r.Untrusted("web-1-uid"))
	}
	firstSeen := web[0].Time

	// The same state again: nothing new to say.
	rec.got, ev.got = nil, nil
	r.round(ctx, objs, eng, "schedule")
	if len(rec.got) != 0 || len(ev.got) != 0 {
		t.Errorf("an unchanged round wrote %d records and %d events", len(rec.got), len(ev.got))
	}
	if rep.written["Deployment/web"][0].Time != firstSeen {
		t.Error("a result's time moved while its outcome stayed")
	}

	// The signature is deleted: the cached verified result (an hour's TTL)
	// is older than the interval for a re-verification only.
	sig, err := name.ParseReference(reg.Host + "/team/app:sha256-" + strings.TrimPrefix(signed.DigestStr(), "sha256:") + ".sig")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Delete(sig); err != nil {
		t.Fatal(err)
	}
	if d := eng.EvaluateFor(ctx, "team", signed.String()); !d.Allowed || !d.Cached {
		t.Fatalf("before the round, admission answers from the cache: %+v", d)
	}
	r.opts.Interval = 0 // every cached verified result is too old
	r.round(ctx, objs, eng, "schedule")
	if web := rep.written["Deployment/web"]; web[0].Outcome != Fail {
		t.Errorf("after the signature was deleted: %+v", web)
	}
	if strings.Join(ev.got, ",") != "Pod/web-1-a ImageNoLongerTrusted,ReplicaSet/web-1 ImageNoLongerTrusted,Pod/web-1-b ImageNoLongerTrusted,ReplicaSet/web-1 ImageNoLongerTrusted" &&
		strings.Join(ev.got, ",") != "Pod/web-1-b ImageNoLongerTrusted,ReplicaSet/web-1 ImageNoLongerTrusted,Pod/web-1-a ImageNoLongerTrusted,ReplicaSet/web-1 ImageNoLongerTrusted" {
		t.Errorf("events: %v", ev.got)
	}
	if len(rec.got) != 1 || rec.got[0].Decision != "denied" || rec.got[0].Webhook != "reverify" {
		t.Errorf("audit records: %+v", rec.got)
	}
	if !r.Untrusted("web-1-uid") || !r.Untrusted("web-uid") {
		t.Error("the failing ReplicaSet and Deployment are still trusted")
	}
	if d := eng.EvaluateFor(ctx, "team", signed.String()); d.Allowed {
		t.Errorf("admission after the round: %+v, want denied (the verified result withdrawn)", d)
	}

	// A workload gone is forgotten.
	r.round(ctx, objs[:5], eng, "schedule")
	if strings.Join(rep.forgot, ",") != "Pod/bare" {
		t.Errorf("forgotten: %v", rep.forgot)
	}
}
