package admission_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/workload"
)

// owners answers owner lookups from objects held by name, as the API
// server would after kube.Owners has checked the UID.
type owners map[string]*workload.Object

func (o owners) Get(_ context.Context, _ string, ref workload.OwnerReference) (*workload.Object, error) {
	if obj, ok := o[ref.Name]; ok {
		return obj, nil
	}
	return nil, errors.New("not found")
}

// container is one container of a test pod spec.
type container struct{ name, image string }

// podSpec renders a pod spec with containers, initContainers and
// ephemeralContainers.
func podSpec(cs, inits, ephemeral []container) map[string]any {
	list := func(cs []container) []map[string]string {
		out := make([]map[string]string, len(cs))
		for i, c := range cs {
			out[i] = map[string]string{"name": c.name, "image": c.image}
		}
		return out
	}
	spec := map[string]any{"containers": list(cs)}
	if inits != nil {
		spec["initContainers"] = list(inits)
	}
	if ephemeral != nil {
		spec["ephemeralContainers"] = list(ephemeral)
	}
	return spec
}

// withVolumes adds image volumes (name, reference) to a pod spec, after a
// volume of another kind so that indexes count every volume.
func withVolumes(spec map[string]any, vs ...container) map[string]any {
	vols := []map[string]any{{"name": "cfg", "configMap": map[string]string{"name": "cfg"}}}
	for _, v := range vs {
		vols = append(vols, map[string]any{"name": v.name, "image": map[string]string{"reference": v.image}})
	}
	spec["volumes"] = vols
	return spec
}

// deleting marks an encoded object as being deleted, with a finalizer
// holding it.
func deleting(obj []byte) []byte {
	var m map[string]any
	if err := json.Unmarshal(obj, &m); err != nil {
		panic(err)
	}
	meta := m["metadata"].(map[string]any)
	meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
	meta["finalizers"] = []string{"example.com/hold"}
	b, _ := json.Marshal(m)
	return b
}

