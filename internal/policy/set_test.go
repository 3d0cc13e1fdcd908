package policy_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// obj is a policy object for a test: kind, namespace/name and its spec's
// body in YAML (a file's fields without apiVersion and kind).
type obj struct {
	kind, ns, name, spec string
}

func cip(name, spec string) obj    { return obj{policy.KindCluster, "", name, spec} }
func ip(ns, name, spec string) obj { return obj{policy.Kind, ns, name, spec} }
func (o obj) ref() policy.ObjectRef {
	return policy.ObjectRef{Kind: o.kind, Namespace: o.ns, Name: o.name, Generation: 1}
}
func cosignValidator(name, pem string) string {
	return "- name: " + name + "\n  type: cosign\n  trustRoots:\n  - name: k\n    key: |\n      " + testutil.Indent(pem, 6) + "\n"
}

// object parses o's spec into the Document of a resource, whose problems
// have the resource's field paths.
func (o obj) object(t testing.TB) policy.Object {
	t.Helper()
	doc, err := policy.Parse([]byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n" + o.spec))
	if err != nil {
		t.Fatalf("%s: %v", o.name, err)
	}
	return policy.Object{Ref: o.ref(), Doc: policy.ResourceDocument(o.kind, o.name, doc.Spec)}
}

func compileSet(t testing.TB, objs []obj, opts ...policy.CompileOption) (*policy.Engine, []policy.ObjectError) {
	t.Helper()
	var set policy.Set
	for _, o := range objs {
		set.Objects = append(set.Objects, o.object(t))
	}
	return policy.CompileSet(set, registry.MustNew(), opts...)
}

// TestCompileSetCombines: each line of docs/policy.md's "How they
// combine", through real signatures on an in-process registry.
func TestCompileSetCombines(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	platform, security, teamA, teamB := testutil.NewKey(t), testutil.NewKey(t), testutil.NewKey(t), testutil.NewKey(t)
	both := reg.PushImage(t, "app/both:v1") // signed by platform and security
	testutil.SignLegacy(t, both, platform)
	testutil.SignLegacy(t, both, security)
	one := reg.PushImage(t, "app/one:v1") // signed by platform only
	testutil.SignLegacy(t, one, platform)
	imgA := reg.PushImage(t, "teams/a/app:v1") // signed by team-a's key
	testutil.SignLegacy(t, imgA, teamA)
	imgB := reg.PushImage(t, "teams/b/app:v1")
	testutil.SignLegacy(t, imgB, teamB)
	insecure := "insecureRegistries: [" + h + "]\n"
	byTag := func(d name.Digest) string { return d.Context().Name() + ":v1" }

	// Two cluster objects, each with its own validator named "default".
	base := cip("base", insecure+"validators:\n"+cosignValidator("default", platform.PEM)+
		"- {name: deny, type: static, approve: false}\nrules:\n- {pattern: \""+h+"/app/**\"}\n- {pattern: \""+h+"/teams/**\", validator: namespace}\n")
	sec := cip("security", "validators:\n"+cosignValidator("default", security.PEM)+"rules:\n- {pattern: \""+h+"/app/**\"}\n")
	nsSigned := func(ns, pattern, pem, with string) obj {
		return ip(ns, "keys", "validators:\n"+cosignValidator("default", pem)+"rules:\n- {pattern: \""+pattern+"\""+with+"}\n")
	}
	nsStatic := func(ns, pattern string, approve bool) obj {
		return ip(ns, "static", fmt.Sprintf("validators: [{name: default, type: static, approve: %v}]\nrules: [{pattern: %q}]\n", approve, pattern))
	}
	tests := []struct {
		name      string
		objs      []obj
		ns, image string
		allowed   bool
		mode      string
		reasonHas []string
		rules     int // rules that took part, named in Decision.Rules
	}{
		{name: "tied patterns across two cluster objects: both allow", objs: []obj{base, sec}, image: byTag(both),
			allowed: true, rules: 2, reasonHas: []string{`ClusterImagePolicy "base" rule`, `ClusterImagePolicy "security" rule`}},
		{name: "tied patterns across two cluster objects: one denies", objs: []obj{base, sec}, image: byTag(one),
			mode: policy.ModeEnforce, rules: 2, reasonHas: []string{`ClusterImagePolicy "security" rule "` + h + `/app/**" (validator "default")`, `allowed by the other rules that apply: verified by ClusterImagePolicy "base"`}},
		{name: "the most specific pattern across objects governs", image: byTag(one), rules: 1, mode: policy.ModeEnforce,
			objs:      []obj{base, cip("deny-one", "validators: [{name: deny, type: static, approve: false}]\nrules: [{pattern: \""+h+"/app/one\", validator: deny}]\n")},
			reasonHas: []string{`denied by static ClusterImagePolicy "deny-one" rule`}},
		{name: "a namespace policy tightens a rule", objs: []obj{base, nsSigned("team-a", h+"/app/**", security.PEM, "")}, ns: "team-a", image: byTag(one),
			mode: policy.ModeEnforce, rules: 2, reasonHas: []string{`ImagePolicy "team-a/keys" rule`}},
		{name: "another namespace is not tightened", objs: []obj{base, nsSigned("team-a", h+"/app/**", security.PEM, "")}, ns: "team-b", image: byTag(one),
			allowed: true, rules: 1},
		{name: "a namespace policy cannot allow what the cluster denies", objs: []obj{base, sec, nsStatic("team-a", h+"/app/**", true)}, ns: "team-a", image: byTag(one),
			mode: policy.ModeEnforce, rules: 3, reasonHas: []string{`ClusterImagePolicy "security"`}},
		{name: "a namespace policy cannot allow what no cluster rule matches", objs: []obj{base, nsStatic("team-a", "**", true)}, ns: "team-a", image: "ghcr.io/other/app:v1",
			mode: policy.ModeEnforce, reasonHas: []string{"no cluster policy rule matches"}},
		{name: "delegation: team-a's key admits team-a's image in team-a", objs: []obj{base, nsSigned("team-a", h+"/teams/a/**", teamA.PEM, ""), nsSigned("team-b", h+"/teams/**", teamB.PEM, "")},
			ns: "team-a", image: byTag(imgA), allowed: true, rules: 2, reasonHas: []string{`verified by ImagePolicy "team-a/keys"`, `ClusterImagePolicy "base" rule "` + h + `/teams/**" (validator "namespace") delegates`}},
		{name: "delegation: team-a's image is denied in team-b", objs: []obj{base, nsSigned("team-a", h+"/teams/a/**", teamA.PEM, ""), nsSigned("team-b", h+"/teams/**", teamB.PEM, "")},
			ns: "team-b", image: byTag(imgA), mode: policy.ModeEnforce, rules: 2, reasonHas: []string{`ImagePolicy "team-b/keys" rule`}},
		{name: "delegation: no rule of the namespace matches", objs: []obj{base, nsSigned("team-a", h+"/teams/a/**", teamA.PEM, ""), nsSigned("team-c", h+"/other/**", teamB.PEM, "")},
			ns: "team-c", image: byTag(imgA), mode: policy.ModeEnforce, rules: 1,
			reasonHas: []string{`delegates the images it matches to the ImagePolicies of namespace "team-c", and none of them has a rule matching ` + byTag(imgA)}},
		{name: "delegation: a namespace without ImagePolicies", objs: []obj{base, nsSigned("team-a", h+"/teams/a/**", teamA.PEM, "")},
			ns: "team-d", image: byTag(imgA), mode: policy.ModeEnforce, rules: 1, reasonHas: []string{`namespace "team-d", and none of them`}},
		{name: "delegation: no namespace given", objs: []obj{base, nsSigned("team-a", h+"/teams/a/**", teamA.PEM, "")},
			image: byTag(imgA), mode: policy.ModeEnforce, rules: 1, reasonHas: []string{"no namespace was given"}},
		{name: "a namespace's audit rule denies in audit mode", objs: []obj{base, nsSigned("team-a", h+"/app/**", security.PEM, ", with: {mode: audit}")}, ns: "team-a", image: byTag(one),
			mode: policy.ModeAudit, rules: 2},
		{name: "a cluster denial keeps its mode whatever the namespace's", objs: []obj{
			cip("warned", insecure+"mode: warn\nvalidators:\n"+cosignValidator("default", security.PEM)+"rules: [{pattern: \""+h+"/app/**\"}]\n"),
			nsSigned("team-a", h+"/app/**", platform.PEM, ", with: {mode: enforce}")}, ns: "team-a", image: byTag(one), mode: policy.ModeWarn, rules: 2},
		{name: "a delegated rule that denies takes the delegation's mode too", objs: []obj{base, nsSigned("team-b", h+"/teams/**", teamB.PEM, ", with: {mode: audit}")},
			ns: "team-b", image: byTag(imgA), mode: policy.ModeEnforce, rules: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			eng, errs := compileSet(t, tc.objs)
			if errs != nil {
				t.Fatal(errs)
			}
			d := eng.EvaluateFor(context.Background(), tc.ns, tc.image)
			t.Logf("%s (%s, %s)", d.Reason, d.Outcome, d.Mode)
			if d.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v: %s", d.Allowed, tc.allowed, d.Reason)
			}
			if !tc.allowed && d.Mode != tc.mode {
				t.Errorf("mode %s, want %s: %s", d.Mode, tc.mode, d.Reason)
			}
			for _, s := range tc.reasonHas {
				if !strings.Contains(d.Reason, s) {
					t.Errorf("reason %q lacks %q", d.Reason, s)
				}
			}
			if len(d.Rules) != tc.rules {
				t.Errorf("%d rules took part, want %d: %+v", len(d.Rules), tc.rules, d.Rules)
			}
			if denied := slices.ContainsFunc(d.Rules, func(r policy.RuleResult) bool { return !r.Allowed }); tc.rules > 0 && denied == tc.allowed {
				t.Errorf("allowed %v, and the rules' own verdicts: %+v", d.Allowed, d.Rules)
			}
			if d.Rule == "" || d.Validator == "" {
				if tc.rules > 0 {
					t.Errorf("rule %q validator %q: the deciding rule is not named", d.Rule, d.Validator)
				}
			}
			switch {
			case tc.allowed && (d.Digest == "" || d.Pinned != strings.TrimSuffix(tc.image, ":v1")+"@"+d.Digest):
				t.Errorf("allowed, pinned %q, digest %q", d.Pinned, d.Digest)
			case !tc.allowed && d.Pinned != "":
				t.Errorf("denied and pinned %q", d.Pinned)
			}
			if tc.ns == "" {
				if e := eng.Evaluate(context.Background(), tc.image); e.Allowed != d.Allowed || e.Reason != d.Reason {
					t.Errorf("Evaluate: %v %q; EvaluateFor without a namespace: %v %q", e.Allowed, e.Reason, d.Allowed, d.Reason)
				}
			}
		})
	}
}

