package attest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// MaxRequirements bounds the attestation requirements of one rule: each
// is checked concurrently, one goroutine each, for every image the rule
// verifies.
const MaxRequirements = 16

// maxReasons bounds the attestations a denial describes one by one.
const maxReasons = 8

// Source finds the attestations of one predicate type attached to an image
// and verifies their envelopes against trust roots; *cosign.Verifier is one.
type Source interface {
	Attestations(ctx context.Context, img verify.Image, predicateType string, res *verify.Result, visit func(cosign.Attestation) bool) error
}

// Requirement is one compiled entry of a rule's with.attestations.
type Requirement struct {
	// Name is the entry's name, unique within the rule.
	Name string
	// Type is the predicate type URI, and Short the type as the policy
	// wrote it (a cosign short name or the URI).
	Type, Short string
	// Signers names whose signatures count, for messages: the validator
	// and its trust roots ("acme-ci [release]").
	Signers string
	// Source finds and verifies the attestations.
	Source Source
	// Conditions must all hold for one attestation; nil or empty when the
	// requirement only asks that a trusted attestation exist.
	Conditions *Conditions
	// ReadsImage is true when a condition may read the image variable,
	// whose tag and reference vary between spellings of one digest.
	ReadsImage bool
}

// Verifier checks an image's signatures and its attestation requirements,
// concurrently, within one set of shared registry look-ups.
type Verifier struct {
	sig  verify.Verifier
	reqs []Requirement
	now  func() time.Time
}

// NewVerifier returns a Verifier that passes when sig passes and every
// requirement is met. It keeps sig's optional capabilities (TagResolver).
func NewVerifier(sig verify.Verifier, reqs []Requirement) verify.Verifier {
	v := &Verifier{sig: sig, reqs: reqs, now: time.Now}
	if tr, ok := sig.(verify.TagResolver); ok {
		return resolving{v, tr}
	}
	return v
}

type resolving struct {
	*Verifier
	verify.TagResolver
}

// DependsOnTag implements verify.TagDependent: a condition reading the
// image variable may answer differently for another tag of the digest.
func (v *Verifier) DependsOnTag() bool {
	for _, r := range v.reqs {
		if r.ReadsImage {
			return true
		}
	}
	return false
}

// MaterialFingerprint implements verify.MaterialFingerprinter: the material
// of the signature verifier and of every requirement's source that resolves
// its material when it verifies.
func (v *Verifier) MaterialFingerprint(ctx context.Context) (string, error) {
	var parts []string
	add := func(what string, x any) error {
		f, ok := x.(verify.MaterialFingerprinter)
		if !ok {
			return nil
		}
		fp, err := f.MaterialFingerprint(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if fp != "" {
			parts = append(parts, what+"="+fp)
		}
		return nil
	}
	if err := add("signatures", v.sig); err != nil {
		return "", err
	}
	for _, r := range v.reqs {
		if err := add("attestation "+r.Name, r.Source); err != nil {
			return "", err
		}
	}
	return strings.Join(parts, ";"), nil
}

// Verify implements verify.Verifier.
func (v *Verifier) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	ctx = registry.WithShared(ctx)
	now := v.now()
	results := make([]verify.AttestationResult, len(v.reqs))
	errs := make([]error, len(v.reqs))
	checks := make([][]verify.Check, len(v.reqs))
	var wg sync.WaitGroup
	for i := range v.reqs {
		wg.Go(func() {
			res := &verify.Result{}
			results[i], errs[i] = v.reqs[i].check(ctx, img, now, res)
			checks[i] = res.Checks
		})
	}
	res, sigErr := v.sig.Verify(ctx, img)
	wg.Wait()
	if res == nil {
		res = &verify.Result{}
	}
	res.Attestations = results
	for i, r := range v.reqs {
		for _, c := range checks[i] {
			c.Signature = "attestation " + r.Name + ": " + c.Signature
			res.Checks = append(res.Checks, c)
		}
	}
	return res, combine(sigErr, errs)
}

// combine merges the signatures' error with the requirements': any failure
// fails the whole (every shortfall listed), else any inconclusive makes it
// inconclusive.
func combine(sigErr error, errs []error) error {
	var failed, inconclusive joined
	for _, err := range append([]error{sigErr}, errs...) {
		switch verify.Classify(err) {
		case verify.Verified:
		case verify.Failed:
			failed = append(failed, err)
		default:
			inconclusive = append(inconclusive, err)
		}
	}
	// The reason is the wrapped errors' text, said once.
	switch all := append(failed, inconclusive...); {
	case len(failed) > 0:
		return &verify.FailedError{Reason: all.Error(), Err: all}
	case len(inconclusive) > 0:
		return &verify.InconclusiveError{Reason: all.Error(), Err: all}
	}
	return nil
}

// joined is errors.Join on one line: its text is each error's, "; "
// between them.
type joined []error

