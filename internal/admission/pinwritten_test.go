package admission_test

import (
	"encoding/json"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/admission"
)

// TestPinnedAsWrittenKept: an image that already names the digest signet
// verifies — repo:tag@sha256:…, as signet check --pin writes it, or
// repo@sha256:… — is admitted without a patch, so the object a GitOps tool
// applied is stored as it is in Git; a tag alone is pinned.
func TestPinnedAsWrittenKept(t *testing.T) {
	e := newEnv(t, admission.Options{})
	tag := e.reg.Host + "/demo/app:signed"
	desc, err := remote.Head(e.reg.Ref(t, "demo/app:signed"))
	if err != nil {
		t.Fatal(err)
	}
	digest := desc.Digest.String()
	for _, tc := range []struct {
		image string
		patch string // the patched image; "" for no patch
	}{
		{tag + "@" + digest, ""},
		{e.reg.Host + "/demo/app@" + digest, ""},
		{tag, e.reg.Host + "/demo/app@" + digest},
	} {
		t.Run(tc.image, func(t *testing.T) {
			code, body := post(t, e.reviewer.Handler(true), "application/json", podReview("u1", "Pod", []string{tc.image}))
			var a struct {
				Response struct {
					Allowed bool   `json:"allowed"`
					Patch   []byte `json:"patch"`
				} `json:"response"`
			}
			if err := json.Unmarshal(body, &a); err != nil || code != 200 || !a.Response.Allowed {
				t.Fatalf("HTTP %d, allowed %v: %s", code, a.Response.Allowed, body)
			}
			var ops []struct{ Value string }
			if len(a.Response.Patch) > 0 {
				if err := json.Unmarshal(a.Response.Patch, &ops); err != nil {
					t.Fatal(err)
				}
			}
			switch {
			case tc.patch == "" && len(ops) != 0:
				t.Errorf("patched to %+v, want the image kept as written", ops)
			case tc.patch != "" && (len(ops) != 1 || ops[0].Value != tc.patch):
				t.Errorf("patch %+v, want the image pinned to %s", ops, tc.patch)
			}
		})
	}
}
