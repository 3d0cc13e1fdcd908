package cosign

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	cosignverify "github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	sgroot "github.com/sigstore/sigstore-go/pkg/root"
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

// TrustRoot is a named public key or keyless identity.
type TrustRoot struct {
	Name string
	// Key is a public key known when the policy is compiled.
	Key signature.Verifier
	// KeyRef is a public key resolved when first needed (a Kubernetes
	// Secret, a KMS key). Exclusive with Key.
	KeyRef KeySource
	// Identity makes the trust root keyless: signatures must carry a
	// Fulcio certificate for this identity, checked against the
	// validator's Material.
	Identity *Identity
}

// Identity is a keyless signer: the certificate's OIDC issuer and subject
// alternative name, each exact or a regular expression (at least one of
// each pair is set; the policy compiler checks it).
type Identity struct {
	Issuer, IssuerRegex, Subject, SubjectRegex string
}

// KeySource resolves a public key when a verification needs it.
type KeySource interface {
	Verifier(ctx context.Context) (signature.Verifier, error)
	// String names the key for messages (never secret material).
	String() string
}

// Options are a rule's cosign settings.
type Options struct {
	// Material is the Sigstore trusted material of keyless trust roots.
	Material Material
	// TLog requires keyless signatures to carry a verified transparency
	// log entry.
	TLog bool
	// SCT requires keyless certificates to carry a verified signed
	// certificate timestamp.
	SCT bool
	// Reference, when set, requires signatures to name the image's
	// repository (reference.go).
	Reference *ReferenceCheck
}

// Verifier checks cosign signatures against a quorum of trust roots.
type Verifier struct {
	reg    Registry
	roots  []bound
	quorum verify.Quorum
	opts   Options
}

// bound is a trust root ready for verification.
type bound struct {
	TrustRoot
	identity sgverify.CertificateIdentity
	// bundles verifies Sigstore bundles signed by a static Key.
	bundles *sgverify.Verifier
	// signer names a static Key (verify.KeySigner).
	signer string
}

// New returns a Verifier. roots must be non-empty and q.Roots must name only
// roots in it; keyless roots need opts.Material. The policy compiler
// guarantees all three.
func New(reg Registry, roots []TrustRoot, q verify.Quorum, opts Options) (*Verifier, error) {
	if len(roots) == 0 {
		return nil, errors.New("no trust roots")
	}
	v := &Verifier{reg: reg, quorum: q, opts: opts}
	for _, tr := range roots {
		if !slices.Contains(q.Roots, tr.Name) {
			continue
		}
		r := bound{TrustRoot: tr}
		switch {
		case tr.Identity != nil:
			if opts.Material == nil {
				return nil, fmt.Errorf("trust root %q is keyless but no Sigstore trusted root is configured", tr.Name)
			}
			id, err := sgverify.NewShortCertificateIdentity(tr.Identity.Issuer, tr.Identity.IssuerRegex, tr.Identity.Subject, tr.Identity.SubjectRegex)
			if err != nil {
				return nil, fmt.Errorf("trust root %q: %w", tr.Name, err)
			}
			r.identity = id
		case tr.Key != nil:
			bv, err := keyBundleVerifier(tr.Key)
			if err != nil {
				return nil, fmt.Errorf("trust root %q: %w", tr.Name, err)
			}
			r.bundles = bv
			if r.signer, err = keySigner(tr.Key); err != nil {
				return nil, fmt.Errorf("trust root %q: %w", tr.Name, err)
			}
		case tr.KeyRef == nil:
			return nil, fmt.Errorf("trust root %q has neither a key nor an identity", tr.Name)
		}
		v.roots = append(v.roots, r)
	}
	return v, nil
}

