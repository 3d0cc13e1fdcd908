package cosign

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	cosignverify "github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	sgverify "github.com/sigstore/sigstore-go/pkg/verify"
	"golang.org/x/sync/semaphore"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// Limits on the attestations of one image.
const (
	// MaxAttestations is the most attestation envelopes of one predicate
	// type examined per image, under the .att tag and as Sigstore bundle
	// referrers each.
	MaxAttestations = 64
	// MaxAttestationBytes bounds one attestation envelope (a layer of the
	// .att manifest) or Sigstore bundle. SBOMs are large: a 50 MiB
	// statement is some 67 MiB once base64-encoded into its envelope.
	MaxAttestationBytes = 96 << 20
	// AttestationBudget bounds the envelope bytes the whole process holds
	// at once: an envelope is read, verified and its statement evaluated
	// while its size is held from this budget, so that many large SBOMs
	// requested at once wait for each other instead of each taking its
	// own memory. What one envelope costs while held is some four times
	// its size in live heap (the envelope, its decoded statement, the DSSE
	// pre-authentication encoding, the predicate's index): docs/security.md
	// has the figures.
	AttestationBudget = MaxAttestationBytes
	// smallEnvelope is what an envelope of unknown or tiny size is
	// charged.
	smallEnvelope = 4 << 10
)

// attestationBudget is shared by every verifier: it bounds the memory of
// the process, not of one policy (a policy reload leaves the old engine's
// verifications running next to the new one's).
var attestationBudget = semaphore.NewWeighted(AttestationBudget)

// Annotations naming the predicate type of an attestation where it is
// stored: on a layer of the .att manifest (cosign attest) and on a Sigstore
// bundle referrer (cosign v3). They are not signed: they only spare
// fetching envelopes of other types, and an envelope whose signed statement
// disagrees with its annotation is not an attestation of either type.
const (
	legacyPredicateAnnotation = "predicateType"
	bundlePredicateAnnotation = "dev.sigstore.bundle.predicateType"
	// intotoPayloadType is the DSSE payload type of in-toto statements.
	intotoPayloadType = "application/vnd.in-toto+json"
)

// Attestation is one in-toto statement attached to an image whose envelope
// verified for a quorum of the verifier's trust roots and names the image's
// digest as a subject, with the predicate type asked for.
type Attestation struct {
	// Statement is the in-toto statement, as signed.
	Statement []byte
	// Digest is "sha256:…" of Statement, and Envelope the digest of the
	// blob that carried it (the DSSE envelope, or the Sigstore bundle).
	Digest, Envelope string
	// Source says where it was found: "sha256-….att#N" or "referrer sha256:…".
	Source string
	// Signers are the trust roots counted toward the quorum, in the
	// quorum's order.
	Signers []Signer
}

// Signer is a trust root that signed an attestation, with the keyless
// identity of its certificate (empty for key roots).
type Signer struct {
	TrustRoot, Issuer, Subject string
}

// envelope is one attestation envelope found in the registry, before its
// statement is known to be trusted.
type envelope struct {
	source string
	desc   v1.Descriptor // the .att layer, or the referrer manifest
	bundle bool
	// annotated is the predicate type the registry's annotation claims.
	annotated string

	// Set by read.
	legacy    oci.Signature
	sgbundle  *sgbundle.Bundle
	statement []byte
}