// TestCompileSetPinning: with.mutate: false on any rule that took part
// keeps the image as written; every rule verifies the one digest the tag
// was resolved to; the pinning mode is that of the objects that took part.
func TestCompileSetPinning(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	key := testutil.NewKey(t)
	img := reg.PushImage(t, "app/x:v1")
	testutil.SignLegacy(t, img, key)
	spec := func(extra, with string) string {
		return "insecureRegistries: [" + h + "]\n" + extra + "validators:\n" + cosignValidator("default", key.PEM) + "rules: [{pattern: \"" + h + "/app/**\"" + with + "}]\n"
	}
	ns := ip("team-a", "keys", "validators:\n"+cosignValidator("default", key.PEM)+"rules: [{pattern: \""+h+"/app/x\"}]\n")
	tests := []struct {
		name    string
		objs    []obj
		pinned  bool
		pinning string
	}{
		{"every rule pins", []obj{cip("a", spec("", "")), cip("b", spec("", "")), ns}, true, policy.PinAll},
		{"a cluster rule says with.mutate: false", []obj{cip("a", spec("", "")), cip("b", spec("", ", with: {mutate: false}")), ns}, false, policy.PinAll},
		{"a delegating rule says with.mutate: false", []obj{cip("a", spec("", "")), cip("b", "validators: [{name: x, type: static, approve: true}]\nrules: [{pattern: \""+h+"/app/**\", validator: namespace, with: {mutate: false}}]\n"), ns}, false, policy.PinAll},
		{"objects that took part pin pods only", []obj{cip("a", spec("pinning: podsOnly\n", "")), cip("b", spec("", "")), ns}, true, policy.PinPodsOnly},
		{"an object that took no part pins nothing", []obj{cip("a", spec("", "")), cip("b", "pinning: none\nvalidators: [{name: x, type: static, approve: true}]\nrules: [{pattern: \"other.example/**\", validator: x}]\n"), ns}, true, policy.PinAll},
	}
	for _, tc := range tests {
		eng, errs := compileSet(t, tc.objs)
		if errs != nil {
			t.Fatal(errs)
		}
		d := eng.EvaluateFor(context.Background(), "team-a", h+"/app/x:v1")
		if !d.Allowed || d.Digest != img.DigestStr() || (d.Pinned != "") != tc.pinned || d.Pinning != tc.pinning {
			t.Errorf("%s: allowed %v digest %s pinned %q pinning %s; want pinned %v, pinning %s (%s)", tc.name, d.Allowed, d.Digest, d.Pinned, d.Pinning, tc.pinned, tc.pinning, d.Reason)
		}
	}
}