// keyBundleVerifier verifies Sigstore bundles signed by one public key.
func keyBundleVerifier(key signature.Verifier) (*sgverify.Verifier, error) {
	ek := sgroot.NewExpiringKey(key, time.Time{}, time.Time{})
	tm := sgroot.NewTrustedPublicKeyMaterial(func(string) (sgroot.TimeConstrainedVerifier, error) { return ek, nil })
	// Key signatures without a transparency log carry no trusted time,
	// so none is required (cosign's own choice for --key with
	// --insecure-ignore-tlog).
	return sgverify.NewVerifier(tm, sgverify.WithNoObserverTimestamps(), sgverify.WithoutStatementPredicate())
}

// active is a trust root's material for one verification.
type active struct {
	*bound
	key      signature.Verifier     // Key, or KeyRef resolved
	bundles  *sgverify.Verifier     // verifies bundles for key or identity
	material sgroot.TrustedMaterial // keyless roots
	signer   string                 // names the key of key roots
	tally    *verify.Tally          // signers found so far, shared by all roots
}

// prepare resolves what each trust root needs for this verification: keys
// held elsewhere and the Sigstore trusted material. A root whose material
// cannot be had is reported and skipped; its error makes a shortfall
// inconclusive rather than failed.
func (v *Verifier) prepare(ctx context.Context, res *verify.Result) ([]active, []error) {
	var out []active
	var errs []error
	var tm sgroot.TrustedMaterial
	var tmErr error
	var kv *sgverify.Verifier
	tally := v.quorum.Tally()
	for i := range v.roots {
		r := &v.roots[i]
		a := active{bound: r, key: r.Key, bundles: r.bundles, signer: r.signer, tally: tally}
		switch {
		case r.Identity != nil:
			if tm == nil && tmErr == nil {
				if tm, tmErr = v.opts.Material.TrustedMaterial(ctx); tmErr == nil {
					kv, tmErr = keylessBundleVerifier(tm, v.opts)
				}
			}
			if tmErr != nil {
				res.Add(verify.Check{TrustRoot: r.Name, Reason: "no Sigstore trusted material: " + tmErr.Error()})
				errs = append(errs, tmErr)
				continue
			}
			a.material, a.bundles = tm, kv
		case r.KeyRef != nil:
			key, err := r.KeyRef.Verifier(ctx)
			if err == nil {
				a.bundles, err = keyBundleVerifier(key)
			}
			if err == nil {
				a.signer, err = keySigner(key)
			}
			if err != nil {
				res.Add(verify.Check{TrustRoot: r.Name, Reason: fmt.Sprintf("could not load key %s: %v", r.KeyRef, err)})
				errs = append(errs, fmt.Errorf("trust root %q: key %s: %w", r.Name, r.KeyRef, err))
				continue
			}
			a.key = key
		}
		out = append(out, a)
	}
	return out, errs
}

