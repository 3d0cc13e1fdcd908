package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// imageVolume is a pod spec volume that mounts an image (ImageVolume).
func imageVolume(name, ref string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: ref, PullPolicy: corev1.PullIfNotPresent}}}
}

// withImageVolume adds a ConfigMap volume and an image volume "data" to a
// pod spec: the image volume is volumes[1].
func withImageVolume(spec *corev1.PodSpec, ref string) {
	spec.Volumes = append(spec.Volumes,
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		imageVolume("data", ref))
	for i := range spec.Containers {
		spec.Containers[i].VolumeMounts = append(spec.Containers[i].VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: "/data", ReadOnly: true})
	}
}

// unsignedDigest is the digest e2e/app:unsigned resolves to.
func (c *cluster) unsignedDigest(t *testing.T) string {
	t.Helper()
	ref, err := name.ParseReference(c.reg + "/e2e/app:unsigned")
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest.String()
}

// testImageVolumes: an image volume (the API server runs with the
// ImageVolume feature gate on) is verified and pinned like a container
// image, in a Pod and in a Deployment and the Pods it makes.
func testImageVolumes(t *testing.T, c *cluster) {
	ctx := context.Background()
	pinned := c.reg + "/e2e/app@" + c.signed.DigestStr()
	pinnedInit := c.reg + "/e2e/init@" + c.signedInit.DigestStr()

	t.Run("pod with an unsigned image volume is denied", func(t *testing.T) {
		ns := c.namespace(t, nil)
		p := pod("web", c.reg+"/e2e/app:v1")
		withImageVolume(&p.Spec, c.reg+"/e2e/app:unsigned")
		_, err := c.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "volumes[data] "+c.reg+"/e2e/app:unsigned") || !strings.Contains(err.Error(), "no cosign signatures found") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("pod with a signed image volume is stored with the volume pinned", func(t *testing.T) {
		ns := c.namespace(t, nil)
		p := pod("web", c.reg+"/e2e/app:v1")
		withImageVolume(&p.Spec, c.reg+"/e2e/init:v1")
		got, err := c.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := got.Spec.Volumes[1].Image; v == nil || v.Reference != pinnedInit {
			t.Errorf("stored image volume %+v, want %s", v, pinnedInit)
		}
	})

	t.Run("deployment with an unsigned image volume is denied", func(t *testing.T) {
		ns := c.namespace(t, nil)
		d := deployment("web", c.reg+"/e2e/app:v1")
		withImageVolume(&d.Spec.Template.Spec, c.reg+"/e2e/app:unsigned")
		_, err := c.cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "volumes[data]") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("deployment with a signed image volume is pinned, and so are its pods", func(t *testing.T) {
		ns := c.namespace(t, nil)
		d := deployment("web", c.reg+"/e2e/app:v1")
		withImageVolume(&d.Spec.Template.Spec, c.reg+"/e2e/init:v1")
		got, err := c.cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if v := got.Spec.Template.Spec.Volumes[1].Image; v == nil || v.Reference != pinnedInit {
			t.Errorf("stored image volume %+v, want %s", v, pinnedInit)
		}
		for _, p := range c.deploymentPods(t, ns, "web").Items {
			if p.Spec.Containers[0].Image != pinned || p.Spec.Volumes[1].Image == nil || p.Spec.Volumes[1].Image.Reference != pinnedInit {
				t.Errorf("pod %s runs %s with image volume %+v", p.Name, p.Spec.Containers[0].Image, p.Spec.Volumes[1].Image)
			}
		}

		// Changing only the volume's image to an unsigned one is denied.
		patch := `[{"op":"replace","path":"/spec/template/spec/volumes/1/image/reference","value":"` + c.reg + `/e2e/app:unsigned"}]`
		if _, err := c.cs.AppsV1().Deployments(ns).Patch(ctx, "web", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err == nil || !strings.Contains(err.Error(), "volumes[data]") {
			t.Errorf("patching the image volume to an unsigned image: err = %v", err)
		}
	})
}

// testDeletingOwner: an object being deleted (held by a finalizer) cannot
// be given unverified images, and does not vouch for Pods that cite it as
// their controlling owner.
func testDeletingOwner(t *testing.T, c *cluster) {
	ctx := context.Background()
	pinned := c.reg + "/e2e/app@" + c.signed.DigestStr()
	unsignedPin := c.reg + "/e2e/app@" + c.unsignedDigest(t)

	t.Run("a replicaset being deleted gets no unsigned image, and vouches for no pod", func(t *testing.T) {
		ns := c.namespace(t, nil)
		zero := int32(0)
		labels := map[string]string{"app": "held"}
		rs := &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"e2e.signet.dev/hold"}},
			Spec: appsv1.ReplicaSetSpec{
				Replicas: &zero, Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: c.reg + "/e2e/app:v1"}}}},
			},
		}
		rs, err := c.cs.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.Spec.Template.Spec.Containers[0].Image; got != pinned {
			t.Fatalf("replicaset stored with %s, want %s", got, pinned)
		}
		if err := c.cs.AppsV1().ReplicaSets(ns).Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		rs, err = c.cs.AppsV1().ReplicaSets(ns).Get(ctx, "held", metav1.GetOptions{})
		if err != nil || rs.DeletionTimestamp == nil {
			t.Fatalf("replicaset not held for deletion: %v %+v", err, rs)
		}
		t.Cleanup(func() {
			c.cs.AppsV1().ReplicaSets(ns).Patch(ctx, "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{})
		})

		// Its image changed to an unsigned one: denied, although it is
		// being deleted.
		for _, img := range []string{c.reg + "/e2e/app:unsigned", unsignedPin} {
			patch := `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"` + img + `"}]`
			if _, err := c.cs.AppsV1().ReplicaSets(ns).Patch(ctx, "held", types.JSONPatchType, []byte(patch), metav1.PatchOptions{}); err == nil || !strings.Contains(err.Error(), "containers[app]") {
				t.Errorf("patching a deleting replicaset to %s: err = %v", img, err)
			}
		}
		// An unsigned image volume added to it: denied too.
		add := `[{"op":"add","path":"/spec/template/spec/volumes","value":[{"name":"data","image":{"reference":"` + c.reg + `/e2e/app:unsigned"}}]}]`
		if _, err := c.cs.AppsV1().ReplicaSets(ns).Patch(ctx, "held", types.JSONPatchType, []byte(add), metav1.PatchOptions{}); err == nil || !strings.Contains(err.Error(), "volumes[data]") {
			t.Errorf("adding an unsigned image volume to a deleting replicaset: err = %v", err)
		}

		// A Pod naming it as its controlling owner (UID and all) with the
		// unsigned image: denied.
		owner := []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))}
		child := pod("child", unsignedPin)
		child.Spec.Containers[0].Name = "app"
		child.OwnerReferences = owner
		if _, err := c.cs.CoreV1().Pods(ns).Create(ctx, child, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "no cosign signatures found") {
			t.Errorf("pod citing the deleting replicaset with an unsigned image: err = %v", err)
		}
		// With the replicaset's own signed image it is admitted on its
		// own verification: the log does not name the deleting owner.
		signedChild := pod("signed-child", pinned)
		signedChild.Spec.Containers[0].Name = "app"
		signedChild.OwnerReferences = owner
		if _, err := c.cs.CoreV1().Pods(ns).Create(ctx, signedChild, metav1.CreateOptions{}); err != nil {
			t.Fatalf("signed pod citing the deleting replicaset: %v", err)
		}
		var rec map[string]any
		eventually(t, 5*time.Second, "the signed child's decision", func() bool {
			for _, l := range strings.Split(c.signetLog.String(), "\n") {
				if strings.Contains(l, `"namespace":"`+ns+`"`) && strings.Contains(l, `"name":"signed-child"`) && strings.Contains(l, `"operation":"CREATE"`) {
					return json.Unmarshal([]byte(l), &rec) == nil
				}
			}
			return false
		})
		if rec["decision"] != "allowed" || strings.Contains(rec["reason"].(string), "child of") {
			t.Errorf("signed child's decision: %v", rec)
		}

		// Removing the finalizer (no image changes) passes.
		if _, err := c.cs.AppsV1().ReplicaSets(ns).Patch(ctx, "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
			t.Fatalf("removing the finalizer of a deleting replicaset: %v", err)
		}
	})
}