// TestCompileSetObjectErrors: what an object may not say, each reported
// with its object and field path; the other objects are in force.
func TestCompileSetObjectErrors(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	allow := "validators: [{name: default, type: static, approve: true}]\nrules: [{pattern: \"ghcr.io/**\"}]\n"
	keyed := func(ref string) string {
		return "validators: [{name: default, type: cosign, trustRoots: [{name: k, key: \"" + ref + "\"}]}]\nrules: [{pattern: \"ghcr.io/**\"}]\n"
	}
	tests := []struct {
		name  string
		bad   obj
		field string
		msg   string
	}{
		{"k8s:// key in another namespace", ip("team-a", "p", keyed("k8s://kube-system/cosign")), "spec.validators[0].trustRoots[0].key", `may only name Secrets in its own namespace (k8s://team-a/…), not in "kube-system"`},
		{"k8s:// key in signet's namespace", ip("team-a", "p", keyed("k8s://signet/cosign/cosign.pub")), "spec.validators[0].trustRoots[0].key", "its own namespace"},
		{"delegation from a namespace", ip("team-a", "p", "validators: [{name: x, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: namespace}]\n"), "spec.rules[0].validator", "delegates a ClusterImagePolicy rule"},
		{"a namespace turns pinning off for a rule", ip("team-a", "p", strings.Replace(allow, `"ghcr.io/**"`, `"ghcr.io/**", with: {mutate: false}`, 1)), "spec.rules[0].with.mutate", "pinning is the cluster policy's"},
		{"a namespace turns pinning off", ip("team-a", "p", "pinning: none\n"+allow), "spec.pinning", "cluster policy's"},
		{"a namespace reaches a registry over HTTP", ip("team-a", "p", "insecureRegistries: [localhost:5000]\n"+allow), "spec.insecureRegistries", "only a ClusterImagePolicy"},
		{"a namespace's policy too large", ip("team-a", "p", "validators: [{name: default, type: static, approve: true}]\nrules:\n"+strings.Repeat("- {pattern: \"ghcr.io/**\"}\n", policy.MaxNamespacedRules+1)), "spec.rules", "at most 128"},
		{"a namespace declares kinds", ip("team-a", "p", "resources: [{group: argoproj.io, version: v1alpha1, kind: Rollout, images: [{podTemplate: /spec/template}]}]\n"+allow), "spec.resources", "only a ClusterImagePolicy"},
		{"a namespace names signet's credentials", ip("team-a", "p", "validators:\n"+cosignValidator("default", key.PEM)+"  auth: {secretName: pull, registries: [ghcr.io]}\nrules: [{pattern: \"ghcr.io/**\"}]\n"), "spec.validators[0].auth.secretName", "signet's namespace"},
		{"a namespace reads a file of signet's host", ip("team-a", "p", "validators: [{name: default, type: cosign, trustedRootFile: /etc/passwd, trustRoots: [{name: k, keyless: {issuer: i, subject: s}}]}]\nrules: [{pattern: \"ghcr.io/**\"}]\n"), "spec.validators[0].trustedRootFile", "signet's host"},
		{"a namespace reads a notation configuration of signet's host", ip("team-a", "p", "validators: [{name: default, type: notation, trustPolicyFile: /etc/notation/trustpolicy.json, trustStoreDir: /etc/notation/truststore/x509}]\nrules: [{pattern: \"ghcr.io/**\"}]\n"), "spec.validators[0].trustPolicyFile", "signet's host"},
		{"delegation with other validators", cip("c", "validators: [{name: x, type: static, approve: true}]\nrules: [{pattern: \"**\", validators: [namespace, x]}]\n"), "spec.rules[0].validators", "cannot be listed with other validators"},
		{"delegation with verification options", cip("c", "validators: [{name: x, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: namespace, with: {threshold: 2}}]\n"), "spec.rules[0].with", "only mode and mutate"},
		{"a validator named namespace", cip("c", "validators: [{name: namespace, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: namespace}]\n"), "spec.validators[0].name", "built-in validator"},
		{"an unknown validator", cip("c", "validators: [{name: x, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: nope}]\n"), "spec.rules[0].validator", `unknown validator "nope"`},
		{"a ClusterImagePolicy with a namespace", obj{policy.KindCluster, "team-a", "c", allow}, "metadata.namespace", "cluster-scoped"},
		{"an ImagePolicy without one", obj{policy.Kind, "", "c", allow}, "metadata.namespace", "namespaced"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			good := []obj{cip("good", allow), ip("team-a", "good", allow)}
			objs := slices.Insert(slices.Clone(good), 1, tc.bad)
			eng, errs := compileSet(t, objs, policy.WithKeySecrets(secretMap{}))
			if len(errs) != 1 || errs[0].Object != tc.bad.ref() {
				t.Fatalf("errors %v, want one for %s", errs, tc.bad.ref())
			}
			ie, ok := errors.AsType[*policy.InvalidError](errs[0].Err)
			if !ok || !slices.ContainsFunc(ie.Errs, func(fe policy.FieldError) bool {
				return fe.Field == tc.field && strings.Contains(fe.Msg, tc.msg)
			}) {
				t.Fatalf("%v, want %s: …%s…", errs[0], tc.field, tc.msg)
			}
			if n := len(eng.Units()); n != 2 {
				t.Errorf("%d objects in force, want the 2 valid ones", n)
			}
			if d := eng.EvaluateFor(context.Background(), "team-a", "ghcr.io/acme/app@sha256:"+strings.Repeat("a", 64)); !d.Allowed || len(d.Rules) != 2 {
				t.Errorf("the valid objects are not in force: %s %+v", d.Reason, d.Rules)
			}
		})
	}
}

