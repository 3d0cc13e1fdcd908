package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/signet-dev/signet/internal/ttl"
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

// Bounds of the Secret cache. The names read come from Pods (their
// imagePullSecrets, chosen by whoever writes them) and from policies, so
// the cache is bounded by count, and by size: a Secret may hold up to
// 1 MiB. Pull secrets and public keys are a few KiB; a larger Secret is
// read through the API each time it is needed. At most MaxSecrets ×
// MaxCachedSecretBytes (16 MiB) of Secret data is kept.
const (
	// MaxSecrets bounds the Secrets kept (least recently used first out).
	MaxSecrets = 1024
	// MaxCachedSecretBytes is the largest Secret kept: the sum of its data
	// keys' and values' lengths.
	MaxCachedSecretBytes = 16 << 10
)

// Secrets reads Secrets through the API, each at most once per TTL: an
// admission must not cost an API round trip per Secret. Only Secrets that
// were read are cached; errors (not found, forbidden, API down) are not, so
// a Secret created after a failure is seen on the next read.
//
// Secrets is safe for concurrent use. The Secrets it returns carry their
// namespace, name, UID, resourceVersion, type and data only (nothing else
// is kept), are shared and must not be modified. It never logs a Secret's
// content.
type Secrets struct {
	client dynamic.Interface
	now    func() time.Time
	cache  *ttl.Cache[string, *corev1.Secret] // by namespace/name
}

// NewSecrets returns a Secrets reading through client, caching for
// cacheTTL (DefaultSecretTTL when cacheTTL <= 0).
func NewSecrets(client dynamic.Interface, cacheTTL time.Duration) *Secrets {
	if cacheTTL <= 0 {
		cacheTTL = DefaultSecretTTL
	}
	s := &Secrets{client: client, now: time.Now}
	s.cache = ttl.NewCache[string, *corev1.Secret](MaxSecrets, cacheTTL, func() time.Time { return s.now() })
	return s
}

// NewSecretsForConfig returns a Secrets reading with a REST config (see
// Config).
func NewSecretsForConfig(cfg *rest.Config, cacheTTL time.Duration) (*Secrets, error) {
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return NewSecrets(c, cacheTTL), nil
}

// Get returns the Secret namespace/name. Errors wrap the API's, so
// apierrors.IsNotFound and IsForbidden work on them.
func (s *Secrets) Get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	if sec, ok := s.cache.Get(namespace + "/" + name); ok {
		return sec, nil
	}
	return s.read(ctx, namespace, name)
}

// GetFresh reads the Secret namespace/name through the API, whatever is
// cached, and replaces the cached copy, so that Get returns the new data
// too: for a reader that learned, or suspects, that it changed (a rotated
// key). A Secret found gone is dropped from the cache. Errors are Get's.
func (s *Secrets) GetFresh(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	sec, err := s.read(ctx, namespace, name)
	if apierrors.IsNotFound(err) {
		s.cache.Remove(namespace + "/" + name)
	}
	return sec, err
}

// read reads a Secret through the API and caches it when it is small
// enough.
func (s *Secrets) read(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := namespace + "/" + name
	read := new(corev1.Secret)
	if err := get(ctx, s.client, secretsResource, namespace, name, read); err != nil {
		return nil, fmt.Errorf("reading Secret %s: %w", key, err)
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: read.Namespace, Name: read.Name, UID: read.UID, ResourceVersion: read.ResourceVersion},
		Type:       read.Type,
		Data:       read.Data,
	}
	size := 0
	for k, v := range sec.Data {
		size += len(k) + len(v)
	}
	if size <= MaxCachedSecretBytes {
		s.cache.Add(key, sec)
	} else {
		s.cache.Remove(key) // grown past the bound since it was cached
	}
	return sec, nil
}

// SecretData adapts Secrets to readers that need a Secret's data only: the
// k8s://namespace/name trust-root keys of package keysource (a
// keysource.Secrets and keysource.FreshSecrets).
type SecretData struct{ S *Secrets }

// Get returns the data of Secret namespace/name.
func (d SecretData) Get(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := d.S.Get(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}

// GetFresh returns the data of Secret namespace/name read through the API
// (Secrets.GetFresh).
func (d SecretData) GetFresh(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := d.S.GetFresh(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return s.Data, nil
}
