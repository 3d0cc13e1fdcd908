package registry

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain is a set of registry credentials with an identity: requests
// carrying the same *Keychain share authenticated connections and bearer
// tokens, as the requests of a Client without one do. Build one per set of
// credentials (a namespace's pull secrets, a validator's Secret) and reuse
// it while the credentials stay the same.
type Keychain struct {
	authn.Keychain
	id uint64
}

var keychainIDs atomic.Uint64

// NewKeychain gives kc an identity.
func NewKeychain(kc authn.Keychain) *Keychain {
	return &Keychain{Keychain: kc, id: keychainIDs.Add(1)}
}

type keychainsKey struct{}

// ContextWithKeychain returns a copy of ctx whose registry requests
// (Client.Resolve, and the options Client.Options returns to verifiers) try
// kc first, then the keychains ctx already carries, then the Client's own.
// signet serve puts the keychain of an admission's pull secrets there, and
// a validator with auth.secretName its Secret's in front of it.
func ContextWithKeychain(ctx context.Context, kc *Keychain) context.Context {
	if kc == nil {
		return ctx
	}
	prev, _ := ctx.Value(keychainsKey{}).([]*Keychain)
	chain := make([]*Keychain, 0, len(prev)+1)
	chain = append(append(chain, kc), prev...)
	return context.WithValue(ctx, keychainsKey{}, chain)
}

// keychains returns the keychains ctx carries, first to try first.
func keychains(ctx context.Context) []*Keychain {
	kcs, _ := ctx.Value(keychainsKey{}).([]*Keychain)
	return kcs
}

// CredentialsID identifies the credentials requests made with ctx carry
// (the chain of keychains ContextWithKeychain put there): equal for the same
// credentials, different for different ones, "" for a Client's own. It is
// meaningful within this process only. Caches use it so that an answer
// that may depend on who asked (a registry that hides what a caller may not
// read) is reused only for the same credentials.
func CredentialsID(ctx context.Context) string {
	chain := keychains(ctx)
	if len(chain) == 0 {
		return ""
	}
	ids := make([]string, len(chain))
	for i, kc := range chain {
		ids[i] = strconv.FormatUint(kc.id, 10)
	}
	return strings.Join(ids, "/")
}

// CredentialsError says the credentials for a registry could not be read
// (a pull secret the API would not return, say). It says nothing about the
// image: Classify makes it inconclusive.
type CredentialsError struct {
	Err error
}

func (e *CredentialsError) Error() string { return "reading registry credentials: " + e.Err.Error() }
func (e *CredentialsError) Unwrap() error { return e.Err }

// UnreadableKeychain is the keychain of credentials that could not be read:
// every registry request made with it fails with a *CredentialsError
// wrapping err, instead of going out anonymously. Images that need no
// registry request (static rules) are decided as usual.
func UnreadableKeychain(err error) *Keychain {
	return NewKeychain(failingKeychain{&CredentialsError{Err: err}})
}

type failingKeychain struct{ err *CredentialsError }

func (f failingKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return nil, f.err }