// TestCompileSetKeysInNamespace: a namespace's k8s:// key in its own
// namespace is read from there and verifies.
func TestCompileSetKeysInNamespace(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	img := reg.PushImage(t, "app/x:v1")
	testutil.SignLegacy(t, img, key)
	secrets := secretMap{"team-a/cosign": {"cosign.pub": []byte(key.PEM)}}
	eng, errs := compileSet(t, []obj{
		cip("base", "insecureRegistries: ["+reg.Host+"]\nvalidators: [{name: x, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: namespace}]\n"),
		ip("team-a", "keys", "validators: [{name: default, type: cosign, trustRoots: [{name: k, key: \"k8s://team-a/cosign\"}]}]\nrules: [{pattern: \"**\"}]\n"),
	}, policy.WithKeySecrets(secrets))
	if errs != nil {
		t.Fatal(errs)
	}
	if d := eng.EvaluateFor(context.Background(), "team-a", img.String()); !d.Allowed || d.Outcome != verify.Verified {
		t.Errorf("%s: %s", d.Outcome, d.Reason)
	}
}

// TestAssembleLastValidForm: the way a watcher keeps an object's last
// valid form in force: units compiled one object at a time, kept, and
// assembled again; an invalid update is reported and its last valid unit
// stays; a deleted object's rules go, and images only it covered are
// denied.
func TestAssembleLastValidForm(t *testing.T) {
	t.Parallel()
	allow := func(pattern string) string {
		return "validators: [{name: default, type: static, approve: true}]\nrules: [{pattern: \"" + pattern + "\"}]\n"
	}
	reg := registry.MustNew()
	units := map[string]*policy.Unit{}
	apply := func(o obj, gen int64) error {
		ob := o.object(t)
		ob.Ref.Generation = gen
		u, err := policy.CompileUnit(ob, reg)
		if err == nil {
			units[o.name] = u
		}
		return err
	}
	engine := func() *policy.Engine {
		var us []*policy.Unit
		for _, u := range units {
			us = append(us, u)
		}
		return policy.Assemble(us, reg)
	}
	img := "ghcr.io/acme/app@sha256:" + strings.Repeat("a", 64)
	if err := apply(cip("base", allow("docker.io/**")), 1); err != nil {
		t.Fatal(err)
	}
	if err := apply(cip("acme", allow("ghcr.io/acme/**")), 1); err != nil {
		t.Fatal(err)
	}
	if d := engine().Evaluate(context.Background(), img); !d.Allowed {
		t.Fatal(d.Reason)
	}
	if err := apply(cip("acme", "validators: []\nrules: [{pattern: \"ghcr.io/acme/**\", validator: gone}]\n"), 2); err == nil {
		t.Fatal("an invalid update compiled")
	}
	d := engine().Evaluate(context.Background(), img)
	if !d.Allowed || len(d.Rules) != 1 || d.Rules[0].Object.Generation != 1 {
		t.Errorf("after an invalid update: %v %s %+v, want generation 1 in force", d.Allowed, d.Reason, d.Rules)
	}
	delete(units, "acme")
	if d := engine().Evaluate(context.Background(), img); d.Allowed || !strings.Contains(d.Reason, "no cluster policy rule matches") {
		t.Errorf("after deleting the only object covering it: %v %s", d.Allowed, d.Reason)
	}
	if d := policy.Assemble(nil, reg).EvaluateFor(context.Background(), "team-a", img); d.Allowed || d.Mode != policy.ModeEnforce {
		t.Errorf("nothing loaded: %v %s %s", d.Allowed, d.Mode, d.Reason)
	}
}

