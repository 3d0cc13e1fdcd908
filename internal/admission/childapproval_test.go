package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// TestChildApprovalUnderThePolicyInForce: a child is admitted through its
// owner only when the policy in force now allows the owner's images. The
// owner was verified and admitted under the first policy; then the policy
// changes (the rule now denies), the key is replaced, the registry goes
// down with and without a cached verification. An owner being deleted is
// never named as the reason.
func TestChildApprovalUnderThePolicyInForce(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key, other := testutil.NewKey(t), testutil.NewKey(t)
	signed := reg.PushImage(t, "demo/app:signed")
	testutil.SignLegacy(t, signed, key)
	pin := signed.String()
	rules := `- {pattern: "` + reg.Host + `/demo/**", validator: signed}`

	c, err := cache.New(cache.Config{})
	if err != nil {
		t.Fatal(err)
	}
	compile := func(src string, c *cache.Cache) *policy.Engine {
		t.Helper()
		doc, err := policy.Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		var opts []policy.CompileOption
		if c != nil {
			opts = append(opts, policy.WithCache(c))
		}
		eng, err := policy.Compile(doc, registry.MustNew(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	var inForce atomic.Pointer[policy.Engine]
	inForce.Store(compile(testutil.Policy(key.PEM, rules), c))
	var log bytes.Buffer
	dl := decisionlog.New(&log)
	deleting := replicaSet(t, []container{{"app", pin}})
	deleting.Metadata.DeletionTimestamp = new("2026-01-01T00:00:00Z")
	rv := admission.NewReviewer(inForce.Load, owners{"rs": replicaSet(t, []container{{"app", pin}}), "rs-deleting": deleting},
		admission.Options{ChildApproval: true, Timeout: 3 * time.Second, Decisions: dl}, nil, nil)

	child := pod(podSpec([]container{{"app", pin}}, nil, nil), "rs", true)
	review := func() (*admissionv1.AdmissionResponse, map[string]any) {
		t.Helper()
		resp := rv.Review(context.Background(), &admissionv1.AdmissionRequest{
			UID: "uid", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "team-a",
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: child},
		}, true)
		if err := dl.Flush(); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(log.String()), "\n")
		var rec map[string]any
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil {
			t.Fatal(err)
		}
		return resp, rec
	}
	outcome := func(rec map[string]any) string {
		imgs, _ := rec["images"].([]any)
		if len(imgs) != 1 {
			t.Fatalf("decision log images: %v", rec["images"])
		}
		return imgs[0].(map[string]any)["outcome"].(string)
	}

	// Under the policy the owner was admitted by, the child is verified
	// (and the result cached) and logged as the owner's child.
	resp, rec := review()
	if !resp.Allowed || !strings.Contains(rec["reason"].(string), "child of ReplicaSet rs") || outcome(rec) != "verified" {
		t.Fatalf("child under the owner's policy: allowed %v, log %v", resp.Allowed, rec)
	}

	// An owner being deleted is never named: the child is admitted on its
	// own verification.
	child = pod(podSpec([]container{{"app", pin}}, nil, nil), "rs-deleting", true)
	resp, rec = review()
	if !resp.Allowed || rec["reason"] != "" || outcome(rec) != "verified" {
		t.Errorf("child of an owner being deleted: allowed %v, log %v", resp.Allowed, rec)
	}
	child = pod(podSpec([]container{{"app", pin}}, nil, nil), "rs", true)

	// An owner whose images failed re-verification vouches for nothing:
	// the child stands on its own verification.
	untrusted := admission.NewReviewer(inForce.Load, owners{"rs": replicaSet(t, []container{{"app", pin}})},
		admission.Options{ChildApproval: true, Timeout: 3 * time.Second, Decisions: dl, Untrusted: func(uid string) bool { return uid == "uid-rs" }}, nil, nil)
	rv, untrusted = untrusted, rv
	resp, rec = review()
	if !resp.Allowed || rec["reason"] != "" || outcome(rec) != "verified" {
		t.Errorf("child of an owner that failed re-verification: allowed %v, log %v", resp.Allowed, rec)
	}
	rv = untrusted

	steps := []struct {
		name    string
		engine  *policy.Engine
		down    bool
		allowed bool
		outcome string
		has     string
	}{
		{name: "the rule now denies", engine: compile(testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/demo/**", validator: deny}`), c),
			outcome: "static", has: "denied by static"},
		{name: "the signing key was removed from the trust roots", engine: compile(testutil.Policy(other.PEM, rules), c),
			outcome: "failed", has: "containers[app]"},
		{name: "registry down, verified result cached under the policy in force", engine: compile(testutil.Policy(key.PEM, rules), c), down: true,
			allowed: true, outcome: "verified"},
		{name: "registry down, nothing cached", engine: compile(testutil.Policy(key.PEM, rules), nil), down: true,
			outcome: "inconclusive", has: "could not be verified"},
	}
	for _, s := range steps {
		inForce.Store(s.engine)
		reg.SetDown(s.down)
		resp, rec := review()
		if resp.Allowed != s.allowed || outcome(rec) != s.outcome {
			t.Errorf("%s: allowed %v outcome %s, want %v %s; log %v", s.name, resp.Allowed, outcome(rec), s.allowed, s.outcome, rec)
			continue
		}
		if !s.allowed && !strings.Contains(resp.Result.Message, s.has) {
			t.Errorf("%s: denial does not say %q: %s", s.name, s.has, resp.Result.Message)
		}
		if s.allowed && !strings.Contains(rec["reason"].(string), "child of ReplicaSet rs") {
			t.Errorf("%s: log reason %q does not name the owner", s.name, rec["reason"])
		}
	}
}
