package policy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// engine compiles a policy with one cosign validator "signed" trusting key
// and one static validator each way, plus the given rules.
func engine(t testing.TB, key *testutil.Key, rules string) *policy.Engine {
	t.Helper()
	return compileYAML(t, testutil.Policy(key.PEM, rules))
}

func compileYAML(t testing.TB, y string) *policy.Engine {
	t.Helper()
	doc, err := policy.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	signed := reg.PushImage(t, "demo/app:signed")
	testutil.SignLegacy(t, signed, key)
	reg.PushImage(t, "demo/app:unsigned")
	moved := reg.PushImage(t, "demo/app:moved")
	testutil.SignLegacy(t, moved, key)
	movedNow := reg.PushImage(t, "demo/app:moved") // the tag now names new, unsigned content

	eng := engine(t, key, `
- {pattern: "**", validator: allow}
- {pattern: "`+h+`/demo/*", validator: signed}
- {pattern: "`+h+`/demo/app:debug-*", validator: deny}
- {pattern: "`+h+`/other/**", validator: signed}
`)
	tests := []struct {
		image     string
		allowed   bool
		outcome   verify.Outcome
		rule      string
		digest    string
		reasonHas string
	}{
		{image: h + "/demo/app:signed", allowed: true, outcome: verify.Verified, rule: h + "/demo/*", digest: signed.DigestStr()},
		{image: h + "/demo/app@" + signed.DigestStr(), allowed: true, outcome: verify.Verified, digest: signed.DigestStr()},
		{image: h + "/demo/app:unsigned", outcome: verify.Failed, rule: h + "/demo/*", reasonHas: "no cosign signatures found"},
		{image: h + "/demo/app:moved", outcome: verify.Failed, digest: movedNow.DigestStr()},
		{image: h + "/demo/app:debug-1", outcome: verify.Static, rule: h + "/demo/app:debug-*", reasonHas: "denied by static"},
		{image: "docker.io/library/busybox:1", allowed: true, outcome: verify.Static, rule: "**"},
		{image: h + "/other/app:missing", outcome: verify.Failed, reasonHas: "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			t.Parallel()
			d := eng.Evaluate(context.Background(), tc.image)
			if d.Allowed != tc.allowed || d.Outcome != tc.outcome {
				t.Fatalf("allowed=%v outcome=%s, want %v %s; reason: %s", d.Allowed, d.Outcome, tc.allowed, tc.outcome, d.Reason)
			}
			if tc.rule != "" && d.Rule != tc.rule {
				t.Errorf("rule = %q, want %q", d.Rule, tc.rule)
			}
			if tc.digest != "" && d.Digest != tc.digest {
				t.Errorf("digest = %s, want %s", d.Digest, tc.digest)
			}
			if d.Allowed && d.Outcome == verify.Verified && d.Pinned != h+"/demo/app@"+d.Digest {
				t.Errorf("pinned = %q", d.Pinned)
			}
			if !d.Allowed && d.Pinned != "" {
				t.Errorf("denied image pinned to %q", d.Pinned)
			}
			if !strings.Contains(d.Reason, tc.reasonHas) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reasonHas)
			}
		})
	}
}

func TestEvaluateStaticMakesNoRequest(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	eng := engine(t, testutil.NewKey(t), `
- {pattern: "`+reg.Host+`/**", validator: allow}
- {pattern: "`+reg.Host+`/blocked/**", validator: deny}
`)
	for _, img := range []string{reg.Host + "/app:v1", reg.Host + "/blocked/x:v1"} {
		d := eng.Evaluate(context.Background(), img)
		if d.Outcome != verify.Static {
			t.Errorf("%s: outcome %s", img, d.Outcome)
		}
	}
	if n := reg.Requests(); n != 0 {
		t.Errorf("static rules made %d registry requests, want 0", n)
	}
}

func TestEvaluateNoRule(t *testing.T) {
	t.Parallel()
	eng := engine(t, testutil.NewKey(t), `- {pattern: "ghcr.io/org/**", validator: allow}`)
	d := eng.Evaluate(context.Background(), "ghcr.io/other/app:v1")
	if d.Allowed || d.Outcome != verify.Failed || !strings.Contains(d.Reason, "no policy rule matches ghcr.io/other/app:v1") {
		t.Errorf("got %+v", d)
	}
	d = eng.Evaluate(context.Background(), "Not A Reference")
	if d.Allowed || d.Outcome != verify.Failed {
		t.Errorf("got %+v", d)
	}
}

// TestEvaluateDeadline uses a registry that accepts connections and never
// answers: the decision must be inconclusive, name the image, and arrive
// close to the deadline.
func TestEvaluateDeadline(t *testing.T) {
	t.Parallel()
	host := testutil.StalledServer(t)
	eng := engine(t, testutil.NewKey(t), `- {pattern: "`+host+`/**", validator: signed}`)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	d := eng.Evaluate(ctx, host+"/app:v1")
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("took %s with a 500ms deadline", el)
	}
	if d.Allowed || d.Outcome != verify.Inconclusive {
		t.Fatalf("got allowed=%v outcome=%s", d.Allowed, d.Outcome)
	}
	if !strings.Contains(d.Reason, host+"/app:v1") || !strings.Contains(d.Reason, "deadline") {
		t.Errorf("reason %q should name the image and the deadline", d.Reason)
	}
}

// TestEvaluateAllValidators: a rule naming several validators passes only
// when every one of them does.
func TestEvaluateAllValidators(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	k1, k2 := testutil.NewKey(t), testutil.NewKey(t)
	both := reg.PushImage(t, "demo/both:v1")
	testutil.SignLegacy(t, both, k1)
	testutil.SignLegacy(t, both, k2)
	onlyOne := reg.PushImage(t, "demo/one:v1")
	testutil.SignLegacy(t, onlyOne, k1)
	eng := compileYAML(t, `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: [`+reg.Host+`]
validators:
- name: signed
  type: cosign
  trustRoots:
  - name: ci
    key: |
      `+testutil.Indent(k1.PEM, 6)+`
- name: second
  type: cosign
  trustRoots:
  - name: k2
    key: |
      `+testutil.Indent(k2.PEM, 6)+`
rules:
- {pattern: "`+reg.Host+`/**", validators: [signed, second]}
`)
	d := eng.Evaluate(context.Background(), both.String())
	if !d.Allowed || d.Validator != "signed+second" || strings.Join(d.Signers, ",") != "signed/ci,second/k2" {
		t.Errorf("both signed: %+v", d)
	}
	d = eng.Evaluate(context.Background(), onlyOne.String())
	if d.Allowed || d.Outcome != verify.Failed || !strings.Contains(d.Reason, "validator second:") || strings.Contains(d.Reason, "validator signed:") {
		t.Errorf("one signature: %+v", d)
	}
}
