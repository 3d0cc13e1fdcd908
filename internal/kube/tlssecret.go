package kube

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/signet-dev/signet/internal/certs"
)

// The webhook configurations whose caBundle a TLSStore publishes.
var (
	mutatingWebhooksResource   = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"}
	validatingWebhooksResource = schema.GroupVersionResource{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"}
)

// TLSStore is certs.Store over the API: signet's own TLS Secret (type
// kubernetes.io/tls, read directly, never from the Secrets cache) and the
// caBundle of its webhook configurations. Every write is conditional:
// the Secret is created only if absent and updated only at the
// resourceVersion read, a webhook configuration likewise, so replicas
// writing at once never overwrite each other unseen.
type TLSStore struct {
	client          dynamic.Interface
	namespace, name string
	// Mutating and Validating name the webhook configurations ("" for
	// none).
	Mutating, Validating string
}

var _ certs.Store = (*TLSStore)(nil)

// NewTLSStore returns the store of Secret namespace/name for a REST config.
func NewTLSStore(cfg *rest.Config, namespace, name string) (*TLSStore, error) {
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &TLSStore{client: c, namespace: namespace, name: name}, nil
}

func (s *TLSStore) secrets() dynamic.ResourceInterface {
	return s.client.Resource(secretsResource).Namespace(s.namespace)
}

// Load implements certs.Store.
func (s *TLSStore) Load(ctx context.Context) (map[string][]byte, string, error) {
	var sec corev1.Secret
	err := get(ctx, s.client, secretsResource, s.namespace, s.name, &sec)
	if apierrors.IsNotFound(err) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("secret %s/%s: %w", s.namespace, s.name, err)
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	return sec.Data, sec.ResourceVersion, nil
}

// Save implements certs.Store.
func (s *TLSStore) Save(ctx context.Context, data map[string][]byte, version string) error {
	sec := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: s.namespace, ResourceVersion: version, Labels: map[string]string{"app.kubernetes.io/managed-by": "signet"}},
		Type:       corev1.SecretTypeTLS,
		Data:       data,
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(sec)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: obj}
	if version == "" {
		_, err = s.secrets().Create(ctx, u, metav1.CreateOptions{})
	} else {
		_, err = s.secrets().Update(ctx, u, metav1.UpdateOptions{})
	}
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		return fmt.Errorf("secret %s/%s: %w", s.namespace, s.name, certs.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("secret %s/%s: %w", s.namespace, s.name, err)
	}
	return nil
}

// eachConfig calls f with the client and name of each webhook
// configuration the store publishes to, the error naming it.
func (s *TLSStore) eachConfig(f func(client dynamic.NamespaceableResourceInterface, name string) error) error {
	for _, c := range []struct {
		res  schema.GroupVersionResource
		name string
	}{{mutatingWebhooksResource, s.Mutating}, {validatingWebhooksResource, s.Validating}} {
		if c.name == "" {
			continue
		}
		if err := f(s.client.Resource(c.res), c.name); err != nil {
			return fmt.Errorf("%s %s: %w", c.res.Resource, c.name, err)
		}
	}
	return nil
}

// Publish implements certs.Store: every webhook of both configurations
// gets caBundle, unless what it holds already covers it (certs.Covers: a
// superset, nothing expired); a configuration whose webhooks all do is not
// written.
func (s *TLSStore) Publish(ctx context.Context, caBundle []byte) error {
	return s.eachConfig(func(client dynamic.NamespaceableResourceInterface, name string) error {
		return publishCABundle(ctx, client, name, caBundle)
	})
}

// Published implements certs.Store: the caBundle of every webhook of both
// configurations, each distinct bundle once, decoded (a value that is not
// base64 is skipped: the API server would not have stored it). A missing
// configuration is an error, as for Publish.
func (s *TLSStore) Published(ctx context.Context) ([]byte, error) {
	var out []byte
	seen := map[string]bool{}
	err := s.eachConfig(func(client dynamic.NamespaceableResourceInterface, name string) error {
		u, err := client.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		hooks, _, _ := unstructured.NestedSlice(u.Object, "webhooks")
		for _, h := range hooks {
			m, _ := h.(map[string]any)
			b64, _, _ := unstructured.NestedString(m, "clientConfig", "caBundle")
			if b64 == "" || seen[b64] {
				continue
			}
			seen[b64] = true
			if b, err := base64.StdEncoding.DecodeString(b64); err == nil {
				out = append(append(out, b...), '\n')
			}
		}
		return nil
	})
	return out, err
}

func publishCABundle(ctx context.Context, client dynamic.NamespaceableResourceInterface, name string, caBundle []byte) error {
	u, err := client.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	want := base64.StdEncoding.EncodeToString(caBundle)
	hooks, _, err := unstructured.NestedSlice(u.Object, "webhooks")
	if err != nil {
		return err
	}
	// A JSON patch that first tests the resourceVersion read: a
	// concurrent change fails it, and the next sync tries again.
	ops := []map[string]any{{"op": "test", "path": "/metadata/resourceVersion", "value": u.GetResourceVersion()}}
	for i, h := range hooks {
		m, ok := h.(map[string]any)
		if !ok {
			return fmt.Errorf("webhooks[%d] is not an object", i)
		}
		got, _, _ := unstructured.NestedString(m, "clientConfig", "caBundle")
		if got == want {
			continue
		}
		if cur, err := base64.StdEncoding.DecodeString(got); err == nil && certs.Covers(cur, caBundle, time.Now()) {
			continue
		}
		ops = append(ops, map[string]any{"op": "add", "path": fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), "value": want})
	}
	if len(ops) == 1 {
		return nil
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return err
	}
	_, err = client.Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{})
	return err
}
