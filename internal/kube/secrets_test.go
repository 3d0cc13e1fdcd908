package kube

import (
	"context"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/signet-dev/signet/internal/keysource"
)

func opaqueSecret(ns, name string, size int) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: "1",
			Annotations: map[string]string{"note": strings.Repeat("a", 4096)}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"k": []byte(strings.Repeat("x", size))},
	}
}

// TestSecretsCacheSize: a Secret larger than MaxCachedSecretBytes is read
// each time; one within it once per TTL, and only its identity, type and
// data are kept.
func TestSecretsCacheSize(t *testing.T) {
	t.Parallel()
	cs := fakeAPI(t, opaqueSecret("ns", "small", 100), opaqueSecret("ns", "large", MaxCachedSecretBytes+1))
	s := NewSecrets(cs, time.Minute)
	ctx := context.Background()
	tests := []struct {
		name string
		gets int // API requests for three reads
	}{
		{"small", 1},
		{"large", 3},
	}
	for _, tc := range tests {
		before := len(cs.Actions())
		for range 3 {
			sec, err := s.Get(ctx, "ns", tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if sec.Name != tc.name || sec.Namespace != "ns" || sec.ResourceVersion != "1" || sec.Type != corev1.SecretTypeOpaque || len(sec.Data["k"]) == 0 {
				t.Errorf("%s: identity, type or data lost: %+v", tc.name, sec.ObjectMeta)
			}
			if len(sec.Annotations) != 0 {
				t.Errorf("%s: annotations kept", tc.name)
			}
		}
		if n := len(cs.Actions()) - before; n != tc.gets {
			t.Errorf("%s: three reads made %d API requests, want %d", tc.name, n, tc.gets)
		}
	}
}

// TestSecretsCacheBounded: reading ever new Secrets (their names come from
// Pods) keeps at most MaxSecrets of them, and the heap stops growing once
// the cache is full.
func TestSecretsCacheBounded(t *testing.T) {
	const n = 3 * MaxSecrets
	objs := make([]runtime.Object, 0, n)
	for i := range n {
		objs = append(objs, opaqueSecret("team", fmt.Sprint("s-", i), MaxCachedSecretBytes-16))
	}
	s := NewSecrets(fakeAPI(t, objs...), time.Minute)
	heap := func() uint64 {
		goruntime.GC()
		var m goruntime.MemStats
		goruntime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	read := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := s.Get(context.Background(), "team", fmt.Sprint("s-", i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	read(0, MaxSecrets)
	full := heap()
	read(MaxSecrets, n)
	if got := s.cache.Len(); got != MaxSecrets {
		t.Errorf("%d Secrets kept, want %d", got, MaxSecrets)
	}
	// Without the bound the cache would have grown by 2 × MaxSecrets ×
	// 16 KiB = 32 MiB.
	if after := heap(); after > full+4<<20 {
		t.Errorf("heap grew from %d to %d bytes after the bound was reached", full, after)
	}
}

// SecretData is a keysource.FreshSecrets.
var _ keysource.FreshSecrets = SecretData{}

// TestSecretsGetFresh: GetFresh reads through the API whatever is cached
// and replaces the cached copy, so that Get returns the new data too; a
// Secret found gone is dropped from the cache.
func TestSecretsGetFresh(t *testing.T) {
	t.Parallel()
	cs := fakeAPI(t, opaqueSecret("ns", "key", 10))
	d := SecretData{S: NewSecrets(cs, time.Hour)}
	ctx := context.Background()
	reads := func() int {
		n := 0
		for _, a := range cs.Actions() {
			if a.GetVerb() == "get" {
				n++
			}
		}
		return n
	}
	rotated := opaqueSecret("ns", "key", 20)
	rotated.ResourceVersion = "2"
	steps := []struct {
		name    string
		do      func() (map[string][]byte, error)
		wantLen int // len(data["k"]); 0: not found
		reads   int // API reads so far
	}{
		{"Get reads and caches", func() (map[string][]byte, error) { return d.Get(ctx, "ns", "key") }, 10, 1},
		{"rotated: Get serves the cache", func() (map[string][]byte, error) {
			if _, err := cs.Resource(secretsResource).Namespace("ns").Update(ctx, unstructuredSecret(t, rotated), metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			return d.Get(ctx, "ns", "key")
		}, 10, 1},
		{"GetFresh reads the rotated data", func() (map[string][]byte, error) { return d.GetFresh(ctx, "ns", "key") }, 20, 2},
		{"Get serves it from the cache", func() (map[string][]byte, error) { return d.Get(ctx, "ns", "key") }, 20, 2},
		{"deleted: GetFresh finds it gone", func() (map[string][]byte, error) {
			if err := cs.Resource(secretsResource).Namespace("ns").Delete(ctx, "key", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			return d.GetFresh(ctx, "ns", "key")
		}, 0, 3},
		{"Get no longer serves it", func() (map[string][]byte, error) { return d.Get(ctx, "ns", "key") }, 0, 4},
	}
	for _, s := range steps {
		data, err := s.do()
		switch {
		case s.wantLen == 0 && !apierrors.IsNotFound(err):
			t.Errorf("%s: %v, want not found", s.name, err)
		case s.wantLen > 0 && (err != nil || len(data["k"]) != s.wantLen):
			t.Errorf("%s: %d bytes, %v; want %d", s.name, len(data["k"]), err, s.wantLen)
		}
		if n := reads(); n != s.reads {
			t.Errorf("%s: %d API reads, want %d", s.name, n, s.reads)
		}
	}
}
