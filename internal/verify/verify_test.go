package verify

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want Outcome
	}{
		{nil, Verified},
		{Failf("bad"), Failed},
		{fmt.Errorf("wrapped: %w", Failf("bad")), Failed},
		{Inconclusivef("down"), Inconclusive},
		{errors.New("something unexpected"), Inconclusive},
		{errors.Join(Inconclusivef("a"), Failf("b")), Failed},
	}
	for _, tc := range tests {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// pass returns passed checks, each "root=signer".
func pass(edges ...string) []Check {
	var out []Check
	for _, e := range edges {
		root, signer, _ := strings.Cut(e, "=")
		out = append(out, Check{TrustRoot: root, Signer: signer, Passed: true})
	}
	return out
}

func TestQuorum(t *testing.T) {
	t.Parallel()
	q := Quorum{Roots: []string{"a", "b", "c"}, Threshold: 2, Required: []string{"c"}}
	tests := []struct {
		checks  []Check
		ok      bool
		why     string
		signers string
	}{
		{nil, false, "0 of 2", ""},
		{pass("a=1"), false, "1 of 2", "a"},
		{pass("a=1", "b=2"), false, "required trust roots [c]", "a,b"},
		{pass("a=1", "c=2"), true, "", "a,c"},
		{pass("a=1", "b=2", "c=3"), true, "", "a,b,c"},
		{pass("c=1", "x=2"), false, "1 of 2", "c"}, // x is not one of the rule's roots
		// One signer counts once, whatever the number of roots it satisfies.
		{pass("a=1", "c=1"), false, "1 of 2", "c"},
		{pass("a=1", "b=1", "c=1"), false, "1 of 2", "c"},
		// The matching moves a signer to the root that needs it: 1 is valid
		// for a and c, 2 only for a, so c takes 1 and a takes 2.
		{pass("a=1", "c=1", "a=2"), true, "", "a,c"},
		{pass("c=1", "a=1", "b=1", "b=2"), true, "", "b,c"},
		// A failed check is no signer; a passed one without a signer name
		// counts as its own signature.
		{append(pass("c=1"), Check{TrustRoot: "a", Signer: "2"}), false, "1 of 2", "c"},
		{[]Check{{TrustRoot: "a", Signature: "s1", Passed: true}, {TrustRoot: "c", Signature: "s1", Passed: true}}, false, "1 of 2", "c"},
		{[]Check{{TrustRoot: "a", Signature: "s1", Passed: true}, {TrustRoot: "c", Signature: "s2", Passed: true}}, true, "", "a,c"},
	}
	for i, tc := range tests {
		if got := q.Satisfied(tc.checks); got != tc.ok {
			t.Errorf("%d: Satisfied(%v) = %v", i, tc.checks, got)
		}
		if why := q.Shortfall(tc.checks); !strings.Contains(why, tc.why) || (tc.ok && why != "") {
			t.Errorf("%d: Shortfall(%v) = %q, want %q", i, tc.checks, why, tc.why)
		}
		if got := strings.Join(q.Signers(tc.checks), ","); got != tc.signers {
			t.Errorf("%d: Signers = %q, want %q", i, got, tc.signers)
		}
	}
}

// TestQuorumRequired: two required roots one signer satisfies are not
// both met; the one left over is named.
func TestQuorumRequired(t *testing.T) {
	t.Parallel()
	q := Quorum{Roots: []string{"a", "b", "c"}, Threshold: 2, Required: []string{"a", "b"}}
	checks := pass("a=1", "b=1", "c=2")
	if q.Satisfied(checks) {
		t.Fatal("one signer satisfied two required roots")
	}
	if m := q.Missing(checks); strings.Join(m, ",") != "b" {
		t.Errorf("Missing = %v, want [b]", m)
	}
	if !q.Satisfied(pass("a=1", "b=1", "b=2")) {
		t.Error("a=1, b=2 is a valid assignment")
	}
	// Required roots are matched before the others: c must not take the
	// only signer b has.
	q = Quorum{Roots: []string{"c", "b"}, Threshold: 1, Required: []string{"b"}}
	if !q.Satisfied(pass("c=1", "b=1")) {
		t.Error("required b lost its signer to c")
	}
}

// TestQuorumSaturated: a root stops needing signatures once it has as many
// distinct signers as there are roots; the tally reads checks as they
// are added.
func TestQuorumSaturated(t *testing.T) {
	t.Parallel()
	q := Quorum{Roots: []string{"a", "b"}, Threshold: 2}
	for _, tc := range []struct {
		checks []Check
		want   bool
	}{
		{nil, false},
		{pass("a=1"), false},
		{pass("a=1", "a=1"), false},
		{pass("a=1", "a=2"), true},
		{pass("b=1", "b=2"), false},
	} {
		if got := q.Tally().Saturated(tc.checks, "a"); got != tc.want {
			t.Errorf("Saturated(%v, a) = %v, want %v", tc.checks, got, tc.want)
		}
	}
	tally, checks := q.Tally(), pass("a=1")
	if tally.Saturated(checks, "a") {
		t.Error("one signer saturates")
	}
	checks = append(checks, pass("b=1", "a=2")...)
	if !tally.Saturated(checks, "a") || tally.Signers(checks, "b") != 1 {
		t.Error("the tally did not read the new checks")
	}
}

// TestQuorumMatchingBound: the matching is exact and cheap at the sizes a
// verifier reaches (64 signatures, every one valid for 64 roots).
func TestQuorumMatchingBound(t *testing.T) {
	t.Parallel()
	roots, checks := complete(64, 64)
	q := Quorum{Roots: roots, Threshold: 64, Required: roots[:32]}
	if !q.Satisfied(checks) {
		t.Error("64 signers for 64 roots: not satisfied")
	}
	q.Threshold = 64
	if q.Satisfied(checks[:64*63]) { // root r63 has no signer
		t.Error("63 roots with signers satisfied a threshold of 64")
	}
}

func TestAll(t *testing.T) {
	t.Parallel()
	pass := Func(func(context.Context, Image) (*Result, error) {
		return &Result{Signers: []string{"k"}, Checks: []Check{{TrustRoot: "k", Passed: true}}}, nil
	})
	fail := Func(func(context.Context, Image) (*Result, error) { return &Result{}, Failf("bad signature") })
	down := Func(func(context.Context, Image) (*Result, error) { return nil, Inconclusivef("registry down") })
	tests := []struct {
		members []Named
		want    Outcome
		has     []string
		signers string
	}{
		{[]Named{{"a", pass}, {"b", pass}}, Verified, nil, "a/k,b/k"},
		{[]Named{{"a", pass}, {"b", fail}}, Failed, []string{"validator b: bad signature"}, "a/k"},
		{[]Named{{"a", down}, {"b", fail}}, Failed, []string{"validator b: bad signature", "validator a: registry down"}, ""},
		{[]Named{{"a", pass}, {"b", down}}, Inconclusive, []string{"validator b: registry down"}, "a/k"},
	}
	for i, tc := range tests {
		res, err := All(tc.members...).Verify(context.Background(), Image{})
		if got := Classify(err); got != tc.want {
			t.Errorf("%d: outcome %s, want %s (%v)", i, got, tc.want, err)
		}
		for _, h := range tc.has {
			if err == nil || !strings.Contains(err.Error(), h) {
				t.Errorf("%d: %v lacks %q", i, err, h)
			}
		}
		if got := strings.Join(res.Signers, ","); got != tc.signers {
			t.Errorf("%d: signers %q, want %q", i, got, tc.signers)
		}
	}
}

// resolver is a Verifier that also resolves every tag to one digest.
type resolver struct {
	Func
	digest string
}

func (r resolver) ResolveTag(_ context.Context, ref imageref.Ref) (name.Digest, error) {
	if r.digest == "" {
		return name.Digest{}, Failf("tag not signed")
	}
	return ref.DigestRef(r.digest)
}

func TestAllResolveTag(t *testing.T) {
	t.Parallel()
	pass := Func(func(context.Context, Image) (*Result, error) { return &Result{}, nil })
	a := "sha256:" + strings.Repeat("a", 64)
	b := "sha256:" + strings.Repeat("b", 64)
	if _, ok := All(Named{"x", pass}, Named{"y", pass}).(TagResolver); ok {
		t.Error("All without resolving members is a TagResolver")
	}
	ref, err := imageref.Parse("acme/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		members []Named
		want    string
		outcome Outcome
	}{
		{[]Named{{"cosign", pass}, {"dct", resolver{pass, a}}}, a, Verified},
		{[]Named{{"dct1", resolver{pass, a}}, {"dct2", resolver{pass, a}}}, a, Verified},
		{[]Named{{"dct1", resolver{pass, a}}, {"dct2", resolver{pass, b}}}, "", Failed},
		{[]Named{{"cosign", pass}, {"dct", resolver{pass, ""}}}, "", Failed},
	}
	for i, tc := range tests {
		tr, ok := All(tc.members...).(TagResolver)
		if !ok {
			t.Fatalf("%d: not a TagResolver", i)
		}
		d, err := tr.ResolveTag(context.Background(), ref)
		if got := Classify(err); got != tc.outcome {
			t.Errorf("%d: outcome %s (%v), want %s", i, got, err, tc.outcome)
		}
		if err == nil && d.DigestStr() != tc.want {
			t.Errorf("%d: digest %s, want %s", i, d.DigestStr(), tc.want)
		}
	}
}

type fingerprinted struct {
	Verifier
	fp  string
	err error
}

func (f fingerprinted) MaterialFingerprint(context.Context) (string, error) { return f.fp, f.err }

// TestAllFingerprint: a rule naming several validators fingerprints the
// material of each; one whose material cannot be had makes the whole
// unresolved.
func TestAllFingerprint(t *testing.T) {
	t.Parallel()
	plain := Func(func(context.Context, Image) (*Result, error) { return &Result{}, nil })
	tests := []struct {
		name    string
		members []Named
		want    string
		wantErr bool
	}{
		{"none", []Named{{"a", plain}, {"b", plain}}, "", false},
		{"one", []Named{{"a", plain}, {"b", fingerprinted{plain, "k1", nil}}}, ",k1", false},
		{"two", []Named{{"a", fingerprinted{plain, "k0", nil}}, {"b", fingerprinted{plain, "k1", nil}}}, "k0,k1", false},
		{"unresolved", []Named{{"a", fingerprinted{plain, "k0", nil}}, {"b", fingerprinted{plain, "", Inconclusivef("key gone")}}}, "", true},
	}
	for _, tc := range tests {
		fp, err := All(tc.members...).(MaterialFingerprinter).MaterialFingerprint(context.Background())
		if fp != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %q, %v; want %q (error %v)", tc.name, fp, err, tc.want, tc.wantErr)
		}
	}
}

// BenchmarkQuorumMatching is the worst case a verifier can reach: 128
// signers (cosign reads at most 64 legacy signatures and 64 referrers),
// each valid for each of 64 trust roots, all required.
func BenchmarkQuorumMatching(b *testing.B) {
	roots, checks := complete(64, 128)
	q := Quorum{Roots: roots, Threshold: 64, Required: roots}
	b.ReportAllocs()
	for b.Loop() {
		if !q.Satisfied(checks) {
			b.Fatal("not satisfied")
		}
	}
}

// complete returns n trust roots and the passed checks of m signers, each
// valid for every root.
func complete(n, m int) ([]string, []Check) {
	var roots []string
	var checks []Check
	for r := range n {
		roots = append(roots, fmt.Sprint("r", r))
		for s := range m {
			checks = append(checks, Check{TrustRoot: fmt.Sprint("r", r), Signer: fmt.Sprint("s", s), Passed: true})
		}
	}
	return roots, checks
}
