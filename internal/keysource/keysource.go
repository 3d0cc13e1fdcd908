package keysource

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/signet-dev/signet/internal/ttl"
	"github.com/signet-dev/signet/internal/verify"
)

// KMSSchemes are the KMS URI schemes signet accepts.
var KMSSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// SecretScheme prefixes keys held in Kubernetes Secrets.
const SecretScheme = "k8s://"

// DefaultSecretKey is the Secret data key read when the reference names
// none: cosign's own (`cosign generate-key-pair k8s://…` writes it).
const DefaultSecretKey = "cosign.pub"

// Timings.
const (
	// TTL is how long a resolved key is used before it is resolved again.
	TTL = 5 * time.Minute
	// RetryAfter is how long a failure is remembered.
	RetryAfter = 10 * time.Second
)

// Secrets reads Kubernetes Secrets.
type Secrets interface {
	Get(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// FreshSecrets is a Secrets that can also read a Secret past its cache
// (kube.SecretData). Refresh reads with it when the Secrets has it.
type FreshSecrets interface {
	GetFresh(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// ParseKey turns a public key (PEM) into a verifier.
type ParseKey func(pemBytes []byte) (signature.Verifier, error)

// IsRef says whether key is a reference this package resolves rather than
// an inline PEM key.
func IsRef(key string) bool {
	return strings.HasPrefix(key, SecretScheme) || slices.ContainsFunc(KMSSchemes, func(s string) bool { return strings.HasPrefix(key, s) }) ||
		(strings.Contains(key, "://") && !strings.Contains(key, "-----BEGIN"))
}

// Source is a lazily resolved public key.
type Source struct {
	ref  string
	now  func() time.Time
	lazy *ttl.Lazy[resolved]

	mu sync.Mutex
	// seen is the fingerprint the last successful Refresh found, "" before.
	seen string
}

// resolved is a key and its fingerprint.
type resolved struct {
	key signature.Verifier
	fp  string
}

// Option configures a Source.
type Option func(*Source)

// WithClock sets the clock that ages resolved keys (tests).
func WithClock(now func() time.Time) Option { return func(s *Source) { s.now = now } }

// New checks ref and returns its Source. secrets may be nil (no cluster
// access): a k8s:// key then fails to resolve with an explanation.
func New(ref string, secrets Secrets, parse ParseKey, opts ...Option) (*Source, error) {
	s := &Source{ref: ref, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	// resolve reads the key; fresh is the resolution of Refresh (past any
	// Secret cache).
	var resolve, fresh func(ctx context.Context) (signature.Verifier, error)
	switch {
	case strings.HasPrefix(ref, SecretScheme):
		ns, name, key, err := parseSecretRef(ref)
		if err != nil {
			return nil, err
		}
		read := func(ctx context.Context, get func(ctx context.Context, namespace, name string) (map[string][]byte, error)) (signature.Verifier, error) {
			if secrets == nil {
				return nil, errors.New("k8s:// keys are read through the Kubernetes API, which is not available here (signet verify: pass --kubeconfig)")
			}
			data, err := get(ctx, ns, name)
			if err != nil {
				return nil, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
			}
			pem, ok := data[key]
			if !ok {
				return nil, fmt.Errorf("Secret %s/%s has no key %q", ns, name, key)
			}
			return parse(pem)
		}
		resolve = func(ctx context.Context) (signature.Verifier, error) {
			return read(ctx, func(ctx context.Context, ns, name string) (map[string][]byte, error) {
				return secrets.Get(ctx, ns, name)
			})
		}
		fresh = resolve
		if fs, ok := secrets.(FreshSecrets); ok {
			fresh = func(ctx context.Context) (signature.Verifier, error) { return read(ctx, fs.GetFresh) }
		}
	case slices.ContainsFunc(KMSSchemes, func(p string) bool { return strings.HasPrefix(ref, p) }):
		if len(ref) == strings.Index(ref, "://")+3 {
			return nil, fmt.Errorf("KMS reference %q names no key", ref)
		}
		resolve = func(ctx context.Context) (signature.Verifier, error) {
			sv, err := kms.Get(ctx, ref, crypto.SHA256)
			if err != nil {
				var nf *kms.ProviderNotFoundError
				if errors.As(err, &nf) {
					return nil, fmt.Errorf("no KMS provider for %s in this build", ref)
				}
				return nil, fmt.Errorf("KMS provider: %w", err)
			}
			pub, err := sv.PublicKey(options.WithContext(ctx))
			if err != nil {
				return nil, fmt.Errorf("fetching the public key from the KMS provider (unreachable or not authorised?): %w", err)
			}
			pemBytes, err := marshalPEM(pub)
			if err != nil {
				return nil, err
			}
			return parse(pemBytes)
		}
		fresh = resolve // no cache: every read asks the KMS
	default:
		return nil, fmt.Errorf("unsupported key reference %q: want an inline PEM key, %s<namespace>/<secret>[/<key>] or a KMS URI (%s)", ref, SecretScheme, strings.Join(KMSSchemes, ", "))
	}
	withFingerprint := func(resolve func(ctx context.Context) (signature.Verifier, error)) func(ctx context.Context) (resolved, error) {
		return func(ctx context.Context) (resolved, error) {
			k, err := resolve(ctx)
			fp := ""
			if err == nil {
				fp, err = Fingerprint(k)
			}
			return resolved{key: k, fp: fp}, err
		}
	}
	s.lazy = ttl.NewLazy(withFingerprint(resolve), ttl.LazyOptions[resolved]{
		Refresh: TTL, RetryAfter: RetryAfter, Timeout: resolveTimeout, Now: s.now, Fresh: withFingerprint(fresh),
	})
	return s, nil
}

// String names the key (its reference; never material).
func (s *Source) String() string { return s.ref }

// Verifier returns the key, resolving it if needed. It waits no longer than
// ctx allows; a resolution that outlives ctx goes on and serves later
// calls. Errors are *verify.InconclusiveError.
func (s *Source) Verifier(ctx context.Context) (signature.Verifier, error) {
	k, _, err := s.current(ctx)
	return k, err
}

// Fingerprint identifies the key Verifier returns now: the SHA-256 of its
// DER (PKIX) encoding, hex. A result verified with another key (before a
// rotation) must not be reused under this one. It resolves the key like
// Verifier, and fails like it.
func (s *Source) Fingerprint(ctx context.Context) (string, error) {
	_, fp, err := s.current(ctx)
	return fp, err
}

// Refresh resolves the key now, past the TTL and any Secret cache (a
// FreshSecrets, which also updates that cache), and puts it in use when
// it resolved: verifications from then on use it, and results cached
// under the old key's fingerprint are no longer served.
//
// changed reports that the key resolved differs (by fingerprint) from the
// one the previous successful Refresh found or, before any, from the key
// in use. It is false when the source never had a key before: nothing was
// verified with another key of it, so there is nothing to verify again
// (the first pass of Watch after signet starts reports no change). A key
// that a background resolution (TTL) swapped in since the last Refresh is
// still reported as changed, once.
//
// A failure leaves the key in use as it was (until its TTL, as when a
// background resolution fails) and is returned as an
// *verify.InconclusiveError naming the key, never its material.
func (s *Source) Refresh(ctx context.Context) (changed bool, err error) {
	inUse, _ := s.lazy.Peek()
	r, err := s.lazy.Refresh(ctx)
	if err != nil {
		return false, &verify.InconclusiveError{Reason: "could not load key " + s.ref, Err: err}
	}
	return s.saw(inUse.fp, r.fp), nil
}

// saw records fp as the fingerprint a Refresh found and reports whether it
// differs from the one the previous Refresh found or, before any, from
// inUse ("" when there was no key).
func (s *Source) saw(inUse, fp string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	before := s.seen
	if before == "" {
		before = inUse
	}
	s.seen = fp
	return before != "" && before != fp
}

// adopt puts in use the key from resolved by a Refresh of another Source
// of the same reference (Watch resolves each reference once), and reports
// whether it changed, as Refresh does.
func (s *Source) adopt(from *Source) bool {
	r, ok := from.lazy.Peek()
	if !ok {
		return false
	}
	inUse, _ := s.lazy.Peek()
	s.lazy.Set(r)
	return s.saw(inUse.fp, r.fp)
}

// current returns the key and its fingerprint, resolving them if needed.
func (s *Source) current(ctx context.Context) (signature.Verifier, string, error) {
	r, err := s.lazy.Get(ctx)
	var pending *ttl.PendingError
	var stale *ttl.StaleError
	switch {
	case errors.As(err, &pending):
		return nil, "", &verify.InconclusiveError{Reason: "key " + s.ref + " not resolved in time", Err: pending.Err}
	case errors.As(err, &stale) && stale.Err != nil:
		// A key is never used past TTL: the error is reading it again.
		return nil, "", &verify.InconclusiveError{Reason: "could not load key " + s.ref, Err: stale.Err}
	case err != nil:
		return nil, "", &verify.InconclusiveError{Reason: "could not load key " + s.ref, Err: err}
	}
	return r.key, r.fp, nil
}

// resolveTimeout bounds one background resolution.
const resolveTimeout = 30 * time.Second

// parseSecretRef splits k8s://namespace/name[/key].
func parseSecretRef(ref string) (ns, name, key string, err error) {
	parts := strings.Split(strings.TrimPrefix(ref, SecretScheme), "/")
	if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
		return "", "", "", fmt.Errorf("invalid Secret reference %q: want %s<namespace>/<secret>[/<key>]", ref, SecretScheme)
	}
	key = DefaultSecretKey
	if len(parts) == 3 {
		key = parts[2]
	}
	return parts[0], parts[1], key, nil
}