// TestFileDelegationDenies: a policy file is the cluster's policy alone;
// a rule of it that delegates to the namespace denies, and says why.
func TestFileDelegationDenies(t *testing.T) {
	t.Parallel()
	eng := compileYAML(t, "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: allow, type: static, approve: true}]\nrules:\n- {pattern: \"ghcr.io/**\", validator: allow}\n- {pattern: \"ghcr.io/teams/**\", validator: namespace}\n")
	img := "ghcr.io/teams/a/app@sha256:" + strings.Repeat("a", 64)
	for _, d := range []policy.Decision{eng.Evaluate(context.Background(), img), eng.EvaluateFor(context.Background(), "team-a", img)} {
		if d.Allowed || d.Validator != policy.ValidatorNamespace || !strings.Contains(d.Reason, "delegates the images it matches") {
			t.Errorf("%v by %s: %s", d.Allowed, d.Validator, d.Reason)
		}
	}
	if d := eng.Evaluate(context.Background(), "ghcr.io/other/app@sha256:"+strings.Repeat("a", 64)); !d.Allowed {
		t.Error(d.Reason)
	}
}

// TestLintNamespacedImagePolicy: signet policy lint holds an ImagePolicy
// resource with a namespace to what a namespace's policy may say.
func TestLintNamespacedImagePolicy(t *testing.T) {
	t.Parallel()
	y := func(kind, ns string) string {
		return "apiVersion: signet.dev/v1alpha1\nkind: " + kind + "\nmetadata: {name: keys" + ns + "}\nspec:\n  validators: [{name: default, type: cosign, trustRoots: [{name: k, key: \"k8s://kube-system/cosign\"}]}]\n  rules: [{pattern: \"ghcr.io/**\"}]\n"
	}
	tests := []struct {
		kind, ns string
		valid    bool
	}{
		{policy.Kind, ", namespace: team-a", false},
		{policy.Kind, "", true},
		{policy.KindCluster, "", true},
	}
	for _, tc := range tests {
		r := policy.Lint([]byte(y(tc.kind, tc.ns)))
		if r.Valid() != tc.valid {
			t.Errorf("%s%s: errors %v, want valid %v", tc.kind, tc.ns, r.Errors, tc.valid)
		}
		if !tc.valid && (len(r.Errors) != 1 || r.Errors[0].Field != "spec.validators[0].trustRoots[0].key" || r.Errors[0].Line != 5) {
			t.Errorf("%s%s: %v, want the key's field path and line", tc.kind, tc.ns, r.Errors)
		}
	}
}

