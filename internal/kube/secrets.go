package kube

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// The core/v1 resources signet reads, through the dynamic client: the
// typed clientset would link (and register at start-up) every API group.
var (
	secretsResource         = corev1.SchemeGroupVersion.WithResource("secrets")
	serviceAccountsResource = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
)

// get reads the object namespace/name of resource into out, a pointer to
// its typed struct. API errors are returned as they are, so
// apierrors.IsNotFound and IsForbidden work on them.
func get(ctx context.Context, client dynamic.Interface, resource schema.GroupVersionResource, namespace, name string, out any) error {
	u, err := client.Resource(resource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), out); err != nil {
		return fmt.Errorf("decoding %s %s/%s: %w", resource.Resource, namespace, name, err)
	}
	return nil
}

// DefaultSecretTTL is how long Secrets reads a Secret from its cache before
// asking the API again. A rotated credential is picked up within it.
const DefaultSecretTTL = 30 * time.Second

// Secrets reads Secrets through the API, each at most once per TTL: an
// admission must not cost an API round trip per Secret. Only Secrets that
// were read are cached; errors (not found, forbidden, API down) are not, so
// a Secret created after a failure is seen on the next read.
//
// Secrets is safe for concurrent use. The Secrets it returns are shared
// and must not be modified. It never logs a Secret's content.
type Secrets struct {
	client dynamic.Interface
	ttl    time.Duration
	now    func() time.Time

	mu    sync.Mutex
	cache map[string]cachedSecret
}

type cachedSecret struct {
	s       *corev1.Secret
	expires time.Time
}

// NewSecrets returns a Secrets reading through client, caching for ttl
// (DefaultSecretTTL when ttl <= 0).
func NewSecrets(client dynamic.Interface, ttl time.Duration) *Secrets {
	if ttl <= 0 {
		ttl = DefaultSecretTTL
	}
	return &Secrets{client: client, ttl: ttl, now: time.Now, cache: map[string]cachedSecret{}}
}

// NewSecretsForConfig returns a Secrets reading with a REST config (see
// Config).
func NewSecretsForConfig(cfg *rest.Config, ttl time.Duration) (*Secrets, error) {
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return NewSecrets(c, ttl), nil
}

// Get returns the Secret namespace/name. Errors wrap the API's, so
// apierrors.IsNotFound and IsForbidden work on them.
func (s *Secrets) Get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := namespace + "/" + name
	now := s.now()
	s.mu.Lock()
	c, ok := s.cache[key]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.s, nil
	}
	sec := new(corev1.Secret)
	if err := get(ctx, s.client, secretsResource, namespace, name, sec); err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	s.mu.Lock()
	for k, e := range s.cache {
		if !now.Before(e.expires) {
			delete(s.cache, k)
		}
	}
	s.cache[key] = cachedSecret{s: sec, expires: now.Add(s.ttl)}
	s.mu.Unlock()
	return sec, nil
}

// SecretData adapts Secrets to readers that need a Secret's data only: the
// k8s://namespace/name trust-root keys of package keysource.
type SecretData struct{ S *Secrets }

// Get returns the data of Secret namespace/name.
func (d SecretData) Get(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := d.S.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}
