package kube

import (
	"context"
	"encoding/base64"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
)

// fakeAPI is an API server holding objs, answering the dynamic client.
func fakeAPI(t *testing.T, objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return dynamicfake.NewSimpleDynamicClient(scheme, objs...)
}

// unstructuredSecret converts s for the dynamic client.
func unstructuredSecret(t *testing.T, s *corev1.Secret) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(s)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion("v1")
	u.SetKind("Secret")
	return u
}

func dockerConfigSecret(ns, name, host, user, pass string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`)},
	}
}

// user returns the user name kc gives for repo, "" for anonymous.
func user(t *testing.T, kc authn.Keychain, repo string) string {
	t.Helper()
	r, err := name.NewRepository(repo)
	if err != nil {
		t.Fatal(err)
	}
	a, err := kc.Resolve(r)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := a.Authorization()
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Username
}

func TestSecretKeychain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		secret *corev1.Secret
		repo   string
		user   string
		err    string
	}{
		{"dockerconfigjson, its registry", dockerConfigSecret("signet", "s", "reg.example:5000", "alice", "pw"), "reg.example:5000/app", "alice", ""},
		{"dockerconfigjson, another registry", dockerConfigSecret("signet", "s", "reg.example:5000", "alice", "pw"), "other.example/app", "", ""},
		{"username and password, every registry", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "signet", Name: "s"},
			Data: map[string][]byte{"username": []byte("bob"), "password": []byte("pw")}}, "any.example/app", "bob", ""},
		{"no credentials", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "signet", Name: "s"}, Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"token": []byte("hunter2")}}, "", "", "Secret signet/s has no registry credentials"},
		{"broken docker config", &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "signet", Name: "s"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths": hunter2`)}}, "", "", "Secret signet/s: reading its Docker config"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kc, err := SecretKeychain(tc.secret)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error reveals the Secret's content: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := user(t, kc, tc.repo); got != tc.user {
				t.Errorf("user for %s = %q, want %q", tc.repo, got, tc.user)
			}
		})
	}
}

func TestKeychainsWorkload(t *testing.T) {
	t.Parallel()
	cs := fakeAPI(t,
		dockerConfigSecret("team", "pod-secret", "pods.example", "pod-user", "pw"),
		dockerConfigSecret("team", "sa-secret", "sa.example", "sa-user", "pw"),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "builder"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "sa-secret"}, {Name: "gone"}}},
	)
	kcs := NewKeychains(NewSecrets(cs, time.Minute), KeychainsOptions{Namespace: "signet", ServiceAccounts: true})
	ctx := context.Background()

	kc, err := kcs.Workload(ctx, "team", "builder", []string{"pod-secret", "missing"})
	if err != nil {
		t.Fatal(err)
	}
	for repo, want := range map[string]string{"pods.example/app": "pod-user", "sa.example/app": "sa-user"} {
		if got := user(t, kc, repo); got != want {
			t.Errorf("user for %s = %q, want %q", repo, got, want)
		}
	}
	// A service account that does not exist contributes nothing.
	if kc, err := kcs.Workload(ctx, "team", "", []string{"pod-secret"}); err != nil || user(t, kc, "sa.example/app") != "" {
		t.Errorf("default service account: %v", err)
	}

	// Cached: the same workload costs no API request within the TTL.
	before := len(cs.Actions())
	again, err := kcs.Workload(ctx, "team", "builder", []string{"missing", "pod-secret", "pod-secret"})
	if err != nil || again != kc || len(cs.Actions()) != before {
		t.Errorf("second build: same keychain %v, %d API requests, err %v", again == kc, len(cs.Actions())-before, err)
	}

	// After the TTL the Secrets are read again; unchanged, they keep their
	// keychain (and its connections); changed, they get a new one.
	now := time.Now().Add(2 * time.Minute)
	kcs.now, kcs.secrets.now = func() time.Time { return now }, func() time.Time { return now }
	if again, err := kcs.Workload(ctx, "team", "builder", []string{"pod-secret", "missing"}); err != nil || again != kc {
		t.Errorf("unchanged Secrets after the TTL: same keychain %v, err %v", again == kc, err)
	}
	rotated := dockerConfigSecret("team", "pod-secret", "pods.example", "new-user", "pw")
	rotated.ResourceVersion = "2"
	if _, err := cs.Resource(secretsResource).Namespace("team").Update(ctx, unstructuredSecret(t, rotated), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	fresh, err := kcs.Workload(ctx, "team", "builder", []string{"pod-secret", "missing"})
	if err != nil || fresh == kc || user(t, fresh, "pods.example/app") != "new-user" {
		t.Errorf("rotated Secret: new keychain %v, err %v", fresh != kc, err)
	}

	// Forbidden is an error, never an anonymous keychain.
	cs.PrependReactor("get", "serviceaccounts", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "serviceaccounts"}, "other", nil)
	})
	if _, err := kcs.Workload(ctx, "locked", "other", nil); err == nil || !strings.Contains(err.Error(), "service account locked/other") {
		t.Errorf("forbidden service account: err = %v", err)
	}
}

