package attest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// source is a Source for faults no registry produces on demand: it
// offers its attestations, then returns err.
type source struct {
	atts     []cosign.Attestation
	err      error
	fp       string
	rejected []verify.Check // envelopes that did not verify
}

func (s source) Attestations(_ context.Context, _ verify.Image, _ string, res *verify.Result, visit func(cosign.Attestation) bool) error {
	for _, c := range s.rejected {
		res.Add(c)
	}
	for _, a := range s.atts {
		if visit(a) {
			return nil
		}
	}
	return s.err
}

func (s source) MaterialFingerprint(context.Context) (string, error) { return s.fp, nil }

const digest = "sha256:0123456789012345678901234567890123456789012345678901234567890123"

func statement(subject, predicateType string) []byte {
	_, hex, _ := strings.Cut(subject, ":")
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"x","digest":{"sha256":"` + hex + `"}}],"predicateType":"` + predicateType + `","predicate":{}}`)
}

func TestVerifierOutcomes(t *testing.T) {
	t.Parallel()
	img := verify.Image{Ref: name.MustParseReference("registry.example/app@" + digest).(name.Digest)}
	const typ = "https://example.com/p/v1"
	good := cosign.Attestation{Statement: statement(digest, typ), Digest: "sha256:aa", Source: "x.att#0", Signers: []cosign.Signer{{TrustRoot: "ci"}}}
	other := cosign.Attestation{Statement: statement("sha256:"+strings.Repeat("f", 64), typ), Digest: "sha256:bb", Source: "x.att#1"}
	inconclusive := &verify.InconclusiveError{Reason: "registry unreachable"}
	sigOK := verify.Func(func(context.Context, verify.Image) (*verify.Result, error) {
		return &verify.Result{Signers: []string{"ci"}}, nil
	})
	sigFailed := verify.Func(func(context.Context, verify.Image) (*verify.Result, error) {
		return &verify.Result{}, verify.Failf("no signatures")
	})
	req := func(s source) Requirement {
		return Requirement{Name: "r", Type: typ, Short: "p", Signers: `validator "v" [ci]`, Source: s}
	}
	tests := []struct {
		name string
		sig  verify.Verifier
		reqs []Requirement
		want verify.Outcome
		has  []string
	}{
		{"met", sigOK, []Requirement{req(source{atts: []cosign.Attestation{good}})}, verify.Verified, nil},
		{"met despite a later fetch error", sigOK, []Requirement{req(source{atts: []cosign.Attestation{good}, err: inconclusive})}, verify.Verified, nil},
		{"none", sigOK, []Requirement{req(source{})}, verify.Failed, []string{`attestation requirement "r": no p attestation`}},
		{"another subject", sigOK, []Requirement{req(source{atts: []cosign.Attestation{other}})}, verify.Failed, []string{"names no subject"}},
		{"unreachable", sigOK, []Requirement{req(source{err: inconclusive})}, verify.Inconclusive, []string{"could not check every p attestation"}},
		{"failure beats inconclusive", sigOK, []Requirement{req(source{err: inconclusive}), {Name: "s", Type: typ, Short: "p", Source: source{}}}, verify.Failed, []string{`"s"`, `"r"`}},
		{"none that verifies says why", sigOK, []Requirement{req(source{rejected: []verify.Check{
			{TrustRoot: "ci", Signature: "x.att#0", Reason: "attestation does not verify for this key"},
			{Signature: "x.att#1", Reason: "attestation envelope of 5368709120 bytes is over signet's limit"},
		}})}, verify.Failed, []string{`no p attestation of ` + digest + ` signed by validator "v" [ci]: x.att#0: attestation does not verify for this key; x.att#1: attestation envelope of 5368709120 bytes`}},
		{"signatures fail", sigFailed, []Requirement{req(source{atts: []cosign.Attestation{good}})}, verify.Failed, []string{"no signatures"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := NewVerifier(tc.sig, tc.reqs).Verify(context.Background(), img)
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome %s, want %s (%v)", got, tc.want, err)
			}
			if len(res.Attestations) != len(tc.reqs) {
				t.Fatalf("%d attestation results, want %d", len(res.Attestations), len(tc.reqs))
			}
			// Each shortfall is said once.
			for _, s := range tc.has {
				if strings.Count(err.Error(), s) != 1 {
					t.Errorf("error does not say %q once: %v", s, err)
				}
			}
		})
	}
}

// TestVerifierDeadline: conditions cut short by the deadline make the
// requirement inconclusive, never failed (a failure is cached).
func TestVerifierDeadline(t *testing.T) {
	t.Parallel()
	img := verify.Image{Ref: name.MustParseReference("registry.example/app@" + digest).(name.Digest)}
	const typ = "https://example.com/p/v1"
	conds, errs := Compile([]Condition{{Expression: "true"}})
	if errs != nil {
		t.Fatal(errs)
	}
	att := cosign.Attestation{Statement: statement(digest, typ), Digest: "sha256:aa", Source: "x.att#0", Signers: []cosign.Signer{{TrustRoot: "ci"}}}
	sig := verify.Func(func(context.Context, verify.Image) (*verify.Result, error) { return &verify.Result{}, nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := NewVerifier(sig, []Requirement{{Name: "r", Type: typ, Short: "p", Source: source{atts: []cosign.Attestation{att}}, Conditions: conds}}).Verify(ctx, img)
	if verify.Classify(err) != verify.Inconclusive || res.Attestations[0].Outcome != verify.Inconclusive {
		t.Fatalf("outcome %s (%v), want inconclusive", verify.Classify(err), err)
	}
}

type resolver struct{ verify.Func }

func (resolver) ResolveTag(context.Context, imageref.Ref) (name.Digest, error) {
	return name.Digest{}, errors.New("unused")
}

func TestVerifierCapabilities(t *testing.T) {
	t.Parallel()
	sig := verify.Func(func(context.Context, verify.Image) (*verify.Result, error) { return &verify.Result{}, nil })
	reqs := []Requirement{{Name: "a", Source: source{fp: "k1"}}, {Name: "b", Source: source{}, ReadsImage: true}}
	v := NewVerifier(resolver{sig}, reqs)
	if _, ok := v.(verify.TagResolver); !ok {
		t.Error("a signature verifier's tag resolution is lost")
	}
	if !v.(verify.TagDependent).DependsOnTag() {
		t.Error("a condition reading the image does not make the result depend on the tag")
	}
	if NewVerifier(sig, reqs[:1]).(verify.TagDependent).DependsOnTag() {
		t.Error("depends on the tag without reading the image")
	}
	fp, err := v.(verify.MaterialFingerprinter).MaterialFingerprint(context.Background())
	if err != nil || !strings.Contains(fp, "attestation a=k1") {
		t.Errorf("fingerprint %q, %v: the attestation key's material is missing", fp, err)
	}
}