// Attestations finds the attestations of predicateType attached to img —
// under cosign's .att tag and as Sigstore bundle referrers — and calls
// visit with each whose envelope verifies for the verifier's quorum, while
// holding its memory from the process's budget, until visit returns true.
// The checks made are added to res. A fetch that fails makes the error
// inconclusive, as does a trust root whose key cannot be loaded; an image
// with no attestation is no error (visit is never called).
func (v *Verifier) Attestations(ctx context.Context, img verify.Image, predicateType string, res *verify.Result, visit func(Attestation) bool) error {
	hash, err := v1.NewHash(img.Digest())
	if err != nil {
		return verify.Failf("invalid digest %q: %v", img.Digest(), err)
	}
	ropts := v.reg.Options(ctx)
	roots, errs := v.prepare(ctx, res)

	tag, err := ociremote.AttestationTag(img.Ref)
	if err != nil {
		return verify.Failf("deriving the attestation tag of %s: %v", img.Ref, err)
	}
	legacy, skipped, err := listLegacyAttestations(ctx, tag, predicateType, ropts)
	if err != nil {
		errs = append(errs, registry.Classify(ctx, err, "fetching attestations "+tag.TagStr()+" of "+img.Ref.String()))
		res.Add(verify.Check{Signature: tag.TagStr(), Reason: "could not fetch: " + err.Error()})
	}
	groups := map[string]*group{}
	check := func(envs []envelope) bool {
		for _, e := range envs {
			done, err := v.checkEnvelope(ctx, img, hash, predicateType, roots, groups, e, res, visit)
			if err != nil {
				errs = append(errs, err)
				res.Add(verify.Check{Signature: e.source, Reason: "could not fetch: " + err.Error()})
			}
			if done {
				return true
			}
		}
		return false
	}
	if check(legacy) {
		return nil
	}
	// Referrers are listed only when the .att tag had no attestation that
	// will do: most images keep their attestations in one place.
	bundles, n, err := listBundleAttestations(ctx, img.Ref, predicateType, ropts)
	if err != nil {
		errs = append(errs, registry.Classify(ctx, err, "listing OCI referrers of "+img.Ref.String()))
		res.Add(verify.Check{Signature: "referrers", Reason: "could not list: " + err.Error()})
	}
	if skipped+n > 0 {
		res.Add(verify.Check{Signature: tag.TagStr(), Reason: fmt.Sprintf("%d more attestations of type %s not examined (at most %d each under the .att tag and as referrers)", skipped+n, predicateType, MaxAttestations)})
	}
	if check(bundles) {
		return nil
	}
	if len(errs) > 0 {
		return &verify.InconclusiveError{Reason: "could not check all attestations of type " + predicateType, Err: errors.Join(errs...)}
	}
	return nil
}

// group gathers the checks of the envelopes that carry one statement, so
// that a quorum of several roots may be met by several envelopes.
type group struct {
	checks     []verify.Check
	tally      *verify.Tally
	identities map[string]Signer // by trust root
	visited    bool
}

// checkEnvelope reads one envelope, verifies it for every trust root that
// still needs a signer, and visits its statement when that makes a quorum.
// Its error is inconclusive: the envelope could not be read.
func (v *Verifier) checkEnvelope(ctx context.Context, img verify.Image, hash v1.Hash, predicateType string, roots []active, groups map[string]*group, e envelope, res *verify.Result, visit func(Attestation) bool) (bool, error) {
	release, err := e.read(ctx, img, predicateType, v.reg.Options(ctx))
	defer release()
	if err != nil {
		var bad *malformedError
		if errors.As(err, &bad) {
			res.Add(verify.Check{Signature: e.source, Reason: bad.Error()})
			return false, nil
		}
		err = registry.Classify(ctx, err, "reading attestation "+e.source)
		if verify.Classify(err) == verify.Failed {
			// What the registry holds (a missing or oversized blob), not
			// a passing fault: this envelope is no attestation.
			res.Add(verify.Check{Signature: e.source, Reason: err.Error()})
			return false, nil
		}
		return false, err
	}
	sum := sha256.Sum256(e.statement)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	g := groups[digest]
	if g == nil {
		g = &group{tally: v.quorum.Tally(), identities: map[string]Signer{}}
		groups[digest] = g
	}
	if g.visited {
		return false, nil
	}
	for _, r := range roots {
		r.tally = g.tally
		if r.Identity != nil && g.tally.Saturated(g.checks, r.Name) || r.Identity == nil && g.tally.Signers(g.checks, r.Name) > 0 {
			continue
		}
		c, id := v.checkAttestation(ctx, r, e, hash)
		c.TrustRoot, c.Signature, c.Kind, c.Source = r.Name, e.source, verify.KindAttestation, verify.SourceAttTag
		if e.bundle {
			c.Source = verify.SourceReferrer
		}
		g.checks = append(g.checks, c)
		res.Add(c)
		if c.Passed {
			if _, ok := g.identities[r.Name]; !ok {
				id.TrustRoot = r.Name
				g.identities[r.Name] = id
			}
		}
	}
	if !v.quorum.Satisfied(g.checks) {
		return false, nil
	}
	g.visited = true
	if got := predicateTypeOf(e.statement); got != predicateType || e.annotated != "" && e.annotated != got {
		res.Add(verify.Check{Signature: e.source, Reason: fmt.Sprintf("signed statement has predicate type %q (annotated %q), not %q: not an attestation of this type", truncate(got), truncate(e.annotated), predicateType)})
		return false, nil
	}
	a := Attestation{Statement: e.statement, Digest: digest, Envelope: e.desc.Digest.String(), Source: e.source}
	for _, s := range v.quorum.Signers(g.checks) {
		a.Signers = append(a.Signers, g.identities[s])
	}
	return visit(a), nil
}