// keylessBundleVerifier verifies Sigstore bundles against trusted material:
// a Fulcio chain, an observer timestamp (transparency log integrated time
// or RFC 3161), and the log entry and SCT unless the rule waives them.
func keylessBundleVerifier(tm sgroot.TrustedMaterial, o Options) (*sgverify.Verifier, error) {
	opts := []sgverify.VerifierOption{sgverify.WithObserverTimestamps(1), sgverify.WithoutStatementPredicate()}
	if o.TLog {
		opts = append(opts, sgverify.WithTransparencyLog(1))
	}
	if o.SCT {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	return sgverify.NewVerifier(tm, opts...)
}

// waivedTlogVerifier verifies a bundle under a rule that does not require
// a transparency log: what the bundle carries is still checked (a log
// entry that is present must verify; RFC 3161 timestamps must verify and
// date the signature), and a bundle with neither is checked against the
// current time, as cosign does for legacy signatures with the log waived.
func waivedTlogVerifier(tm sgroot.TrustedMaterial, o Options, b *sgbundle.Bundle) (*sgverify.Verifier, error) {
	opts := []sgverify.VerifierOption{sgverify.WithoutStatementPredicate()}
	entries, _ := b.TlogEntries()
	stamps, _ := b.Timestamps()
	switch {
	case len(entries) > 0:
		opts = append(opts, sgverify.WithTransparencyLog(1), sgverify.WithObserverTimestamps(1))
	case len(stamps) > 0:
		opts = append(opts, sgverify.WithSignedTimestamps(1))
	default:
		opts = append(opts, sgverify.WithCurrentTime())
	}
	if o.SCT {
		opts = append(opts, sgverify.WithSignedCertificateTimestamps(1))
	}
	return sgverify.NewVerifier(tm, opts...)
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
	found := 0
	roots, fetchErrs := v.prepare(ctx, res)

	var skipped []string // signatures left unread by the limits
	legacy, tag, n, err := fetchLegacy(ctx, img.Ref, ropts)
	if n > 0 {
		skipped = append(skipped, fmt.Sprintf("%d signature layers under %s, only the first %d examined", len(legacy)+n, tag, MaxSignatures))
		res.Add(verify.Check{Signature: tag, Reason: skipped[len(skipped)-1]})
	}
	if err != nil {
		fetchErrs = append(fetchErrs, registry.Classify(ctx, err, fmt.Sprintf("fetching signatures %s for %s", tag, ref)))
		res.Add(verify.Check{Signature: tag, Reason: "could not fetch: " + err.Error()})
	}
	found += len(legacy)
	legacy = v.legacyForRepository(res, img, legacy)
	for _, s := range legacy {
		v.checkLegacy(ctx, res, roots, s, hash)
	}

	if !v.quorum.Satisfied(res.Checks) {
		bundles, n, err := fetchBundles(ctx, img.Ref, ropts)
		if n > 0 {
			skipped = append(skipped, fmt.Sprintf("%d referrers that may be Sigstore bundles, only the first %d examined", len(bundles)+n, MaxReferrers))
			res.Add(verify.Check{Signature: "referrers", Reason: skipped[len(skipped)-1]})
		}
		if err != nil {
			fetchErrs = append(fetchErrs, registry.Classify(ctx, err, "listing OCI referrers of "+ref))
			res.Add(verify.Check{Signature: "referrers", Reason: "could not list: " + err.Error()})
		}
		found += len(bundles)
		bundles = v.bundlesForRepository(res, img, hash, bundles)
		for _, b := range bundles {
			v.checkBundle(res, roots, b, hash)
		}
	}

	res.Signers = v.quorum.Signers(res.Checks)
	if v.quorum.Satisfied(res.Checks) {
		return res, nil
	}
	tried := "trust roots [" + strings.Join(v.quorum.Roots, ", ") + "]"
	if len(fetchErrs) > 0 {
		// Signatures that could not be read, or roots whose keys could not
		// be loaded, might have satisfied the quorum: the answer is
		// unknown, not "no".
		return res, &verify.InconclusiveError{Reason: "could not check all signatures", Err: errors.Join(fetchErrs...)}
	}
	if found == 0 {
		return res, verify.Failf("no cosign signatures found for %s (looked for a .sig tag and OCI referrers); sign it with a key or identity of %s", ref, tried)
	}
	limits := ""
	if len(skipped) > 0 {
		// Whoever can push to the repository can bury a valid signature
		// under junk: say so, so that the denial can be acted on.
		limits = " (" + strings.Join(skipped, "; ") + ")"
	}
	return res, verify.Failf("%s for %s; %d signature(s) found, checked against %s%s", v.quorum.Shortfall(res.Checks), ref, found, tried, limits)
}

// checkLegacy tests one legacy signature against every trust root that
// may still need a signer (enough).
func (v *Verifier) checkLegacy(ctx context.Context, res *verify.Result, roots []active, s legacySig, hash v1.Hash) {
	if s.sig == nil {
		res.Add(verify.Check{Signature: s.source, Kind: verify.KindSignature, Source: verify.SourceSigTag, Reason: "malformed signature layer (missing annotation or oversized payload)"})
		return
	}
	// The certificate of a keyless signature is read when a root is
	// keyless only: key roots have nothing to match it with.
	var cert *x509.Certificate
	if slices.ContainsFunc(roots, func(r active) bool { return r.Identity != nil }) {
		cert = legacyCert(s.sig)
	}
	for _, r := range roots {
		if v.enough(res, r) {
			continue
		}
		c := withCert(verify.Check{TrustRoot: r.Name, Signature: s.source, Kind: verify.KindSignature, Source: verify.SourceSigTag}, cert)
		co := &cosignverify.CheckOpts{ClaimVerifier: cosignverify.SimpleClaimVerifier}
		if r.Identity != nil {
			co.TrustedMaterial = r.material
			co.Identities = []cosignverify.Identity{{
				Issuer: r.Identity.Issuer, IssuerRegExp: r.Identity.IssuerRegex,
				Subject: r.Identity.Subject, SubjectRegExp: r.Identity.SubjectRegex,
			}}
			// The log entry is checked offline, from the bundle cosign
			// stores with the signature; signet never queries Rekor. A
			// rule that waives the log waives its absence only: an
			// entry that is present must verify.
			co.IgnoreTlog, co.Offline = !v.opts.TLog && !hasRekorBundle(s.sig), true
			co.IgnoreSCT = !v.opts.SCT
			co.UseSignedTimestamps = true
		} else {
			co.SigVerifier, co.IgnoreTlog = r.key, true
		}
		if err := verifyLegacy(ctx, s, hash, co); err != nil {
			c.Reason = legacyReason(err, r.Identity != nil)
			if r.Identity != nil {
				c.Reason += noSCTHint(v.opts.SCT, cert)
			}
			res.Add(c)
			continue
		}
		if r.Identity != nil {
			times, err := chainValidAtSigning(s.sig, co)
			if err != nil {
				c.Reason = "signature does not verify for this identity: " + err.Error()
				res.Add(c)
				continue
			}
			c = times.add(c)
		}
		signer, err := r.signerOf(s.sig.Cert)
		if err != nil {
			c.Reason = "signature verifies but its signer cannot be named: " + err.Error()
			res.Add(c)
			continue
		}
		c.Passed, c.Signer, c.Reason = true, signer, "valid signature for "+hash.String()
		res.Add(c)
	}
}

// hasRekorBundle says whether a legacy signature carries a Rekor bundle
// annotation (parsed: layerSignature rejects one that does not parse).
func hasRekorBundle(sig oci.Signature) bool {
	b, err := sig.Bundle()
	return err != nil || b != nil
}

// verifyLegacy calls cosign's verification, turning a panic into a failed
// check: cosign v2.6.5 indexes an empty slice when every RFC 3161
// timestamp on a signature fails to verify, so a signature stamped by an
// untrusted TSA would otherwise crash the verification.
func verifyLegacy(ctx context.Context, s legacySig, hash v1.Hash, co *cosignverify.CheckOpts) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("signature rejected: cosign verification failed on malformed or untrusted content (%v)", r)
		}
	}()
	_, err = cosignverify.VerifyImageSignature(ctx, s.sig, hash, co)
	return err
}