func TestKeychainsSecret(t *testing.T) {
	t.Parallel()
	cs := fakeAPI(t, dockerConfigSecret("signet", "sigs", "sigs.example", "reader", "pw"))
	kcs := NewKeychains(NewSecrets(cs, time.Minute), KeychainsOptions{Namespace: "signet"})
	ctx := context.Background()
	kc, err := kcs.Secret(ctx, "sigs")
	if err != nil || user(t, kc, "sigs.example/app") != "reader" {
		t.Fatalf("Secret(sigs) = %v", err)
	}
	if again, _ := kcs.Secret(ctx, "sigs"); again != kc {
		t.Error("an unchanged Secret got a new keychain: its connections and tokens are not reused")
	}
	if _, err := kcs.Secret(ctx, "absent"); err == nil || !apierrors.IsNotFound(err) || !strings.Contains(err.Error(), "signet/absent") {
		t.Errorf("missing Secret: err = %v", err)
	}
	if _, err := NewKeychains(NewSecrets(cs, 0), KeychainsOptions{}).Secret(ctx, "sigs"); err == nil || !strings.Contains(err.Error(), "namespace is unknown") {
		t.Errorf("no namespace: err = %v", err)
	}
}

func TestSecretsCache(t *testing.T) {
	t.Parallel()
	cs := fakeAPI(t, dockerConfigSecret("ns", "a", "x.example", "u", "p"))
	s := NewSecrets(cs, time.Minute)
	now := time.Unix(1000, 0)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	gets := func() int {
		n := 0
		for _, a := range cs.Actions() {
			if a.GetVerb() == "get" {
				n++
			}
		}
		return n
	}
	for range 3 {
		if _, err := s.Get(ctx, "ns", "a"); err != nil {
			t.Fatal(err)
		}
	}
	if gets() != 1 {
		t.Errorf("3 reads within the TTL made %d API requests, want 1", gets())
	}
	now = now.Add(2 * time.Minute)
	s.Get(ctx, "ns", "a")
	if gets() != 2 {
		t.Errorf("a read after the TTL made %d API requests in all, want 2", gets())
	}
	// Errors are not cached: a Secret created after a miss is seen.
	if _, err := s.Get(ctx, "ns", "b"); !apierrors.IsNotFound(err) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := cs.Resource(secretsResource).Namespace("ns").Create(ctx, unstructuredSecret(t, dockerConfigSecret("ns", "b", "x.example", "u", "p")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "ns", "b"); err != nil {
		t.Errorf("created after a miss: %v", err)
	}
}

// TestKeychainsKeyBounded: a Pod chooses its service account and pull
// secret names; the cache keeps a hash of them, not them.
func TestKeychainsKeyBounded(t *testing.T) {
	t.Parallel()
	kcs := NewKeychains(NewSecrets(fakeAPI(t), time.Minute), KeychainsOptions{Namespace: "signet"})
	long := strings.Repeat("n", 1<<20)
	for i := range 10 {
		if _, err := kcs.Workload(context.Background(), "team", fmt.Sprint(long, i), []string{long, fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := kcs.workloads.Len(); n != 10 {
		t.Fatalf("%d entries, want 10", n)
	}
	for _, k := range kcs.workloads.Keys() {
		if len(k) > 64 {
			t.Errorf("a key of %d bytes", len(k))
		}
	}
}

// TestKeychainsCountBounded: Pods naming ever new pull secrets (dry-run
// ones cost the attacker nothing) keep at most MaxWorkloadKeychains
// keychains, and the heap stops growing with them.
func TestKeychainsCountBounded(t *testing.T) {
	kcs := NewKeychains(NewSecrets(fakeAPI(t), time.Minute), KeychainsOptions{Namespace: "signet"})
	heap := func() uint64 {
		goruntime.GC()
		var m goruntime.MemStats
		goruntime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := kcs.Workload(context.Background(), "team", "default", []string{fmt.Sprint("secret-", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(0, MaxWorkloadKeychains)
	full := heap()
	fill(MaxWorkloadKeychains, 5*MaxWorkloadKeychains)
	if n := kcs.workloads.Len(); n != MaxWorkloadKeychains {
		t.Errorf("%d keychains kept, want %d", n, MaxWorkloadKeychains)
	}
	if after := heap(); after > full+4<<20 {
		t.Errorf("heap grew from %d to %d bytes after the bound was reached", full, after)
	}
}

// TestKeychainsValidatorBounded: validator keychains, one per Secret name
// a policy's auth.secretName gives, are at most maxValidatorKeychains.
func TestKeychainsValidatorBounded(t *testing.T) {
	t.Parallel()
	const n = 2 * maxValidatorKeychains
	objs := make([]runtime.Object, 0, n)
	for i := range n {
		objs = append(objs, dockerConfigSecret("signet", fmt.Sprint("creds-", i), "reg.example", "u", "p"))
	}
	kcs := NewKeychains(NewSecrets(fakeAPI(t, objs...), time.Minute), KeychainsOptions{Namespace: "signet"})
	for i := range n {
		if _, err := kcs.Secret(context.Background(), fmt.Sprint("creds-", i)); err != nil {
			t.Fatal(err)
		}
	}
	if got := kcs.validator.Len(); got != maxValidatorKeychains {
		t.Errorf("%d validator keychains kept, want %d", got, maxValidatorKeychains)
	}
}
