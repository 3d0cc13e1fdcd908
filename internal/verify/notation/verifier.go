package notation

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	notationgo "github.com/notaryproject/notation-go"
	nverifier "github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// ArtifactType is the artifact type of a Notation signature.
const ArtifactType = "application/vnd.cncf.notary.signature"

// Envelope media types notation-go verifies.
const (
	MediaTypeJWS  = "application/jose+json"
	MediaTypeCOSE = "application/cose"
)

// Limits on what one image may make signet read.
const (
	MaxSignatures   = 32
	MaxEnvelopeSize = 1 << 20
)

// Verification levels and timestamp options, as in a Notation trust policy.
const (
	LevelStrict     = "strict"
	LevelPermissive = "permissive"
	LevelAudit      = "audit"

	TimestampAlways          = "always"
	TimestampAfterCertExpiry = "afterCertExpiry"
)

// Registry supplies the options verifiers fetch with.
type Registry interface {
	Options(ctx context.Context) []remote.Option
}

// Trust store kinds of a trust root, as signet's policy names them.
const (
	// StoreSigningService holds the root CAs of signatures made with the
	// Notary Project signing scheme notary.x509 (the notation CLI, and
	// signing services reached through its plugins): notation's trust
	// store type "ca". The default.
	StoreSigningService = "signingService"
	// StoreSigningAuthority holds the roots of a signing authority:
	// signatures made with the signing scheme notary.x509.signingAuthority,
	// whose signing time the authority vouches for (no TSA needed):
	// notation's trust store type "signingAuthority".
	StoreSigningAuthority = "signingAuthority"
)

// Wildcard is the trusted identity matching every signing certificate.
const Wildcard = "*"

// TrustRoot is a named set of CA certificates, with optional TSA roots.
type TrustRoot struct {
	Name string
	CAs  []*x509.Certificate
	TSAs []*x509.Certificate
	// Store is StoreSigningService (default) or StoreSigningAuthority.
	Store string
	// Identities are the trust policy's trustedIdentities: "*" (default)
	// or "x509.subject: <DN>" entries, matched by notation-go's rules.
	Identities []string
}

// storeType is notation's trust store type of a trust root's kind.
func storeType(kind string) (truststore.Type, error) {
	switch kind {
	case "", StoreSigningService:
		return truststore.TypeCA, nil
	case StoreSigningAuthority:
		return truststore.TypeSigningAuthority, nil
	}
	return "", fmt.Errorf("trust store must be %q or %q, got %q", StoreSigningService, StoreSigningAuthority, kind)
}

// CheckTrustedIdentities checks trusted identities with notation-go's own
// trust policy validation: "*" alone, or x509.subject entries whose
// distinguished names parse and do not overlap.
func CheckTrustedIdentities(ids []string) error {
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name: "check", RegistryScopes: []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: LevelStrict},
		TrustStores:           []string{"ca:check"}, TrustedIdentities: ids,
	}}}
	if err := doc.Validate(); err != nil {
		return errors.New(strings.TrimPrefix(strings.Replace(err.Error(), `trust policy statement "check" `, "", 1), "trust policy: "))
	}
	for _, id := range ids {
		if id != Wildcard && !strings.HasPrefix(id, "x509.subject:") {
			return fmt.Errorf("trusted identity %q: only x509.subject identities (or \"*\") are supported", id)
		}
	}
	return nil
}

// Options select how strictly signatures are verified.
type Options struct {
	// Level is strict (default), permissive or audit.
	Level string
	// VerifyTimestamp is always (default) or afterCertExpiry.
	VerifyTimestamp string
	// Revocation is the trust policy's revocation action. RevocationEnforce
	// and RevocationLog check the signing and timestamping chains with the
	// OCSP responders and CRLs their certificates name, within the bounds
	// of revocation.go: enforced, a revoked or unknown status denies;
	// logged, it is recorded in the check's reason and the signature
	// counts. RevocationSkip or "" (default): nothing is fetched at any
	// level. Not at the audit level, where certificates are not
	// authenticated first.
	Revocation string
	// Override is the trust policy's signatureVerification.override for
	// the other checks: authenticTimestamp and expiry may be enforce, log
	// or skip; authenticity only enforce (signet never counts a signature
	// whose certificate is not authenticated); integrity and revocation
	// are not overridden here.
	Override map[string]string
}

// Revocation actions (Options.Revocation), as in a Notation trust policy.
const (
	RevocationEnforce = "enforce"
	RevocationLog     = "log"
	RevocationSkip    = "skip"
)