// checkAttestation verifies one envelope for one trust root: its
// signature, the keyless identity, transparency log and timestamps as for
// image signatures, and that its statement names hash as a subject.
func (v *Verifier) checkAttestation(ctx context.Context, r active, e envelope, hash v1.Hash) (verify.Check, Signer) {
	what := "key"
	if r.Identity != nil {
		what = "identity"
	}
	var cert func() (*x509.Certificate, error)
	var evidence func(verify.Check) verify.Check
	if e.legacy != nil {
		co := v.checkOpts(r, e.legacy)
		co.ClaimVerifier = subjectClaim(e.statement)
		if err := verifyLegacyAttestation(ctx, e.legacy, hash, co); err != nil {
			reason := "attestation does not verify for this " + what + ": " + err.Error()
			if r.Identity != nil {
				reason += noSCTHint(v.opts.SCT, legacyCert(e.legacy))
			}
			return verify.Check{Reason: reason}, Signer{}
		}
		if r.Identity != nil {
			times, err := chainValidAtSigning(e.legacy, co)
			if err != nil {
				return verify.Check{Reason: "attestation does not verify for this identity: " + err.Error()}, Signer{}
			}
			evidence = times.add
		}
		cert = e.legacy.Cert
	} else {
		digest, err := hex.DecodeString(hash.Hex)
		if err != nil {
			return verify.Check{Reason: "invalid digest: " + err.Error()}, Signer{}
		}
		identity := sgverify.WithKey()
		if r.Identity != nil {
			identity = sgverify.WithCertificateIdentity(r.identity)
		}
		bv := r.bundles
		if r.Identity != nil && !v.opts.TLog {
			if bv, err = waivedTlogVerifier(r.material, v.opts, e.sgbundle); err != nil {
				return verify.Check{Reason: "bundle cannot be verified: " + err.Error()}, Signer{}
			}
		}
		// sigstore-go checks the DSSE signature and that a subject of
		// the in-toto statement carries the digest.
		out, err := bv.Verify(e.sgbundle, sgverify.NewPolicy(sgverify.WithArtifactDigest(hash.Algorithm, digest), identity))
		if err != nil {
			reason := "attestation bundle does not verify for this " + what + ": " + err.Error()
			if r.Identity != nil {
				c, _ := bundleCert(e.sgbundle)
				reason += noSCTHint(v.opts.SCT, c)
			}
			return verify.Check{Reason: reason}, Signer{}
		}
		evidence = func(c verify.Check) verify.Check { return withBundleResult(c, e.sgbundle, out) }
		cert = func() (*x509.Certificate, error) { return bundleCert(e.sgbundle) }
	}
	signer, err := r.signerOf(cert)
	if err != nil {
		return verify.Check{Reason: "attestation verifies but its signer cannot be named: " + err.Error()}, Signer{}
	}
	s := Signer{}
	if r.Identity != nil {
		if c, err := cert(); err == nil && c != nil {
			if sum, err := certificate.SummarizeCertificate(c); err == nil {
				s.Issuer, s.Subject = sum.Issuer, sum.SubjectAlternativeName
			}
		}
	}
	c := verify.Check{Passed: true, Signer: signer, Reason: "valid attestation for " + hash.String()}
	if cc, err := cert(); err == nil {
		c = withCert(c, cc)
	}
	if evidence != nil {
		c = evidence(c)
	}
	return c, s
}

