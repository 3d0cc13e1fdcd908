package notaryv1

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
)

// TrustRoot is a named, pinned root public key.
type TrustRoot struct {
	Name string
	Key  crypto.PublicKey
}

// ParsePublicKey parses a pinned root key: one PEM public key ("PUBLIC
// KEY") or one PEM certificate, whose public key is taken (notary's root
// keys are self-signed certificates; either form pins the same key), with
// no PEM headers.
func ParsePublicKey(pemBytes []byte) (crypto.PublicKey, error) {
	block, rest := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parsing PEM root key: no PEM block found")
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return nil, errors.New("parsing PEM root key: more than one PEM block (pin one root key per trust root)")
	}
	if len(block.Headers) > 0 {
		return nil, errors.New("parsing PEM root key: PEM headers are not allowed (notary and signet would read the block differently)")
	}
	var pub crypto.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PEM root key: %w", err)
		}
		pub = k
	case "CERTIFICATE":
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing PEM root certificate: %w", err)
		}
		pub = c.PublicKey
	default:
		return nil, fmt.Errorf("parsing PEM root key: want a PUBLIC KEY or CERTIFICATE block, got %q", block.Type)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return pub, nil
	}
	return nil, fmt.Errorf("parsing PEM root key: unsupported key type %T", pub)
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithCABundle adds PEM CA certificates to the system roots trusted for
// the Notary server's TLS certificate. Default: system roots only.
func WithCABundle(pem []byte) Option { return func(v *Verifier) { v.caPEM = pem } }

// WithKeychain sets where credentials for the Notary server come from.
// Default: the Docker config file (authn.DefaultKeychain), anonymous when
// it has no entry for the server's host.
func WithKeychain(k authn.Keychain) Option { return func(v *Verifier) { v.keychain = k } }

// WithTransport sets the HTTP transport (WithCABundle then has no effect).
// Default: timeouts and TLS 1.2+ as for registries. Plain HTTP is refused
// either way.
func WithTransport(t http.RoundTripper) Option { return func(v *Verifier) { v.transport = t } }

// WithClock sets the clock that metadata expiry is checked against.
// Default: time.Now.
func WithClock(now func() time.Time) Option { return func(v *Verifier) { v.now = now } }

// WithDelegations requires each named delegation role (targets/releases,
// …) to have signed the tag with the same digest. Default: none; a tag is
// looked up as docker does, targets/releases first, then the targets role
// and its other delegations.
func WithDelegations(roles ...string) Option {
	return func(v *Verifier) { v.delegations = slices.Clone(roles) }
}

// WithVersions shares the record of highest metadata versions seen (the
// rollback floor) between verifiers. Default: a record of the verifier's
// own.
func WithVersions(vs *Versions) Option { return func(v *Verifier) { v.versions = vs } }

// Verifier checks Docker Content Trust data on one Notary server against a
// quorum of pinned root keys.
type Verifier struct {
	host        string
	roots       []TrustRoot
	quorum      verify.Quorum
	delegations []string
	caPEM       []byte
	keychain    authn.Keychain
	transport   http.RoundTripper
	now         func() time.Time
	versions    *Versions
	srv         *server

	mu     sync.Mutex
	recent map[string]loaded // per GUN: verified trust data, reused briefly
}

// reuseFor is how long verified trust data is reused, so that the engine's
// ResolveTag then Verify of one image read it once.
const reuseFor = 5 * time.Second

// loaded is verified trust data with the evidence gathered verifying it.
type loaded struct {
	t       *trust
	signers []string
	checks  []verify.Check
	at      time.Time
}

// New returns a Verifier for the Notary server at host (https://host[:port]).
// Only the roots q selects are used. It fails on a bad host, CA bundle or
// delegation name.
func New(host string, roots []TrustRoot, q verify.Quorum, opts ...Option) (*Verifier, error) {
	v := &Verifier{host: host, quorum: q, now: time.Now, recent: map[string]loaded{}}
	for _, o := range opts {
		o(v)
	}
	for _, r := range roots {
		if slices.Contains(q.Roots, r.Name) {
			v.roots = append(v.roots, r)
		}
	}
	if len(v.roots) == 0 {
		return nil, errors.New("no trust roots")
	}
	for i, d := range v.delegations {
		role, err := DelegationRole(d)
		if err != nil {
			return nil, err
		}
		v.delegations[i] = role
	}
	if v.versions == nil {
		v.versions = NewVersions()
	}
	srv, err := newServer(host, v.caPEM, v.keychain, v.transport)
	if err != nil {
		return nil, err
	}
	v.srv = srv
	return v, nil
}

// GUN returns the Docker Content Trust name of ref's repository:
// registry/path in signet's normalised form (docker.io/library/nginx).
func GUN(ref imageref.Ref) string { return ref.Name() }

// ResolveTag implements verify.TagResolver: the digest comes from the
// signed trust data. A reference with a digest and no tag is returned as is
// (Verify then checks that a signed target carries it); with a tag and a
// digest, the two must agree.
func (v *Verifier) ResolveTag(ctx context.Context, ref imageref.Ref) (name.Digest, error) {
	if ref.Tag == "" {
		return ref.DigestRef(ref.Digest)
	}
	gun := GUN(ref)
	res := &verify.Result{}
	t, err := v.load(ctx, gun, res)
	if err != nil {
		return name.Digest{}, err
	}
	d, err := t.resolve(ref.Tag, v.delegations)
	if err != nil {
		return name.Digest{}, err
	}
	if ref.Digest != "" && ref.Digest != d {
		return name.Digest{}, verify.Failf("%s: the trust data for %s signs tag %q as %s, not %s",
			ref.String(), gun, ref.Tag, d, ref.Digest)
	}
	return ref.DigestRef(d)
}

