package policy

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// SecretKeychains reads the registry credentials a validator's
// auth.secretName names (kube.Keychains when serving).
type SecretKeychains interface {
	Secret(ctx context.Context, name string) (*registry.Keychain, error)
}

// CompileOption configures Compile.
type CompileOption func(*compileOptions)

type compileOptions struct {
	secrets SecretKeychains
	keys    keysource.Secrets
	cache   *cache.Cache
	// authRegistries maps a validator with auth to the registry hosts its
	// credentials are for (normalised by registryHost).
	authRegistries map[string][]string
	// keyRefs holds the key sources compiled so far, by reference: a key
	// named by several trust roots is one Source, resolved (and refreshed)
	// once. Compile makes it; CompileSet shares one among its objects.
	keyRefs map[string]*keysource.Source
}

// WithKeySecrets lets trust roots name keys held in Kubernetes Secrets
// (k8s://namespace/name). Without it such keys fail to resolve, with an
// explanation, when a verification needs them.
func WithKeySecrets(s keysource.Secrets) CompileOption {
	return func(o *compileOptions) { o.keys = s }
}

// WithCache makes the engine remember verification results and tag
// resolutions in c, and share concurrent verifications of one image. c
// outlives policies: entries are keyed by each rule's hash, so a reload
// keeps the entries of rules it did not change.
func WithCache(c *cache.Cache) CompileOption { return func(o *compileOptions) { o.cache = c } }

// WithSecretKeychains lets validators name registry credentials with
// auth.secretName, read through s at verification time. Default: none, and
// a policy with auth is rejected, so credentials it names are never
// silently ignored.
func WithSecretKeychains(s SecretKeychains) CompileOption {
	return func(o *compileOptions) { o.secrets = s }
}

// registryHost normalises a registry host[:port] the way the container
// runtime treats it: lower case, Docker Hub's aliases as docker.io, and
// HTTPS's default port dropped.
func registryHost(h string) string {
	h = strings.TrimSuffix(strings.ToLower(h), ":443")
	if h == name.DefaultRegistry || h == "registry-1.docker.io" {
		return imageref.DockerHub
	}
	return h
}

// patternHost returns the registry host of a rule pattern, and false when
// the host part has a wildcard (the rule can match any registry).
func patternHost(pattern string) (string, bool, error) {
	pat, err := CompilePattern(pattern)
	if err != nil {
		return "", false, err
	}
	host, _, _ := strings.Cut(pat.Normalised(), "/")
	if strings.ContainsAny(host, "*?") {
		return "", false, nil
	}
	return registryHost(host), true, nil
}

