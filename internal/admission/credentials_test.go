package admission_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// namespaceKeychains gives each namespace its own credentials, built once
// and reused, as kube.Keychains does: namespaces it does not list pull
// anonymously.
type namespaceKeychains struct {
	mu  sync.Mutex
	kcs map[string]*registry.Keychain
	by  map[string]authn.Keychain
}

func (n *namespaceKeychains) Workload(_ context.Context, ns, _ string, _ []string) (*registry.Keychain, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if kc := n.kcs[ns]; kc != nil {
		return kc, nil
	}
	kc := n.by[ns]
	if kc == nil {
		kc = authn.NewMultiKeychain()
	}
	if n.kcs == nil {
		n.kcs = map[string]*registry.Keychain{}
	}
	n.kcs[ns] = registry.NewKeychain(kc)
	return n.kcs[ns], nil
}

// TestHiddenImageNotDeniedAcrossNamespaces: a registry that answers 404 to
// anonymous reads of a private image. Namespace team-a has no credentials
// and is denied; that denial is never handed to team-b, whose pull secret
// reads the image, whether the two admissions run one after the other or
// at the same time. Once team-b's verification succeeded, team-a's Pods
// are allowed from the cache: a verified result is a fact about the
// signatures, and whether team-a's node can pull is the kubelet's call.
func TestHiddenImageNotDeniedAcrossNamespaces(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	img := reg.PushImage(t, "private/app:v1")
	testutil.SignLegacy(t, img, key)
	reg.HideFromAnonymous("puller", "pw")
	// Over HTTPS: credentials are never sent over plain HTTP.
	tlsImg := reg.TLSHost + "/private/app@" + img.DigestStr()
	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, `
- {pattern: "`+reg.TLSHost+`/private/**", validator: signed}
`)))
	if err != nil {
		t.Fatal(err)
	}
	reviewer := func(t *testing.T) *admission.Reviewer {
		c, err := cache.New(cache.Config{})
		if err != nil {
			t.Fatal(err)
		}
		client, err := registry.New(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithCABundle(reg.CA))
		if err != nil {
			t.Fatal(err)
		}
		eng, err := policy.Compile(doc, client, policy.WithCache(c))
		if err != nil {
			t.Fatal(err)
		}
		kcs := &namespaceKeychains{by: map[string]authn.Keychain{"team-b": basicKeychain{"puller", "pw"}}}
		return admission.NewReviewer(func() *policy.Engine { return eng }, nil, admission.Options{Keychains: kcs}, nil, nil)
	}
	review := func(rv *admission.Reviewer, ns, image string) *admissionv1.AdmissionResponse {
		pod, _ := json.Marshal(map[string]any{"spec": map[string]any{
			"containers": []map[string]string{{"name": "app", "image": image}},
		}})
		return rv.Review(context.Background(), &admissionv1.AdmissionRequest{
			UID: "1", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: ns,
			Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: pod},
		}, true)
	}
	check := func(t *testing.T, step string, resp *admissionv1.AdmissionResponse, allowed bool) {
		t.Helper()
		if resp.Allowed != allowed {
			t.Errorf("%s: allowed = %v (%v), want %v", step, resp.Allowed, resp.Result, allowed)
		}
		if allowed && resp.Patch != nil && !strings.Contains(string(resp.Patch), img.DigestStr()) {
			t.Errorf("%s: patch %s does not pin %s", step, resp.Patch, img.DigestStr())
		}
	}
	for _, image := range []string{reg.TLSHost + "/private/app:v1", tlsImg} {
		t.Run("sequential "+strings.TrimPrefix(image, reg.TLSHost), func(t *testing.T) {
			rv := reviewer(t)
			check(t, "team-a first", review(rv, "team-a", image), false)
			check(t, "team-a again", review(rv, "team-a", image), false)
			check(t, "team-b after team-a's denial", review(rv, "team-b", image), true)
			check(t, "team-a after team-b's verification", review(rv, "team-a", image), true)
		})
		t.Run("concurrent "+strings.TrimPrefix(image, reg.TLSHost), func(t *testing.T) {
			rv := reviewer(t)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var wrong []string
			for i := range 40 {
				ns := "team-a"
				if i%2 == 1 {
					ns = "team-b"
				}
				wg.Go(func() {
					resp := review(rv, ns, image)
					// team-a may be allowed once team-b's result is
					// cached; team-b must always be.
					if ns == "team-b" && !resp.Allowed {
						mu.Lock()
						wrong = append(wrong, fmt.Sprintf("%s denied: %v", ns, resp.Result))
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(wrong) > 0 {
				t.Errorf("%d of 20 team-b admissions denied, e.g. %s", len(wrong), wrong[0])
			}
		})
	}
}