func pod(spec map[string]any, owner string, controller bool) []byte {
	meta := map[string]any{"name": "web", "namespace": "team-a"}
	if owner != "" {
		meta["ownerReferences"] = []any{map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": "uid-" + owner, "controller": controller}}
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
	return b
}

func replicaSet(t *testing.T, cs []container, volumes ...container) *workload.Object {
	t.Helper()
	spec := podSpec(cs, nil, nil)
	if volumes != nil {
		spec = withVolumes(spec, volumes...)
	}
	b, _ := json.Marshal(map[string]any{"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": map[string]any{"name": "rs", "namespace": "team-a"},
		"spec": map[string]any{"template": map[string]any{"spec": spec}}})
	obj, err := workload.Decode("ReplicaSet", b)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

// TestBypassAttempts: requests shaped to slip an unverified image past the
// webhook — through the ephemeralcontainers subresource, init containers,
// an UPDATE, or a controlling owner whose images differ from the pod's —
// are each decided exactly as the policy says, with both shortcuts
// (child approval, unchanged images) turned on.
func TestBypassAttempts(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	signed := reg.PushImage(t, "demo/app:signed")
	testutil.SignLegacy(t, signed, key)
	unsigned := reg.PushImage(t, "demo/app:unsigned")
	h := reg.Host
	signedTag, unsignedTag := h+"/demo/app:signed", h+"/demo/app:unsigned"
	signedPin, unsignedPin := signed.String(), unsigned.String()

	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, `- {pattern: "`+h+`/demo/**", validator: signed}`)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	parents := owners{
		"rs-signed":   replicaSet(t, []container{{"app", signedPin}}),
		"rs-unsigned": replicaSet(t, []container{{"app", unsignedPin}}), // admitted before the policy changed, say
		"rs-tag":      replicaSet(t, []container{{"app", unsignedTag}}),
		"rs-volume":   replicaSet(t, []container{{"app", signedPin}}, container{"data", signedPin}),
	}
	deletingOwner := replicaSet(t, []container{{"app", unsignedPin}})
	deletingOwner.Metadata.DeletionTimestamp = new(string)
	parents["rs-deleting"] = deletingOwner
	rv := admission.NewReviewer(func() *policy.Engine { return eng }, parents, admission.Options{ChildApproval: true, UnchangedApproval: true}, nil, nil)

	app := func(img string) []container { return []container{{"app", img}} }
	tests := []struct {
		name        string
		op          admissionv1.Operation
		subresource string
		object, old []byte
		allowed     bool
		has         string
	}{
		{name: "unsigned ephemeral container through the subresource", op: admissionv1.Update, subresource: "ephemeralcontainers",
			object: pod(podSpec(app(signedPin), nil, app(unsignedTag)), "", false), old: pod(podSpec(app(signedPin), nil, nil), "", false),
			has: "ephemeralContainers[app]"},
		{name: "signed ephemeral container through the subresource", op: admissionv1.Update, subresource: "ephemeralcontainers",
			object: pod(podSpec(app(signedPin), nil, app(signedTag)), "", false), old: pod(podSpec(app(signedPin), nil, nil), "", false),
			allowed: true},
		{name: "unsigned init container beside a signed one", op: admissionv1.Create,
			object: pod(podSpec(app(signedTag), app(unsignedTag), nil), "", false), has: "initContainers[app]"},
		{name: "UPDATE that swaps in an unsigned image", op: admissionv1.Update,
			object: pod(podSpec(app(unsignedTag), nil, nil), "", false), old: pod(podSpec(app(signedTag), nil, nil), "", false),
			has: "no cosign signatures found"},
		{name: "UPDATE that moves an image to another container", op: admissionv1.Update,
			object: pod(podSpec([]container{{"app", signedTag}, {"side", unsignedTag}}, nil, nil), "", false),
			old:    pod(podSpec([]container{{"app", unsignedTag}, {"side", signedTag}}, nil, nil), "", false),
			has:    "containers[side]"},
		{name: "child with its verified parent's pinned images", op: admissionv1.Create,
			object: pod(podSpec(app(signedPin), nil, nil), "rs-signed", true), allowed: true},
		{name: "child with its parent's pinned unsigned image: the parent's admission vouches for nothing", op: admissionv1.Create,
			object: pod(podSpec(app(unsignedPin), nil, nil), "rs-unsigned", true), has: "no cosign signatures found"},
		{name: "child whose image differs from its verified parent", op: admissionv1.Create,
			object: pod(podSpec(app(unsignedPin), nil, nil), "rs-signed", true), has: "no cosign signatures found"},
		{name: "child with a container its parent lacks", op: admissionv1.Create,
			object: pod(podSpec([]container{{"app", signedPin}, {"side", unsignedPin}}, nil, nil), "rs-signed", true), has: "containers[side]"},
		{name: "child with its parent's image in an init container", op: admissionv1.Create,
			object: pod(podSpec(app(signedPin), app(unsignedPin), nil), "rs-signed", true), has: "initContainers[app]"},
		{name: "child naming its parent without controller: true", op: admissionv1.Create,
			object: pod(podSpec(app(unsignedPin), nil, nil), "rs-unsigned", false), has: "no cosign signatures found"},
		{name: "child of a parent with tags, not digests", op: admissionv1.Create,
			object: pod(podSpec(app(unsignedTag), nil, nil), "rs-tag", true), has: "no cosign signatures found"},
		{name: "child of a parent the API does not return", op: admissionv1.Create,
			object: pod(podSpec(app(unsignedPin), nil, nil), "rs-gone", true), has: "no cosign signatures found"},
		{name: "child of a parent being deleted, with its pinned images", op: admissionv1.Create,
			object: pod(podSpec(app(unsignedPin), nil, nil), "rs-deleting", true), has: "no cosign signatures found"},

		// Image volumes: the node pulls them like container images.
		{name: "unsigned image volume beside a signed container", op: admissionv1.Create,
			object: pod(withVolumes(podSpec(app(signedTag), nil, nil), container{"data", unsignedTag}), "", false), has: "volumes[data] " + unsignedTag},
		{name: "signed image volume", op: admissionv1.Create,
			object: pod(withVolumes(podSpec(app(signedTag), nil, nil), container{"data", signedTag}), "", false), allowed: true},
		{name: "image volume without a reference", op: admissionv1.Create,
			object: pod(withVolumes(podSpec(app(signedTag), nil, nil), container{"data", ""}), "", false), has: "volumes[data]"},
		{name: "UPDATE that swaps in an unsigned image volume", op: admissionv1.Update,
			object: pod(withVolumes(podSpec(app(signedPin), nil, nil), container{"data", unsignedTag}), "", false),
			old:    pod(withVolumes(podSpec(app(signedPin), nil, nil), container{"data", signedPin}), "", false), has: "volumes[data]"},
		{name: "UPDATE that moves an unsigned image from a volume to a container of the same name", op: admissionv1.Update,
			object: pod(withVolumes(podSpec([]container{{"data", unsignedTag}}, nil, nil), container{"data", signedTag}), "", false),
			old:    pod(withVolumes(podSpec([]container{{"data", signedTag}}, nil, nil), container{"data", unsignedTag}), "", false), has: "containers[data]"},
		{name: "child whose image volume differs from its verified parent's", op: admissionv1.Create,
			object: pod(withVolumes(podSpec(app(signedPin), nil, nil), container{"data", unsignedPin}), "rs-volume", true), has: "volumes[data]"},
		{name: "child with its verified parent's pinned images and image volume", op: admissionv1.Create,
			object: pod(withVolumes(podSpec(app(signedPin), nil, nil), container{"data", signedPin}), "rs-volume", true), allowed: true},
		{name: "child with an image volume its parent lacks", op: admissionv1.Create,
			object: pod(withVolumes(podSpec(app(signedPin), nil, nil), container{"data", unsignedPin}), "rs-signed", true), has: "volumes[data]"},

		// Objects being deleted: finalizers may finish, images may not
		// change unchecked.
		{name: "UPDATE of a pod being deleted that removes nothing but keeps its unsigned image", op: admissionv1.Update,
			object: deleting(pod(podSpec(app(unsignedTag), nil, nil), "", false)), old: deleting(pod(podSpec(app(unsignedTag), nil, nil), "", false)), allowed: true},
		{name: "UPDATE of a pod being deleted that swaps in an unsigned image", op: admissionv1.Update,
			object: deleting(pod(podSpec(app(unsignedTag), nil, nil), "", false)), old: deleting(pod(podSpec(app(signedTag), nil, nil), "", false)),
			has: "containers[app]"},
		{name: "UPDATE of a pod being deleted that swaps in an unsigned init container", op: admissionv1.Update,
			object: deleting(pod(podSpec(app(signedTag), app(unsignedTag), nil), "", false)), old: deleting(pod(podSpec(app(signedTag), app(signedTag), nil), "", false)),
			has: "initContainers[app]"},
		{name: "UPDATE of a pod being deleted that adds an unsigned ephemeral container", op: admissionv1.Update, subresource: "ephemeralcontainers",
			object: deleting(pod(podSpec(app(signedTag), nil, app(unsignedTag)), "", false)), old: deleting(pod(podSpec(app(signedTag), nil, nil), "", false)),
			has: "ephemeralContainers[app]"},
		{name: "UPDATE of a pod being deleted that swaps in an unsigned image volume", op: admissionv1.Update,
			object: deleting(pod(withVolumes(podSpec(app(signedTag), nil, nil), container{"data", unsignedTag}), "", false)),
			old:    deleting(pod(withVolumes(podSpec(app(signedTag), nil, nil), container{"data", signedTag}), "", false)), has: "volumes[data]"},
		{name: "UPDATE that starts the deletion and swaps in an unsigned image at once", op: admissionv1.Update,
			object: deleting(pod(podSpec(app(unsignedTag), nil, nil), "", false)), old: pod(podSpec(app(signedTag), nil, nil), "", false),
			has: "containers[app]"},
		{name: "UPDATE of a pod being deleted without its old object", op: admissionv1.Update,
			object: deleting(pod(podSpec(app(unsignedTag), nil, nil), "", false)), has: "containers[app]"},
		{name: "UPDATE of a pod being deleted whose old object names a container twice", op: admissionv1.Update,
			object: deleting(pod(podSpec([]container{{"app", unsignedTag}, {"app", unsignedTag}}, nil, nil), "", false)),
			old:    deleting(pod(podSpec([]container{{"app", signedTag}, {"app", unsignedTag}}, nil, nil), "", false)), has: "containers[app]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &admissionv1.AdmissionRequest{
				UID: "uid", Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, Namespace: "team-a", Name: "web",
				Operation: tc.op, SubResource: tc.subresource, Object: runtime.RawExtension{Raw: tc.object},
			}
			if tc.old != nil {
				req.OldObject = runtime.RawExtension{Raw: tc.old}
			}
			resp := rv.Review(context.Background(), req, true)
			msg := ""
			if resp.Result != nil {
				msg = resp.Result.Message
			}
			if resp.Allowed != tc.allowed {
				t.Fatalf("allowed = %v, want %v: %s", resp.Allowed, tc.allowed, msg)
			}
			if !tc.allowed && !strings.Contains(msg, tc.has) {
				t.Errorf("denial does not say %q: %s", tc.has, msg)
			}
		})
	}
}