// authRegistries decides, for each validator with auth, which registry
// hosts its credentials are offered to: auth.registries when given, else
// the hosts named in the patterns of the rules using the validator. A rule
// whose pattern has a wildcard host would offer them to any registry an
// image names (an attacker's included), so such a policy must list them.
func authRegistries(doc *Document, p *problems) map[string][]string {
	out := map[string][]string{}
	for i, v := range doc.Validators {
		if v.Auth == nil || (v.Type != TypeCosign && v.Type != TypeNotation) {
			continue
		}
		f := fmt.Sprintf("validators[%d].auth.registries", i)
		var hosts []string
		for j, h := range v.Auth.Registries {
			if err := checkRegistryHost(h); err != nil {
				p.add(fmt.Sprintf("%s[%d]", f, j), "%v", err)
				continue
			}
			if h = registryHost(h); !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		if len(v.Auth.Registries) > 0 {
			out[v.Name] = hosts
			continue
		}
		for j, r := range doc.Rules {
			if !usesValidator(r, v.Name) {
				continue
			}
			host, ok, err := patternHost(r.Pattern)
			switch {
			case err != nil: // reported with the rule
			case !ok:
				p.add(f, "is required: rules[%d] (pattern %q) matches images on any registry, and validator %q would offer the credentials of Secret %q to all of them; list the registries they are for, e.g. registries: [\"ghcr.io\"]", j, r.Pattern, v.Name, v.Auth.SecretName)
			case !slices.Contains(hosts, host):
				hosts = append(hosts, host)
			}
		}
		out[v.Name] = hosts
	}
	return out
}

// usesValidator says whether rule r names validator v, for its signatures
// or for one of its attestation requirements.
func usesValidator(r Rule, v string) bool {
	for _, a := range r.With.Attestations {
		if a.Validator == v {
			return true
		}
	}
	if r.Validator == "" && len(r.Validators) == 0 {
		return v == DefaultName
	}
	return r.Validator == v || slices.Contains(r.Validators, v)
}

// checkRegistryHost checks an auth.registries entry: a registry host, with
// an optional port, and nothing else.
func checkRegistryHost(h string) error {
	bad := func(why string) error {
		return fmt.Errorf("%q is not a registry host[:port] (%s), e.g. \"ghcr.io\" or \"registry.example.com:5000\"", h, why)
	}
	switch {
	case h == "":
		return bad("empty")
	case strings.Contains(h, "://"):
		return bad("no scheme")
	case strings.ContainsAny(h, "/@"):
		return bad("no path")
	case strings.ContainsAny(h, "*?"):
		return bad("exact hosts only, no wildcards")
	}
	if _, err := name.NewRegistry(h, name.StrictValidation); err != nil {
		return bad(err.Error())
	}
	if host, port, err := net.SplitHostPort(h); err == nil && (host == "" || port == "") {
		return bad("empty host or port")
	}
	return nil
}

// scopedKeychain answers with a validator Secret's credentials only for
// the registries they are for, and anonymously (so the next keychain is
// asked) for any other: where go-containerregistry resolves credentials
// for a request's registry, whatever pattern or redirect led there.
type scopedKeychain struct {
	kc    authn.Keychain
	hosts []string
}

func (s scopedKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if !slices.Contains(s.hosts, registryHost(r.RegistryStr())) {
		return authn.Anonymous, nil
	}
	return s.kc.Resolve(r)
}

// authVerifier makes a verifier fetch with the credentials of its
// validator's Secret, scoped to the registries they are for, before the
// request's.
type authVerifier struct {
	validator, secret string
	hosts             []string
	src               SecretKeychains
	v                 verify.Verifier

	mu     sync.Mutex
	from   *registry.Keychain // the Secret's keychain last scoped
	scoped *registry.Keychain
}

// authFingerprinter is an authVerifier whose verifier resolves material
// at verification time: the cache must still see it.
type authFingerprinter struct {
	*authVerifier
	fp verify.MaterialFingerprinter
}

func (a authFingerprinter) MaterialFingerprint(ctx context.Context) (string, error) {
	return a.fp.MaterialFingerprint(ctx)
}

// withAuth makes v fetch with the credentials of the validator's Secret,
// offered only to hosts, before the request's. A Secret that cannot be
// read is inconclusive, never an anonymous fetch.
func withAuth(validator, secret string, hosts []string, src SecretKeychains, v verify.Verifier) verify.Verifier {
	a := &authVerifier{validator: validator, secret: secret, hosts: hosts, src: src, v: v}
	if fp, ok := v.(verify.MaterialFingerprinter); ok {
		return authFingerprinter{a, fp}
	}
	return a
}

// Verify implements verify.Verifier.
func (a *authVerifier) Verify(ctx context.Context, img verify.Image) (*verify.Result, error) {
	ctx, err := a.context(ctx)
	if err != nil {
		return &verify.Result{}, err
	}
	return a.v.Verify(ctx, img)
}

// context returns ctx carrying the Secret's credentials, scoped.
func (a *authVerifier) context(ctx context.Context) (context.Context, error) {
	kc, err := a.src.Secret(ctx, a.secret)
	if err != nil {
		return ctx, &verify.InconclusiveError{
			Reason: fmt.Sprintf("reading the registry credentials of validator %q (auth.secretName %q): %v; check that the Secret exists in signet's namespace and signet may get it", a.validator, a.secret, err),
			Err:    err,
		}
	}
	return registry.ContextWithKeychain(ctx, a.scope(kc)), nil
}

// scope returns kc limited to the validator's registries: one keychain
// (one identity, so connections and tokens are reused) per version of the
// Secret's credentials.
func (a *authVerifier) scope(kc *registry.Keychain) *registry.Keychain {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.from != kc {
		a.from, a.scoped = kc, registry.NewKeychain(scopedKeychain{kc: kc.Keychain, hosts: a.hosts})
	}
	return a.scoped
}