// CheckOverride checks a signatureVerification override: the validation
// types it may name and the actions they may take in signet.
func CheckOverride(o map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(o)) {
		a := o[k]
		switch trustpolicy.ValidationType(k) {
		case trustpolicy.TypeIntegrity:
			return fmt.Errorf("%s: integrity cannot be overridden", k)
		case trustpolicy.TypeRevocation:
			return fmt.Errorf("%s: set revocationValidations instead", k)
		case trustpolicy.TypeAuthenticity:
			if a != RevocationEnforce {
				return fmt.Errorf("%s: only %q: a signature whose certificate is not authenticated never counts as signed in signet (use a static validator to admit unsigned images)", k, RevocationEnforce)
			}
		case trustpolicy.TypeAuthenticTimestamp, trustpolicy.TypeExpiry:
			switch a {
			case RevocationEnforce, RevocationLog, RevocationSkip:
			default:
				return fmt.Errorf("%s: must be %q, %q or %q, got %q", k, RevocationEnforce, RevocationLog, RevocationSkip, a)
			}
		default:
			return fmt.Errorf("unknown validation %q (want %s, %s or %s)", k, trustpolicy.TypeAuthenticity, trustpolicy.TypeAuthenticTimestamp, trustpolicy.TypeExpiry)
		}
	}
	return nil
}

type boundRoot struct {
	name string
	v    notationgo.Verifier
}

// Verifier checks Notation signatures against a quorum of trust roots.
type Verifier struct {
	reg        Registry
	roots      []boundRoot
	quorum     verify.Quorum
	revocation bool
	// logRevoked: the rule logs a revoked certificate instead of denying
	// (revocationValidations: log).
	logRevoked bool
	// fingerprint identifies a trust policy file's content (NewFromConfig).
	fingerprint string
	// level is the rule's verification level, named in reasons (the trust
	// policy notation-go sees may carry overrides, which it calls custom).
	level string
}

// New returns a Verifier for the roots q selects.
func New(reg Registry, roots []TrustRoot, q verify.Quorum, opts Options) (*Verifier, error) {
	if opts.Level == "" {
		opts.Level = LevelStrict
	}
	if opts.VerifyTimestamp == "" {
		opts.VerifyTimestamp = TimestampAlways
	}
	switch opts.Revocation {
	case "", RevocationSkip, RevocationEnforce, RevocationLog:
	default:
		return nil, fmt.Errorf("revocation action must be %q, %q or %q, got %q", RevocationEnforce, RevocationLog, RevocationSkip, opts.Revocation)
	}
	if err := CheckOverride(opts.Override); err != nil {
		return nil, err
	}
	on := opts.Revocation == RevocationEnforce || opts.Revocation == RevocationLog
	if on && opts.Level == LevelAudit {
		return nil, errors.New("revocation checking needs the strict or permissive level: at the audit level, the certificates whose OCSP and CRL URLs would be fetched are not authenticated")
	}
	v := &Verifier{reg: reg, quorum: q, revocation: on, logRevoked: opts.Revocation == RevocationLog, level: opts.Level}
	var client *http.Client
	if on {
		client = newRevocationClient()
	}
	vopts, err := revocationValidators(on, client)
	if err != nil {
		return nil, err
	}
	override := revocationAction(opts.Revocation)
	for k, a := range opts.Override {
		override[trustpolicy.ValidationType(k)] = trustpolicy.ValidationAction(a)
	}
	for _, r := range roots {
		if !slices.Contains(q.Roots, r.Name) {
			continue
		}
		typ, err := storeType(r.Store)
		if err != nil {
			return nil, fmt.Errorf("trust root %q: %w", r.Name, err)
		}
		ids := r.Identities
		if len(ids) == 0 {
			ids = []string{Wildcard}
		}
		stores := []string{string(typ) + ":" + r.Name}
		if len(r.TSAs) > 0 {
			stores = append(stores, "tsa:"+r.Name)
		}
		doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
			Name:           r.Name,
			RegistryScopes: []string{"*"},
			SignatureVerification: trustpolicy.SignatureVerification{
				VerificationLevel: opts.Level,
				VerifyTimestamp:   trustpolicy.TimestampOption(opts.VerifyTimestamp),
				Override:          override,
			},
			TrustStores:       stores,
			TrustedIdentities: ids,
		}}}
		nv, err := nverifier.NewWithOptions(doc, store{r}, nil, vopts)
		if err != nil {
			return nil, fmt.Errorf("trust root %q: %w", r.Name, err)
		}
		v.roots = append(v.roots, boundRoot{name: r.Name, v: nv})
	}
	if len(v.roots) == 0 {
		return nil, errors.New("no trust roots")
	}
	return v, nil
}

// store is an in-memory truststore.X509TrustStore holding one trust root.
type store struct{ r TrustRoot }

func (s store) GetCertificates(_ context.Context, t truststore.Type, name string) ([]*x509.Certificate, error) {
	if name != s.r.Name {
		return nil, fmt.Errorf("no trust store %s:%s", t, name)
	}
	typ, _ := storeType(s.r.Store)
	switch t {
	case typ:
		return s.r.CAs, nil
	case truststore.TypeTSA:
		return s.r.TSAs, nil
	}
	return nil, fmt.Errorf("no trust store %s:%s", t, name)
}

// envelope is one signature held in memory.
type envelope struct {
	source    string
	mediaType string
	subject   *v1.Descriptor
	blob      []byte
	err       error
}

