package policy

import (
	"context"
	"fmt"

	"github.com/signet-dev/signet/internal/cache"
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

// withAuth makes v fetch with the credentials of the validator's Secret
// before the request's. A Secret that cannot be read is inconclusive,
// never an anonymous fetch.
func withAuth(validator, secret string, src SecretKeychains, v verify.Verifier) verify.Verifier {
	return verify.Func(func(ctx context.Context, img verify.Image) (*verify.Result, error) {
		kc, err := src.Secret(ctx, secret)
		if err != nil {
			return &verify.Result{}, &verify.InconclusiveError{
				Reason: fmt.Sprintf("reading the registry credentials of validator %q (auth.secretName %q): %v; check that the Secret exists in signet's namespace and signet may get it", validator, secret, err),
				Err:    err,
			}
		}
		return v.Verify(registry.ContextWithKeychain(ctx, kc), img)
	})
}