// TestMaxNamespaceRules: an image more than MaxNamespaceRules
// ImagePolicies of its namespace apply to is denied, whatever they say.
func TestMaxNamespaceRules(t *testing.T) {
	t.Parallel()
	for _, n := range []int{policy.MaxNamespaceRules, policy.MaxNamespaceRules + 1} {
		objs := []obj{cip("base", "validators: [{name: default, type: static, approve: true}]\nrules: [{pattern: \"ghcr.io/**\"}]\n")}
		for i := range n {
			objs = append(objs, ip("team-a", fmt.Sprint("p", i), "validators: [{name: default, type: static, approve: true}]\nrules: [{pattern: \"ghcr.io/acme/**\"}]\n"))
		}
		eng, errs := compileSet(t, objs)
		if errs != nil {
			t.Fatal(errs)
		}
		d := eng.EvaluateFor(context.Background(), "team-a", "ghcr.io/acme/app@sha256:"+strings.Repeat("a", 64))
		if want := n <= policy.MaxNamespaceRules; d.Allowed != want || !want && (d.Mode != policy.ModeEnforce || !strings.Contains(d.Reason, "more than 16 ImagePolicies")) {
			t.Errorf("%d ImagePolicies: allowed %v (%s, %s), want %v", n, d.Allowed, d.Mode, d.Reason, want)
		}
	}
}

// TestCompileSetResources: a kind two ClusterImagePolicies declare is read
// at every place either names.
func TestCompileSetResources(t *testing.T) {
	t.Parallel()
	allow := "validators: [{name: default, type: static, approve: true}]\nrules: [{pattern: \"ghcr.io/**\"}]\n"
	decl := func(ptr string) string {
		return "resources: [{group: argoproj.io, version: v1alpha1, kind: Rollout, images: [{podTemplate: " + ptr + "}]}]\n" + allow
	}
	eng, errs := compileSet(t, []obj{cip("a", decl("/spec/template")), cip("b", decl("/spec/canary/template")), cip("c", decl("/spec/template"))})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	r := eng.Resource("argoproj.io", "v1alpha1", "Rollout")
	if r == nil || !slices.Equal(r.PodTemplates, []string{"/spec/template", "/spec/canary/template"}) {
		t.Fatalf("merged declaration %+v, want both templates once", r)
	}
}
