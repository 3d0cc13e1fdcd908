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

func TestQuorum(t *testing.T) {
	t.Parallel()
	q := Quorum{Roots: []string{"a", "b", "c"}, Threshold: 2, Required: []string{"c"}}
	tests := []struct {
		signers []string
		ok      bool
		why     string
	}{
		{nil, false, "0 of 2"},
		{[]string{"a"}, false, "1 of 2"},
		{[]string{"a", "b"}, false, "required trust roots [c]"},
		{[]string{"a", "c"}, true, ""},
		{[]string{"a", "b", "c"}, true, ""},
		{[]string{"c", "x"}, false, "1 of 2"}, // x is not one of the rule's roots
	}
	for _, tc := range tests {
		if got := q.Satisfied(tc.signers); got != tc.ok {
			t.Errorf("Satisfied(%v) = %v", tc.signers, got)
		}
		if why := q.Shortfall(tc.signers); !strings.Contains(why, tc.why) || (tc.ok && why != "") {
			t.Errorf("Shortfall(%v) = %q, want %q", tc.signers, why, tc.why)
		}
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