// Verify implements verify.Verifier.
func (v *Verifier) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	res := &verify.Result{}
	ref := img.Ref.String()
	ctx, budget := v.revocationContext(ctx)
	envs, err := fetch(ctx, img.Ref, v.reg.Options(ctx))
	if err != nil {
		res.Add(verify.Check{Signature: "referrers", Reason: "could not list: " + err.Error()})
		return res, registry.Classify(ctx, err, "fetching Notation signatures of "+ref)
	}
	tally := v.quorum.Tally()
	for _, e := range envs {
		if e.err != nil {
			res.Add(verify.Check{Signature: e.source, Kind: verify.KindSignature, Source: verify.SourceNotation, Reason: e.err.Error()})
			continue
		}
		if e.subject == nil || e.subject.Digest.String() != img.Digest() {
			res.Add(verify.Check{Signature: e.source, Kind: verify.KindSignature, Source: verify.SourceNotation, Reason: "signature manifest does not name this image as its subject"})
			continue
		}
		desc := ocispec.Descriptor{MediaType: string(e.subject.MediaType), Digest: digest.Digest(e.subject.Digest.String()), Size: e.subject.Size}
		for _, r := range v.roots {
			if tally.Saturated(res.Checks, r.name) {
				continue
			}
			outcome, err := r.v.Verify(ctx, desc, e.blob, notationgo.VerifierVerifyOptions{ArtifactReference: ref, SignatureMediaType: e.mediaType})
			c := withOutcome(verify.Check{TrustRoot: r.name, Signature: e.source, Kind: verify.KindSignature, Source: verify.SourceNotation}, outcome)
			if err != nil {
				c.Reason = "does not verify: " + err.Error()
				if c.Evidence != nil {
					c.Reason += " (signing certificate " + c.Subject + ")"
				}
				res.Add(c)
				continue
			}
			signer, err := signerOf(outcome, v.logRevoked)
			if err != nil {
				c.Reason = "does not verify: " + err.Error()
				res.Add(c)
				continue
			}
			c.Passed, c.Signer, c.Reason = true, signer, "valid Notation signature for "+img.Digest()+logged(outcome, v.level)
			res.Add(c)
		}
	}
	res.Signers = v.quorum.Signers(res.Checks)
	if v.quorum.Satisfied(res.Checks) {
		return res, nil
	}
	if ctx.Err() != nil {
		return res, &verify.InconclusiveError{Reason: "verifying Notation signatures of " + ref + ": deadline passed", Err: ctx.Err()}
	}
	if err := budget.err(); err != nil {
		return res, &verify.InconclusiveError{Reason: "checking the revocation of the Notation signatures of " + ref, Err: err}
	}
	tried := "trust roots [" + strings.Join(v.quorum.Roots, ", ") + "]"
	if len(envs) == 0 {
		return res, verify.Failf("no Notation signatures found for %s (looked for OCI referrers of type %s); sign it with a certificate chaining to %s", ref, ArtifactType, tried)
	}
	return res, verify.Failf("%s; %d Notation signature(s) found, checked against %s", v.quorum.Shortfall(res.Checks), len(envs), tried)
}

// fetch lists the image's Notation signatures and reads their envelopes.
func fetch(ctx context.Context, img name.Digest, ropts []remote.Option) ([]envelope, error) {
	descs, err := registry.Referrers(ctx, img, ropts)
	if err != nil {
		return nil, err
	}
	var out []envelope
	for _, d := range descs {
		if d.ArtifactType != ArtifactType {
			continue
		}
		if len(out) >= MaxSignatures {
			break
		}
		e := envelope{source: "referrer " + d.Digest.String()}
		if err := readEnvelope(ctx, img.Context().Digest(d.Digest.String()), ropts, &e); err != nil {
			if registry.StatusCode(err) != 0 || ctx.Err() != nil {
				return nil, err
			}
			e.err = err
		}
		out = append(out, e)
	}
	return out, nil
}

func readEnvelope(ctx context.Context, ref name.Digest, ropts []remote.Option, e *envelope) error {
	d, err := remote.Get(ref, ropts...)
	if err != nil {
		return err
	}
	var m struct {
		Layers  []v1.Descriptor `json:"layers"`
		Subject *v1.Descriptor  `json:"subject"`
	}
	if err := json.Unmarshal(d.Manifest, &m); err != nil {
		return fmt.Errorf("malformed signature manifest: %w", err)
	}
	if len(m.Layers) != 1 {
		return fmt.Errorf("signature manifest has %d layers, want 1", len(m.Layers))
	}
	l := m.Layers[0]
	e.mediaType, e.subject = string(l.MediaType), m.Subject
	if e.mediaType != MediaTypeJWS && e.mediaType != MediaTypeCOSE {
		return fmt.Errorf("unsupported envelope type %q", e.mediaType)
	}
	if l.Size > MaxEnvelopeSize {
		return fmt.Errorf("envelope larger than %d bytes", MaxEnvelopeSize)
	}
	e.blob, err = registry.ReadBlob(ref.Context().Digest(l.Digest.String()), MaxEnvelopeSize, ropts)
	return err
}

// ParseCertificates parses one or more PEM certificates.
func ParseCertificates(pemBytes []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := pemBytes
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q, want CERTIFICATE", block.Type)
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	return out, nil
}
