package kube

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/ttl"
)

// DefaultKeychainTTL is how long a workload's keychain is reused before its
// service account and pull secrets are read again.
const DefaultKeychainTTL = 30 * time.Second

// MaxWorkloadKeychains bounds the workload keychains kept (least recently
// used first out). A Pod chooses its service account and pull secret
// names, so without a bound an attacker submitting (dry-run) Pods with
// ever new names would grow the cache by one entry per admission for two
// TTLs. 4,096 entries are a few MiB; a cluster with more active
// namespace × service account × pull secret combinations only reads some
// of them again after eviction.
const MaxWorkloadKeychains = 4096

// maxValidatorKeychains bounds the validator keychains kept, one per
// auth.secretName a policy names (least recently used first out).
const maxValidatorKeychains = 256

// Keychains builds registry credentials from Kubernetes Secrets: a
// workload's, from its imagePullSecrets and its service account's (what the
// kubelet would pull with), and a validator's, from the Secret its
// auth.secretName names in signet's own namespace. Keychains are cached
// briefly, so that an admission costs no API request in the common case and
// the connections and tokens of a namespace's credentials are reused
// (registry.Keychain).
//
// Keychains is safe for concurrent use and never logs credentials.
type Keychains struct {
	secrets   *Secrets
	accounts  bool // read service accounts' imagePullSecrets
	namespace string
	now       func() time.Time

	// Keychains fresh for ttl; stale ones are kept (within the bound) and
	// reused while the Secrets they were built from are unchanged.
	workloads *ttl.Cache[string, cachedKeychain] // by a hash of namespace, service account, pull secrets
	validator *ttl.Cache[string, cachedKeychain] // by Secret name
}

type cachedKeychain struct {
	kc      *registry.Keychain
	version string // the resourceVersions of the Secrets it was built from
}

// KeychainsOptions configure NewKeychains.
type KeychainsOptions struct {
	// Namespace is signet's own, where validators' Secrets live. Required
	// for Secret.
	Namespace string
	// ServiceAccounts adds the imagePullSecrets of a workload's service
	// account, read through the Secrets' client. Default (false): a
	// workload's keychain is built from its own imagePullSecrets only.
	ServiceAccounts bool
	// TTL bounds how long a workload's keychain is reused.
	// Default: DefaultKeychainTTL.
	TTL time.Duration
}

// NewKeychains returns Keychains reading Secrets through secrets.
func NewKeychains(secrets *Secrets, opts KeychainsOptions) *Keychains {
	if opts.TTL <= 0 {
		opts.TTL = DefaultKeychainTTL
	}
	k := &Keychains{
		secrets: secrets, accounts: opts.ServiceAccounts,
		namespace: opts.Namespace, now: time.Now,
	}
	now := func() time.Time { return k.now() }
	k.workloads = ttl.NewCache[string, cachedKeychain](MaxWorkloadKeychains, opts.TTL, now)
	k.validator = ttl.NewCache[string, cachedKeychain](maxValidatorKeychains, opts.TTL, now)
	return k
}