// chainValidAtSigning checks, after cosign has accepted a keyless legacy
// signature, that the certificate's whole chain was valid at each time
// cosign dated the signature by: the RFC 3161 timestamp, the Rekor entry's
// integrated time, or now when it has neither. cosign v2 verifies the
// chain at the leaf's notBefore and then only the leaf at the signing time
// (GO-2026-4529, fixed in cosign v3.0.5 only), so an intermediate that
// expired in between would pass. sigstore-go's bundle path checks the
// chain at the signing time already.
func chainValidAtSigning(sig oci.Signature, co *cosignverify.CheckOpts) (signingTimes, error) {
	var st signingTimes
	cert, err := sig.Cert()
	if err != nil || cert == nil {
		return st, fmt.Errorf("reading the signing certificate: %w", err)
	}
	var times []time.Time
	if co.UseSignedTimestamps {
		ts, err := cosignverify.VerifyRFC3161Timestamp(sig, co)
		if err != nil {
			return st, fmt.Errorf("verifying the RFC 3161 timestamp: %w", err)
		}
		if ts != nil {
			times = append(times, ts.Time)
			t := ts.Time.UTC()
			st.tsa = &t
		}
	}
	if !co.IgnoreTlog {
		b, err := sig.Bundle()
		if err != nil || b == nil {
			return st, fmt.Errorf("reading the Rekor bundle: %w", err)
		}
		it := time.Unix(b.Payload.IntegratedTime, 0).UTC()
		times = append(times, it)
		idx := b.Payload.LogIndex
		st.integratedTime, st.logIndex = &it, &idx
	}
	if len(times) == 0 {
		times = append(times, time.Now())
	}
	for _, t := range times {
		if _, err := sgverify.VerifyLeafCertificate(t, cert, co.TrustedMaterial); err != nil {
			return signingTimes{}, fmt.Errorf("certificate chain not valid at the signing time %s (an expired or not yet valid intermediate or root?): %w", t.UTC().Format(time.RFC3339), err)
		}
	}
	return st, nil
}