// Verify implements verify.Verifier: the trust data of the image's
// repository must verify for enough trust roots and name the digest in a
// target signed by the targets role or a delegation (by every required
// delegation when the rule names some).
func (v *Verifier) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	res := &verify.Result{}
	if _, err := v1.NewHash(img.Digest()); err != nil {
		return res, verify.Failf("invalid digest %q: %v", img.Digest(), err)
	}
	ref, err := imageref.Parse(img.Ref.String())
	if err != nil {
		return res, verify.Failf("invalid image %s: %v", img.Ref.String(), err)
	}
	gun := GUN(ref)
	t, err := v.load(ctx, gun, res)
	if err != nil {
		return res, err
	}
	roles, err := t.signedDigest(img.Digest(), v.delegations)
	if err != nil {
		return res, err
	}
	res.Add(verify.Check{Signature: gun, Kind: verify.KindSignature, Source: verify.SourceNotaryV1, Passed: true, Reason: fmt.Sprintf("digest %s signed in the trust data by [%s]", img.Digest(), strings.Join(roles, ", "))})
	return res, nil
}

// load fetches and verifies gun's trust data for every trust root, records
// the checks in res, and returns the verified data when the quorum is met.
// The files are fetched once, whatever the number of trust roots, and
// trust data verified less than reuseFor ago is reused.
func (v *Verifier) load(ctx context.Context, gun string, res *verify.Result) (*trust, error) {
	v.mu.Lock()
	l, ok := v.recent[gun]
	v.mu.Unlock()
	if ok && time.Since(l.at) < reuseFor {
		res.Signers = append(res.Signers, l.signers...)
		res.Checks = append(res.Checks, l.checks...)
		return l.t, nil
	}
	t, err := v.fetchAndVerify(ctx, gun, res)
	if err != nil {
		return nil, err
	}
	v.mu.Lock()
	if len(v.recent) >= maxTransports {
		clear(v.recent)
	}
	v.recent[gun] = loaded{t: t, signers: slices.Clone(res.Signers), checks: slices.Clone(res.Checks), at: time.Now()}
	v.mu.Unlock()
	return t, nil
}

func (v *Verifier) fetchAndVerify(ctx context.Context, gun string, res *verify.Result) (*trust, error) {
	files := &fileCache{srv: v.srv, gun: gun, got: map[string][]byte{}}
	root, err := files.get(ctx, "root", maxRootSize)
	if err != nil {
		return nil, err
	}
	var good *trust
	var reasons []string
	for _, r := range v.roots {
		signer, err := verify.KeySigner(r.Key)
		if err != nil {
			return nil, &verify.FailedError{Reason: fmt.Sprintf("trust root %q: %v", r.Name, err)}
		}
		t, err := v.build(ctx, gun, r, root, files)
		if err != nil {
			if verify.Classify(err) == verify.Inconclusive {
				return nil, err
			}
			res.Add(verify.Check{TrustRoot: r.Name, Signature: gun, Kind: verify.KindSignature, Source: verify.SourceNotaryV1, Reason: err.Error()})
			reasons = append(reasons, r.Name+": "+err.Error())
			continue
		}
		res.Add(verify.Check{TrustRoot: r.Name, Signature: gun, Kind: verify.KindSignature, Source: verify.SourceNotaryV1, Passed: true, Signer: signer,
			Reason: fmt.Sprintf("trust data verified (root v%d, targets v%d, timestamp expires %s)",
				t.repo.Root.Signed.Version, t.repo.Targets["targets"].Signed.Version, t.repo.Timestamp.Signed.Expires.UTC().Format(time.RFC3339))})
		if good == nil {
			good = t
		}
	}
	res.Signers = v.quorum.Signers(res.Checks)
	if !v.quorum.Satisfied(res.Checks) {
		msg := fmt.Sprintf("trust data for %s on Notary server %s: %s", gun, v.srv.host, v.quorum.Shortfall(res.Checks))
		if len(reasons) > 0 {
			msg += " (" + strings.Join(reasons, "; ") + ")"
		}
		return nil, &verify.FailedError{Reason: msg}
	}
	v.versions.record(v.srv.host, gun, good.repo)
	return good, nil
}

// fileCache fetches each trust data file of one GUN at most once.
type fileCache struct {
	srv *server
	gun string
	mu  sync.Mutex
	got map[string][]byte
}

func (f *fileCache) get(ctx context.Context, role string, max int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.got[role]; ok {
		return b, nil
	}
	b, err := f.srv.get(ctx, f.gun, role, max)
	if err != nil {
		return nil, f.srv.classify(ctx, err, f.gun, "reading "+role+".json")
	}
	f.got[role] = b
	return b, nil
}

// hexDigest returns the sha256 of a target as "sha256:<hex>", "" if it has
// none.
func hexDigest(hashes map[string][]byte) string {
	h, ok := hashes["sha256"]
	if !ok || len(h) != 32 {
		return ""
	}
	return "sha256:" + hex.EncodeToString(h)
}