// subjectClaim is cosign's IntotoSubjectClaimVerifier reading only the
// subjects of statement, the payload of the envelope cosign verifies:
// cosign's decodes the whole predicate into maps, some ten times the size
// of an SBOM.
func subjectClaim(statement []byte) func(oci.Signature, v1.Hash, map[string]any) error {
	return func(_ oci.Signature, h v1.Hash, _ map[string]any) error {
		var st struct {
			Subject []struct {
				Digest map[string]string `json:"digest"`
			} `json:"subject"`
		}
		if err := json.Unmarshal(statement, &st); err != nil {
			return fmt.Errorf("in-toto statement: %w", err)
		}
		for _, s := range st.Subject {
			if d, ok := s.Digest["sha256"]; ok && "sha256:"+d == h.String() {
				return nil
			}
		}
		return errors.New("no matching subject digest found")
	}
}

// checkOpts are cosign's options to verify a legacy signature or
// attestation for trust root r.
func (v *Verifier) checkOpts(r active, sig oci.Signature) *cosignverify.CheckOpts {
	co := &cosignverify.CheckOpts{ClaimVerifier: cosignverify.SimpleClaimVerifier}
	if r.Identity == nil {
		co.SigVerifier, co.IgnoreTlog = r.key, true
		return co
	}
	co.TrustedMaterial = r.material
	co.Identities = []cosignverify.Identity{{
		Issuer: r.Identity.Issuer, IssuerRegExp: r.Identity.IssuerRegex,
		Subject: r.Identity.Subject, SubjectRegExp: r.Identity.SubjectRegex,
	}}
	// The log entry is checked offline, from the bundle cosign stores
	// with the signature; signet never queries Rekor. A rule that waives
	// the log waives its absence only: an entry that is present must
	// verify.
	co.IgnoreTlog, co.Offline = !v.opts.TLog && !hasRekorBundle(sig), true
	co.IgnoreSCT = !v.opts.SCT
	co.UseSignedTimestamps = true
	return co
}

// verifyLegacyAttestation calls cosign's attestation check (payload type,
// DSSE signature, certificate, log entry, claim), a panic made a failure
// as in verifyLegacy.
func verifyLegacyAttestation(ctx context.Context, att oci.Signature, hash v1.Hash, co *cosignverify.CheckOpts) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("attestation rejected: cosign verification failed on malformed or untrusted content (%v)", r)
		}
	}()
	_, err = cosignverify.VerifyBlobAttestation(ctx, att, hash, co)
	return err
}

// malformedError says an envelope could not be read as an attestation: a
// property of what the registry holds, recorded as a failed check.
type malformedError struct{ msg string }

func (e *malformedError) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &malformedError{fmt.Sprintf(format, args...)}
}

// read fetches the envelope, holding its size from the budget until the
// returned function is called (always call it, even on error).
func (e *envelope) read(ctx context.Context, img verify.Image, predicateType string, ropts []remote.Option) (release func(), err error) {
	release = func() {}
	size := e.desc.Size
	if e.bundle {
		m, err := sharedManifest(ctx, img.Ref.Context().Digest(e.desc.Digest.String()), ropts)
		if err != nil {
			return release, err
		}
		if m == nil || len(m.Layers) != 1 || !strings.HasPrefix(string(m.Layers[0].MediaType), bundleArtifactPrefix) {
			return release, malformed("referrer is not a Sigstore bundle")
		}
		if t, ok := m.Annotations[bundlePredicateAnnotation]; ok && t != predicateType {
			return release, malformed("referrer is a Sigstore bundle of predicate type %q, not %q", truncate(t), predicateType)
		}
		e.desc.Annotations, size = m.Annotations, m.Layers[0].Size
		if t := m.Annotations[bundlePredicateAnnotation]; t != "" {
			e.annotated = t
		}
		e.desc.Digest = m.Layers[0].Digest
	}
	if size > MaxAttestationBytes || size < 0 {
		return release, malformed("attestation envelope of %d bytes is over signet's limit of %d bytes", size, MaxAttestationBytes)
	}
	weight := max(size, smallEnvelope)
	if err := attestationBudget.Acquire(ctx, weight); err != nil {
		return release, err
	}
	release = func() { attestationBudget.Release(weight) }
	// No more is read than was charged: a descriptor that declares less
	// than its blob holds is refused after weight bytes.
	bctx := registry.ContextWithBlobLimit(ctx, weight)
	blob, err := registry.ReadBlob(img.Ref.Context().Digest(e.desc.Digest.String()), weight, append(ropts, remote.WithContext(bctx)))
	if err != nil {
		return release, err
	}
	var raw []byte
	if e.bundle {
		b := &sgbundle.Bundle{}
		if err := b.UnmarshalJSON(blob); err != nil {
			return release, malformed("invalid Sigstore bundle: %v", err)
		}
		if !b.MinVersion("v0.3") {
			return release, malformed("Sigstore bundle older than v0.3")
		}
		env, err := b.Envelope()
		if err != nil || env == nil {
			return release, malformed("Sigstore bundle holds no DSSE envelope: %v", err)
		}
		if env.RawEnvelope().PayloadType != intotoPayloadType {
			return release, malformed("DSSE payload type %q is not an in-toto statement", truncate(env.RawEnvelope().PayloadType))
		}
		if raw, err = env.RawEnvelope().DecodeB64Payload(); err != nil {
			return release, malformed("DSSE payload is not base64: %v", err)
		}
		e.sgbundle = b
	} else {
		s, err := layerSignature(blob, e.desc.Annotations)
		if err != nil {
			return release, malformed("malformed attestation layer: %v", err)
		}
		var env struct {
			PayloadType string `json:"payloadType"`
			Payload     []byte `json:"payload"`
		}
		if err := json.Unmarshal(blob, &env); err != nil {
			return release, malformed("attestation layer is not a DSSE envelope: %v", err)
		}
		if env.PayloadType != intotoPayloadType {
			return release, malformed("DSSE payload type %q is not an in-toto statement", truncate(env.PayloadType))
		}
		e.legacy, raw = s, env.Payload
	}
	e.statement = raw
	return release, nil
}