func legacyReason(err error, keyless bool) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "invalid or missing digest in claim"):
		return "signature is valid but signs another image (" + msg + ")"
	case keyless && strings.Contains(msg, "offline verification failed"):
		return "no transparency log entry stored with the signature (signed with --tlog-upload=false?)"
	case keyless:
		return "signature does not verify for this identity: " + msg
	}
	return "signature does not verify with this key: " + msg
}

// checkBundle tests one Sigstore bundle against every trust root that may
// still need a signer (enough).
func (v *Verifier) checkBundle(res *verify.Result, roots []active, b referrerBundle, hash v1.Hash) {
	base := verify.Check{Signature: b.source, Kind: verify.KindSignature, Source: verify.SourceReferrer}
	if b.bundle == nil {
		base.Reason = b.err.Error()
		res.Add(base)
		return
	}
	digest, err := hex.DecodeString(hash.Hex)
	if err != nil {
		base.Reason = "invalid digest: " + err.Error()
		res.Add(base)
		return
	}
	cert, _ := bundleCert(b.bundle)
	for _, r := range roots {
		if v.enough(res, r) {
			continue
		}
		c := withCert(base, cert)
		c.TrustRoot = r.Name
		what := "key"
		identity := sgverify.WithKey()
		if r.Identity != nil {
			what, identity = "identity", sgverify.WithCertificateIdentity(r.identity)
		}
		policy := sgverify.NewPolicy(sgverify.WithArtifactDigest(hash.Algorithm, digest), identity)
		bv := r.bundles
		if r.Identity != nil && !v.opts.TLog {
			if bv, err = waivedTlogVerifier(r.material, v.opts, b.bundle); err != nil {
				c.Reason = "bundle cannot be verified: " + err.Error()
				res.Add(c)
				continue
			}
		}
		out, err := bv.Verify(b.bundle, policy)
		if err != nil {
			c.Reason = "bundle does not verify for this " + what + ": " + err.Error()
			if r.Identity != nil {
				c.Reason += noSCTHint(v.opts.SCT, cert)
			}
			res.Add(c)
			continue
		}
		c = withBundleResult(c, b.bundle, out)
		if out.Statement == nil || out.Statement.GetPredicateType() != SignPredicateType {
			pt := "none"
			if out.Statement != nil {
				pt = out.Statement.GetPredicateType()
			}
			c.Reason = fmt.Sprintf("bundle is signed by this %s but is not an image signature (predicate type %s)", what, pt)
			res.Add(c)
			continue
		}
		signer, err := r.signerOf(func() (*x509.Certificate, error) { return bundleCert(b.bundle) })
		if err != nil {
			c.Reason = "bundle verifies but its signer cannot be named: " + err.Error()
			res.Add(c)
			continue
		}
		c.Passed, c.Signer, c.Reason = true, signer, "valid Sigstore bundle for "+hash.String()
		res.Add(c)
	}
}