// Workload returns the credentials for the images of a workload in
// namespace: its pod spec's imagePullSecrets, then those of its service
// account (serviceAccount; "default" when empty; with
// KeychainsOptions.ServiceAccounts). signet's own credentials (Ambient: the
// Docker config and the cloud keychains) are the registry client's, asked
// after these. A Secret or service account that does not exist is skipped,
// as the kubelet skips it; any other error (forbidden, API unreachable) is
// returned.
func (k *Keychains) Workload(ctx context.Context, namespace, serviceAccount string, pullSecrets []string) (*registry.Keychain, error) {
	if serviceAccount == "" {
		serviceAccount = "default"
	}
	names := slices.Clone(pullSecrets)
	slices.Sort(names)
	names = slices.Compact(names)
	// The key is a hash: a Pod chooses its service account and pull
	// secret names (up to workload.MaxReferences of them), unvalidated
	// while it is admitted, and the entry is kept until evicted.
	sum := sha256.Sum256([]byte(namespace + "\x00" + serviceAccount + "\x00" + strings.Join(names, "\x00")))
	key := string(sum[:])
	c, fresh, ok := k.workloads.Peek(key)
	if fresh {
		return c.kc, nil
	}

	if k.accounts {
		sa := new(corev1.ServiceAccount)
		err := get(ctx, k.secrets.client, serviceAccountsResource, namespace, serviceAccount, sa)
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			return nil, fmt.Errorf("reading service account %s/%s for its imagePullSecrets: %w", namespace, serviceAccount, err)
		default:
			for _, ref := range sa.ImagePullSecrets {
				if !slices.Contains(names, ref.Name) {
					names = append(names, ref.Name)
				}
			}
		}
	}
	var secrets []corev1.Secret
	version := ""
	for _, n := range names {
		s, err := k.secrets.Get(ctx, namespace, n)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading image pull secret: %w", err)
		}
		secrets = append(secrets, *s)
		version += "/" + s.Name + "@" + s.ResourceVersion
	}
	if ok && c.version == version {
		// The same Secrets, unchanged: keep the keychain, so its
		// connections and tokens stay in use.
		k.workloads.Add(key, c)
		return c.kc, nil
	}
	ps, err := newPullSecretKeychain(secrets)
	if err != nil {
		return nil, fmt.Errorf("reading image pull secrets: %w", err)
	}
	rk := registry.NewKeychain(ps)
	k.workloads.Add(key, cachedKeychain{kc: rk, version: version})
	return rk, nil
}

// Secret returns the credentials of the Secret name in signet's namespace,
// for a validator's auth.secretName. Unlike a workload's pull secrets, a
// Secret that does not exist is an error: a validator told to use
// credentials never falls back to an anonymous pull.
func (k *Keychains) Secret(ctx context.Context, name string) (*registry.Keychain, error) {
	if k.namespace == "" {
		return nil, errors.New("signet's namespace is unknown (set --namespace or POD_NAMESPACE)")
	}
	s, err := k.secrets.Get(ctx, k.namespace, name)
	if err != nil {
		return nil, err
	}
	c, _, ok := k.validator.Peek(name)
	if ok && c.version == s.ResourceVersion && s.ResourceVersion != "" {
		return c.kc, nil
	}
	kc, err := SecretKeychain(s)
	if err != nil {
		return nil, err
	}
	rk := registry.NewKeychain(kc)
	k.validator.Add(name, cachedKeychain{kc: rk, version: s.ResourceVersion})
	return rk, nil
}

// SecretKeychain is the keychain of one validator Secret: a
// kubernetes.io/dockerconfigjson (or dockercfg) Secret gives the
// credentials of the registries it names; a Secret with username and
// password keys gives them for every registry the validator reads.
func SecretKeychain(s *corev1.Secret) (authn.Keychain, error) {
	id := s.Namespace + "/" + s.Name
	switch {
	case s.Type == corev1.SecretTypeDockerConfigJson && len(s.Data[corev1.DockerConfigJsonKey]) > 0,
		s.Type == corev1.SecretTypeDockercfg && len(s.Data[corev1.DockerConfigKey]) > 0:
		return newPullSecretKeychain([]corev1.Secret{*s})
	case len(s.Data["username"]) > 0 && len(s.Data["password"]) > 0:
		return basicKeychain{authn.FromConfig(authn.AuthConfig{Username: string(s.Data["username"]), Password: string(s.Data["password"])})}, nil
	}
	return nil, fmt.Errorf("Secret %s has no registry credentials: it must be of type %s (key %s) or have username and password keys", id, corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey)
}

// basicKeychain gives the same credentials for every registry.
type basicKeychain struct{ auth authn.Authenticator }

func (b basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return b.auth, nil }