// predicateTypeOf reads a statement's predicateType, "" when it has none
// or is not JSON; the predicate itself is skipped, not decoded.
func predicateTypeOf(statement []byte) string {
	var st struct {
		PredicateType string `json:"predicateType"`
	}
	if json.Unmarshal(statement, &st) != nil {
		return ""
	}
	return st.PredicateType
}

// listLegacyAttestations lists the layers of the image's .att manifest
// that may hold an attestation of predicateType, reading none of them.
func listLegacyAttestations(ctx context.Context, tag name.Tag, predicateType string, ropts []remote.Option) (out []envelope, skipped int, err error) {
	m, err := registry.Shared(ctx, "manifest "+tag.String(), func() (*v1.Manifest, error) { return readManifest(tag, ropts) })
	if err != nil || m == nil {
		return nil, 0, err
	}
	for i, desc := range m.Layers {
		t, annotated := desc.Annotations[legacyPredicateAnnotation]
		if annotated && t != predicateType {
			continue
		}
		if len(out) == MaxAttestations {
			skipped++
			continue
		}
		out = append(out, envelope{source: fmt.Sprintf("%s#%d", tag.TagStr(), i), desc: desc, annotated: t})
	}
	return out, skipped, nil
}

// listBundleAttestations lists the referrers of img that may be Sigstore
// bundles of predicateType, reading none of them. The referrers list is
// shared with the signature check of the same image.
func listBundleAttestations(ctx context.Context, img name.Digest, predicateType string, ropts []remote.Option) (out []envelope, skipped int, err error) {
	descs, err := registry.Referrers(ctx, img, ropts)
	if err != nil {
		return nil, 0, err
	}
	for _, desc := range descs {
		if !maybeBundle(desc) {
			continue
		}
		t, annotated := desc.Annotations[bundlePredicateAnnotation]
		if annotated && t != predicateType {
			continue
		}
		if len(out) == MaxAttestations {
			skipped++
			continue
		}
		out = append(out, envelope{source: "referrer " + desc.Digest.String(), desc: desc, bundle: true, annotated: t})
	}
	return out, skipped, nil
}

// sharedManifest is readManifest made once per verification (registry.Shared):
// the signature check and every attestation requirement read the same
// referrer manifests.
func sharedManifest(ctx context.Context, ref name.Digest, ropts []remote.Option) (*v1.Manifest, error) {
	return registry.Shared(ctx, "manifest "+ref.String(), func() (*v1.Manifest, error) { return readManifest(ref, ropts) })
}

// readManifest reads the image manifest ref names; a manifest that does not
// exist is nil, no error.
func readManifest(ref name.Reference, ropts []remote.Option) (*v1.Manifest, error) {
	img, err := remote.Image(ref, ropts...)
	if registry.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return img.Manifest()
}
