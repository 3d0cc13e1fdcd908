package keysource_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
)

// secrets is a Secret store keyed by "namespace/name"; the e2e suite reads
// real Secrets through a kube-apiserver.
type secrets struct {
	data  map[string]map[string][]byte
	calls atomic.Int32
}

func (s *secrets) Get(_ context.Context, ns, name string) (map[string][]byte, error) {
	s.calls.Add(1)
	d, ok := s.data[ns+"/"+name]
	if !ok {
		return nil, errors.New(`secrets "` + name + `" not found`)
	}
	return d, nil
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{"k8s://", "k8s://ns", "k8s://ns/", "k8s://ns/a/b/c", "awskms://", "file:///etc/key.pub", "https://example.com/key"} {
		if _, err := keysource.New(ref, nil, cosign.ParsePublicKey); err == nil {
			t.Errorf("%q: no error", ref)
		}
	}
	for _, ref := range []string{"k8s://ns/name", "k8s://ns/name/release.pub", "awskms:///alias/x", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "azurekms://vault.vault.azure.net/key", "hashivault://transit-key"} {
		if _, err := keysource.New(ref, nil, cosign.ParsePublicKey); err != nil {
			t.Errorf("%q: %v", ref, err)
		}
	}
}

func TestSecretKey(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	store := &secrets{data: map[string]map[string][]byte{
		"signet/cosign":  {"cosign.pub": []byte(key.PEM), "cosign.key": []byte("never read")},
		"signet/release": {"release.pub": []byte(key.PEM)},
		"signet/broken":  {"cosign.pub": []byte("not a key")},
	}}
	tests := []struct {
		ref     string
		secrets keysource.Secrets
		wantErr string
	}{
		{ref: "k8s://signet/cosign", secrets: store},
		{ref: "k8s://signet/release/release.pub", secrets: store},
		{ref: "k8s://signet/release", secrets: store, wantErr: `has no key "cosign.pub"`},
		{ref: "k8s://signet/missing", secrets: store, wantErr: "reading Secret signet/missing"},
		{ref: "k8s://signet/broken", secrets: store, wantErr: "parsing PEM public key"},
		{ref: "k8s://signet/cosign", wantErr: "--kubeconfig"},
		{ref: "awskms:///alias/signet", wantErr: "no KMS provider for awskms:///alias/signet"},
	}
	for _, tc := range tests {
		t.Run(tc.ref, func(t *testing.T) {
			t.Parallel()
			src, err := keysource.New(tc.ref, tc.secrets, cosign.ParsePublicKey)
			if err != nil {
				t.Fatal(err)
			}
			v, err := src.Verifier(context.Background())
			if tc.wantErr == "" {
				if err != nil || v == nil {
					t.Fatalf("Verifier() = %v, %v", v, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if verify.Classify(err) != verify.Inconclusive {
				t.Errorf("error %v is not inconclusive", err)
			}
			if strings.Contains(err.Error(), "never read") {
				t.Errorf("error leaks Secret data: %v", err)
			}
		})
	}
}

// TestCachedAndShared: a key is read once for many verifications, and a
// verification does not wait past its deadline for a slow read.
func TestCachedAndShared(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	store := &secrets{data: map[string]map[string][]byte{"ns/k": {"cosign.pub": []byte(key.PEM)}}}
	src, err := keysource.New("k8s://ns/k", store, cosign.ParsePublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := src.Verifier(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.calls.Load(); n != 1 {
		t.Errorf("Secret read %d times, want 1", n)
	}

	slow := slowSecrets{release: make(chan struct{})}
	defer close(slow.release)
	src, err = keysource.New("k8s://ns/slow", slow, cosign.ParsePublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.Verifier(ctx); verify.Classify(err) != verify.Inconclusive || !strings.Contains(err.Error(), "not resolved in time") {
		t.Errorf("slow Secret: %v", err)
	}
}

type slowSecrets struct{ release chan struct{} }

func (s slowSecrets) Get(ctx context.Context, _, _ string) (map[string][]byte, error) {
	<-s.release
	return nil, errors.New("released")
}

// TestFingerprintFollowsRotation: a Source's fingerprint names the key it
// serves now: the same while the key is kept, another once a rotated key
// is read (after TTL), and an error while the key cannot be read.
func TestFingerprintFollowsRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := testutil.NewKey(t), testutil.NewKey(t)
	store := &secrets{data: map[string]map[string][]byte{"ns/k": {"cosign.pub": []byte(k1.PEM)}}}
	now := time.Unix(1e9, 0)
	src, err := keysource.New("k8s://ns/k", store, cosign.ParsePublicKey, keysource.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	fp := func() string {
		t.Helper()
		f, err := src.Fingerprint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != 64 || strings.Contains(f, "PUBLIC KEY") {
			t.Fatalf("fingerprint %q is not a SHA-256 in hex", f)
		}
		return f
	}
	first := fp()
	store.data = map[string]map[string][]byte{"ns/k": {"cosign.pub": []byte(k2.PEM)}} // no resolution runs now
	if fp() != first {
		t.Error("fingerprint changed before the key was read again")
	}
	now = now.Add(keysource.TTL)
	if fp() == first {
		t.Error("fingerprint unchanged after the rotated key was read")
	}
	store.data = map[string]map[string][]byte{}
	now = now.Add(keysource.TTL)
	if f, err := src.Fingerprint(context.Background()); err == nil || verify.Classify(err) != verify.Inconclusive {
		t.Errorf("missing key: fingerprint %q, %v; want inconclusive", f, err)
	}
}
