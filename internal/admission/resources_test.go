package admission_test

import (
	"context"
	"encoding/json"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// resourceKinds declares two kinds beyond the built-in ones for the golden
// reviews: Argo Rollouts' Rollout (a PodTemplateSpec at spec.template) and
// a Tekton-like Task (images at spec.steps[].image, found by an
// expression).
const resourceKinds = `resources:
- group: argoproj.io
  version: v1alpha1
  kind: Rollout
  images:
  - podTemplate: /spec/template
- group: tekton.dev
  version: v1
  kind: Task
  images:
  - expression: 'object.spec.steps.transformList(i, s, has(s.image), "/spec/steps/" + string(i) + "/image")'
`

// rolloutReview is an AdmissionReview request of a Rollout running image;
// for an UPDATE, old is the image before.
func rolloutReview(op admissionv1.Operation, version, image, old string) *admissionv1.AdmissionRequest {
	obj := func(img string) runtime.RawExtension {
		return runtime.RawExtension{Raw: []byte(`{"apiVersion":"argoproj.io/` + version + `","kind":"Rollout","metadata":{"name":"web","namespace":"team-a"},` +
			`"spec":{"template":{"spec":{"containers":[{"name":"app","image":"` + img + `"}]}}}}`)}
	}
	req := &admissionv1.AdmissionRequest{UID: "uid", Kind: metav1.GroupVersionKind{Group: "argoproj.io", Version: version, Kind: "Rollout"},
		Namespace: "team-a", Name: "web", Operation: op, Object: obj(image)}
	if old != "" {
		req.OldObject = obj(old)
	}
	return req
}

// TestResourcePinningAndModes: a declared kind is pinned under pinning all
// and left as written under podsOnly and none; an UPDATE leaves an image
// it does not change as written; warn and audit modes admit an unverified
// image; another version of the kind is not read.
func TestResourcePinningAndModes(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	signed := reg.PushImage(t, "demo/app:signed")
	testutil.SignLegacy(t, signed, key)
	reg.PushImage(t, "demo/app:unsigned")
	tag, unsigned := reg.Host+"/demo/app:signed", reg.Host+"/demo/app:unsigned"
	pinned := reg.Host + "/demo/app@" + signed.DigestStr()
	compile := func(top string) *admission.Reviewer {
		t.Helper()
		doc, err := policy.Parse([]byte(top + testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/demo/**", validator: signed}
`+resourceKinds)))
		if err != nil {
			t.Fatal(err)
		}
		eng, err := policy.Compile(doc, registry.MustNew())
		if err != nil {
			t.Fatal(err)
		}
		return admission.NewReviewer(func() *policy.Engine { return eng }, nil, admission.Options{}, nil, nil)
	}
	for _, tc := range []struct {
		name, top string
		req       *admissionv1.AdmissionRequest
		allowed   bool
		patch     string // "" for none
		warning   bool
	}{
		{"pinning all", "", rolloutReview(admissionv1.Create, "v1alpha1", tag, ""), true, pinned, false},
		{"pinning podsOnly", "pinning: podsOnly\n", rolloutReview(admissionv1.Create, "v1alpha1", tag, ""), true, "", false},
		{"pinning none", "pinning: none\n", rolloutReview(admissionv1.Create, "v1alpha1", tag, ""), true, "", false},
		{"update leaving the image", "", rolloutReview(admissionv1.Update, "v1alpha1", tag, tag), true, "", false},
		{"update changing the image", "", rolloutReview(admissionv1.Update, "v1alpha1", tag, unsigned), true, pinned, false},
		{"update to an unsigned image", "", rolloutReview(admissionv1.Update, "v1alpha1", unsigned, tag), false, "", false},
		{"enforce", "", rolloutReview(admissionv1.Create, "v1alpha1", unsigned, ""), false, "", false},
		{"warn", "mode: warn\n", rolloutReview(admissionv1.Create, "v1alpha1", unsigned, ""), true, "", true},
		{"audit", "mode: audit\n", rolloutReview(admissionv1.Create, "v1alpha1", unsigned, ""), true, "", false},
		{"undeclared version", "", rolloutReview(admissionv1.Create, "v1", unsigned, ""), true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := compile(tc.top).Review(context.Background(), tc.req, true)
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed %v, want %v: %+v", resp.Allowed, tc.allowed, resp.Result)
			}
			var patch []struct{ Path, Value string }
			if len(resp.Patch) > 0 {
				if err := json.Unmarshal(resp.Patch, &patch); err != nil {
					t.Fatal(err)
				}
			}
			switch {
			case tc.patch == "" && len(patch) > 0:
				t.Errorf("patched %+v", patch)
			case tc.patch != "" && (len(patch) != 1 || patch[0].Path != "/spec/template/spec/containers/0/image" || patch[0].Value != tc.patch):
				t.Errorf("patch %+v, want the image pinned to %s", patch, tc.patch)
			}
			if (len(resp.Warnings) > 0) != tc.warning {
				t.Errorf("warnings %v", resp.Warnings)
			}
		})
	}
}