func (j joined) Error() string {
	msgs := make([]string, len(j))
	for i, err := range j {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}

func (j joined) Unwrap() []error { return j }

// check looks for one attestation of the requirement's type, signed by its
// signers, for which every condition holds.
func (r *Requirement) check(ctx context.Context, img verify.Image, now time.Time, res *verify.Result) (verify.AttestationResult, error) {
	out := verify.AttestationResult{Name: r.Name, Type: r.Type}
	vars := imageVars(img)
	var reasons []string
	seen := 0
	err := r.Source.Attestations(ctx, img, r.Type, res, func(a cosign.Attestation) bool {
		seen++
		why := r.evaluate(ctx, img, vars, a, now)
		if why == "" {
			out.Outcome, out.Statement, out.Envelope, out.Source = verify.Verified, a.Digest, a.Envelope, a.Source
			for _, s := range a.Signers {
				out.Signers = append(out.Signers, s.TrustRoot)
			}
			out.Reason = fmt.Sprintf("requirement %q met by %s attestation in envelope %s (%s) signed by [%s]", r.Name, r.Short, a.Envelope, a.Source, strings.Join(out.Signers, ", "))
			return true
		}
		if len(reasons) < maxReasons {
			reasons = append(reasons, fmt.Sprintf("%s (%s): %s", a.Digest, a.Source, why))
		}
		return false
	})
	if out.Outcome == verify.Verified {
		return out, nil
	}
	var e error
	switch {
	case ctx.Err() != nil:
		// A condition cut short by the deadline is no verdict.
		e = &verify.InconclusiveError{Reason: fmt.Sprintf("attestation requirement %q: not every %s attestation was checked before the deadline", r.Name, r.Short), Err: ctx.Err()}
	case verify.Classify(err) == verify.Inconclusive:
		e = &verify.InconclusiveError{Reason: fmt.Sprintf("attestation requirement %q: could not check every %s attestation", r.Name, r.Short), Err: err}
	case err != nil:
		e = fmt.Errorf("attestation requirement %q: %w", r.Name, err)
	case seen == 0:
		e = verify.Failf("attestation requirement %q: no %s attestation of %s signed by %s%s", r.Name, r.Short, img.Digest(), r.Signers, rejected(res.Checks))
	default:
		more := ""
		if seen > len(reasons) {
			more = fmt.Sprintf("; and %d more", seen-len(reasons))
		}
		e = verify.Failf("attestation requirement %q: no %s attestation signed by %s satisfies its conditions: %s%s", r.Name, r.Short, r.Signers, strings.Join(reasons, "; "), more)
	}
	out.Outcome, out.Reason = verify.Classify(e), e.Error()
	return out, e
}

// rejected says why the envelopes examined were not attestations of the
// image signed by the requirement's signers (each distinct reason once, at
// most maxReasons), "" when none was examined.
func rejected(checks []verify.Check) string {
	var reasons []string
	for _, c := range checks {
		why := c.Reason
		if c.Signature != "" {
			why = c.Signature + ": " + why
		}
		if c.Passed || slices.Contains(reasons, why) {
			continue
		}
		if len(reasons) == maxReasons {
			reasons = append(reasons, "…")
			break
		}
		reasons = append(reasons, why)
	}
	if len(reasons) == 0 {
		return ""
	}
	return ": " + strings.Join(reasons, "; ")
}

// evaluate returns why attestation a does not meet the requirement, "" when
// it does.
func (r *Requirement) evaluate(ctx context.Context, img verify.Image, vars Image, a cosign.Attestation, now time.Time) string {
	st, err := ParseStatement(a.Statement)
	if err != nil {
		return err.Error()
	}
	// The verifier checked both already; a statement that disagrees is
	// never evaluated.
	if !st.Names(img.Digest()) {
		return "the statement names no subject with digest " + img.Digest()
	}
	if st.PredicateType != r.Type {
		return fmt.Sprintf("predicate type %q is not %q", st.PredicateType, r.Type)
	}
	if r.Conditions == nil {
		return ""
	}
	var signer Signer
	if len(a.Signers) > 0 {
		s := a.Signers[0]
		signer = Signer{TrustRoot: s.TrustRoot, Issuer: s.Issuer, Subject: s.Subject}
	}
	if ok, _, reason := r.Conditions.Eval(ctx, st, vars, signer, now); !ok {
		return reason
	}
	return ""
}

// imageVars is what conditions see of the image: the digest verified, and
// the tag the workload named when the engine passed it.
func imageVars(img verify.Image) Image {
	repo := img.Ref.Context()
	vars := Image{
		Reference:  repo.Name() + "@" + img.Digest(),
		Registry:   repo.RegistryStr(),
		Repository: repo.RepositoryStr(),
		Digest:     img.Digest(),
	}
	if r, err := imageref.Parse(vars.Reference); err == nil {
		vars.Registry = r.Registry()
		vars.Repository = strings.TrimPrefix(r.Name(), vars.Registry+"/")
		vars.Reference = r.Name() + "@" + img.Digest()
	}
	if img.Tag != "" {
		vars.Tag = img.Tag
		vars.Reference = strings.TrimSuffix(vars.Reference, "@"+img.Digest()) + ":" + img.Tag + "@" + img.Digest()
	}
	return vars
}
