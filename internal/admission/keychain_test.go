package admission_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// keychains hands out kc (or err) and records what it was asked for.
type keychains struct {
	kc  *registry.Keychain
	err error

	mu    sync.Mutex
	asked []string
}

func (k *keychains) Workload(_ context.Context, ns, sa string, secrets []string) (*registry.Keychain, error) {
	k.mu.Lock()
	k.asked = append(k.asked, ns+"/"+sa+"/"+strings.Join(secrets, ","))
	k.mu.Unlock()
	return k.kc, k.err
}

type basicKeychain struct{ user, pass string }

func (b basicKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: b.user, Password: b.pass}), nil
}

// TestWorkloadKeychain: each request is verified with its workload's
// credentials; credentials that cannot be read deny the images that need a
// registry as inconclusive and leave static decisions alone.
func TestWorkloadKeychain(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	img := reg.PushImage(t, "private/app:v1")
	testutil.SignLegacy(t, img, key)
	reg.RequireBasicAuth("puller", "pw")
	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, `
- {pattern: "`+reg.TLSHost+`/private/**", validator: signed}
- {pattern: "public.example/**", validator: allow}
`)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithCABundle(reg.CA)))
	if err != nil {
		t.Fatal(err)
	}
	podJSON, _ := json.Marshal(map[string]any{"spec": map[string]any{
		"serviceAccountName": "builder",
		"imagePullSecrets":   []map[string]string{{"name": "regcred"}},
		"containers":         []map[string]string{{"name": "app", "image": reg.TLSHost + "/private/app:v1"}, {"name": "side", "image": "public.example/side:1"}},
	}})
	req := &admissionv1.AdmissionRequest{
		UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "team",
		Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: podJSON},
	}
	tests := []struct {
		name    string
		kcs     *keychains
		allowed bool
		has     string
	}{
		{"workload credentials", &keychains{kc: registry.NewKeychain(basicKeychain{"puller", "pw"})}, true, ""},
		{"wrong credentials", &keychains{kc: registry.NewKeychain(basicKeychain{"puller", "no"})}, false, "HTTP 401"},
		{"unreadable credentials", &keychains{err: errors.New(`secrets "regcred" is forbidden`)}, false,
			`reading registry credentials: secrets "regcred" is forbidden; check that signet may get secrets and serviceaccounts in namespace team`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rv := admission.NewReviewer(func() *policy.Engine { return eng }, nil, admission.Options{Keychains: tc.kcs}, nil, nil)
			resp := rv.Review(context.Background(), req, true)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v (%v), want %v", resp.Allowed, resp.Result, tc.allowed)
			}
			if !tc.allowed {
				msg := resp.Result.Message
				if !strings.Contains(msg, tc.has) || !strings.Contains(msg, "signet denied 1 image(s)") || strings.Contains(msg, "public.example") {
					t.Errorf("message %q, want one denial containing %q", msg, tc.has)
				}
			} else if !strings.Contains(string(resp.Patch), img.DigestStr()) {
				t.Errorf("patch %s does not pin %s", resp.Patch, img.DigestStr())
			}
			if want := []string{"team/builder/regcred"}; !slices.Equal(tc.kcs.asked, want) {
				t.Errorf("keychains asked for %v, want %v", tc.kcs.asked, want)
			}
		})
	}
}
