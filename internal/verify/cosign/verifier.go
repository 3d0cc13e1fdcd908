package cosign

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	cosignverify "github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/sigstore-go/pkg/root"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// SignPredicateType is the in-toto predicate type of a cosign image
// signature in the Sigstore bundle format. Bundles with any other predicate
// (attestations: SLSA, SBOM…) are not signatures and never count as one.
const SignPredicateType = "https://sigstore.dev/cosign/sign/v1"

// Registry supplies the options verifiers fetch with.
type Registry interface {
	Options(ctx context.Context) []remote.Option
}

// TrustRoot is a named public key.
type TrustRoot struct {
	Name string
	Key  signature.Verifier
	// bundles verifies Sigstore bundles signed by Key.
	bundles *sgverify.Verifier
}

// Verifier checks cosign key signatures against a quorum of trust roots.
type Verifier struct {
	reg    Registry
	roots  []TrustRoot
	quorum verify.Quorum
}

// New returns a Verifier. roots must be non-empty and q.Roots must name only
// roots in it; the policy compiler guarantees both.
func New(reg Registry, roots []TrustRoot, q verify.Quorum) (*Verifier, error) {
	if len(roots) == 0 {
		return nil, errors.New("no trust roots")
	}
	v := &Verifier{reg: reg, quorum: q}
	for _, r := range roots {
		if !slices.Contains(q.Roots, r.Name) {
			continue
		}
		key := root.NewExpiringKey(r.Key, time.Time{}, time.Time{})
		tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
		// Key signatures without a transparency log carry no trusted time,
		// so none is required (cosign's own choice for --key with
		// --insecure-ignore-tlog).
		bv, err := sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps())
		if err != nil {
			return nil, fmt.Errorf("trust root %q: %w", r.Name, err)
		}
		r.bundles = bv
		v.roots = append(v.roots, r)
	}
	return v, nil
}

// Verify implements verify.Verifier.
func (v *Verifier) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	res := &verify.Result{}
	hash, err := v1.NewHash(img.Digest())
	if err != nil {
		return res, verify.Failf("invalid digest %q: %v", img.Digest(), err)
	}
	ropts := v.reg.Options(ctx)
	ref := img.Ref.String()
	signers := map[string]bool{}
	found := 0
	var fetchErrs []error

	legacy, tag, err := fetchLegacy(ctx, img.Ref, ropts)
	if err != nil {
		fetchErrs = append(fetchErrs, registry.Classify(ctx, err, fmt.Sprintf("fetching signatures %s for %s", tag, ref)))
		res.Add(verify.Check{Signature: tag, Reason: "could not fetch: " + err.Error()})
	}
	found += len(legacy)
	for _, s := range legacy {
		v.checkLegacy(ctx, res, signers, s, hash)
	}

	if !v.quorum.Satisfied(keys(signers)) {
		bundles, err := fetchBundles(ctx, img.Ref, ropts)
		if err != nil {
			fetchErrs = append(fetchErrs, registry.Classify(ctx, err, "listing OCI referrers of "+ref))
			res.Add(verify.Check{Signature: "referrers", Reason: "could not list: " + err.Error()})
		}
		found += len(bundles)
		for _, b := range bundles {
			v.checkBundle(res, signers, b, hash)
		}
	}

	res.Signers = keys(signers)
	if v.quorum.Satisfied(res.Signers) {
		return res, nil
	}
	tried := "trust roots [" + strings.Join(v.quorum.Roots, ", ") + "]"
	if len(fetchErrs) > 0 {
		// Signatures that could not be read might have satisfied the
		// quorum: the answer is unknown, not "no".
		return res, &verify.InconclusiveError{Reason: "could not read all signatures", Err: errors.Join(fetchErrs...)}
	}
	if found == 0 {
		return res, verify.Failf("no cosign signatures found for %s (looked for a .sig tag and OCI referrers); sign it with a key of %s", ref, tried)
	}
	return res, verify.Failf("%s; %d signature(s) found, checked against %s", v.quorum.Shortfall(res.Signers), found, tried)
}

// checkLegacy tests one legacy signature against every trust root that has
// not yet produced a valid signature.
func (v *Verifier) checkLegacy(ctx context.Context, res *verify.Result, signers map[string]bool, s legacySig, hash v1.Hash) {
	if s.sig == nil {
		res.Add(verify.Check{Signature: s.source, Reason: "malformed signature layer (missing annotation or oversized payload)"})
		return
	}
	for _, r := range v.roots {
		if signers[r.Name] {
			continue
		}
		co := &cosignverify.CheckOpts{
			SigVerifier:   r.Key,
			IgnoreTlog:    true,
			ClaimVerifier: cosignverify.SimpleClaimVerifier,
		}
		if _, err := cosignverify.VerifyImageSignature(ctx, s.sig, hash, co); err != nil {
			res.Add(verify.Check{TrustRoot: r.Name, Signature: s.source, Reason: legacyReason(err)})
			continue
		}
		signers[r.Name] = true
		res.Add(verify.Check{TrustRoot: r.Name, Signature: s.source, Passed: true, Reason: "valid signature for " + hash.String()})
	}
}

func legacyReason(err error) string {
	msg := err.Error()
	if strings.Contains(msg, "invalid or missing digest in claim") {
		return "signature is valid but signs another image (" + msg + ")"
	}
	return "signature does not verify with this key: " + msg
}

// checkBundle tests one Sigstore bundle against every trust root that has
// not yet produced a valid signature.
func (v *Verifier) checkBundle(res *verify.Result, signers map[string]bool, b referrerBundle, hash v1.Hash) {
	if b.bundle == nil {
		res.Add(verify.Check{Signature: b.source, Reason: b.err.Error()})
		return
	}
	digest, err := hex.DecodeString(hash.Hex)
	if err != nil {
		res.Add(verify.Check{Signature: b.source, Reason: "invalid digest: " + err.Error()})
		return
	}
	policy := sgverify.NewPolicy(sgverify.WithArtifactDigest(hash.Algorithm, digest), sgverify.WithKey())
	for _, r := range v.roots {
		if signers[r.Name] {
			continue
		}
		out, err := r.bundles.Verify(b.bundle, policy)
		if err != nil {
			res.Add(verify.Check{TrustRoot: r.Name, Signature: b.source, Reason: "bundle does not verify with this key: " + err.Error()})
			continue
		}
		if out.Statement == nil || out.Statement.GetPredicateType() != SignPredicateType {
			pt := "none"
			if out.Statement != nil {
				pt = out.Statement.GetPredicateType()
			}
			res.Add(verify.Check{TrustRoot: r.Name, Signature: b.source, Reason: fmt.Sprintf("bundle is signed by this key but is not an image signature (predicate type %s)", pt)})
			continue
		}
		signers[r.Name] = true
		res.Add(verify.Check{TrustRoot: r.Name, Signature: b.source, Passed: true, Reason: "valid Sigstore bundle for " + hash.String()})
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
