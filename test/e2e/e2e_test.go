package e2e

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

func TestE2E(t *testing.T) {
	t.Parallel()
	c := setup(t)
	ctx := context.Background()
	pinned := c.reg + "/e2e/app@" + c.signed.DigestStr()

	t.Run("signed pod is stored pinned to the signed digest", func(t *testing.T) {
		ns := c.namespace(t, nil)
		p, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/e2e/app:v1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Spec.Containers[0].Image; got != pinned {
			t.Errorf("stored image %s, want %s", got, pinned)
		}
	})

	t.Run("unsigned pod is denied with signet's reason", func(t *testing.T) {
		ns := c.namespace(t, nil)
		_, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/e2e/app:unsigned"), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "signet denied 1 image(s)") || !strings.Contains(err.Error(), "no cosign signatures found") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("unsigned init container is denied", func(t *testing.T) {
		ns := c.namespace(t, nil)
		p := pod("web", c.reg+"/e2e/app:v1")
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: c.reg + "/e2e/app:unsigned"}}
		_, err := c.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "initContainers[init]") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("ephemeral containers are verified through the subresource", func(t *testing.T) {
		ns := c.namespace(t, nil)
		p, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/e2e/app:v1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bad := p.DeepCopy()
		bad.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: c.reg + "/e2e/app:unsigned"}}}
		if _, err := c.cs.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, "web", bad, metav1.UpdateOptions{}); err == nil || !strings.Contains(err.Error(), "ephemeralContainers[debug]") {
			t.Fatalf("unsigned ephemeral container: err = %v", err)
		}
		good := p.DeepCopy()
		good.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: c.reg + "/e2e/init:v1"}}}
		got, err := c.cs.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, "web", good, metav1.UpdateOptions{})
		if err != nil {
			t.Fatalf("signed ephemeral container: %v", err)
		}
		if img := got.Spec.EphemeralContainers[0].Image; img != c.reg+"/e2e/init@"+c.signedInit.DigestStr() {
			t.Errorf("ephemeral image %s, want pinned", img)
		}
	})

	t.Run("dry run is evaluated like a real request", func(t *testing.T) {
		ns := c.namespace(t, nil)
		p, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/e2e/app:v1"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil || p.Spec.Containers[0].Image != pinned {
			t.Fatalf("dry run: %v, %v", err, p)
		}
	})

	t.Run("deployment produces pinned pods", func(t *testing.T) {
		ns := c.namespace(t, nil)
		d, err := c.cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", c.reg+"/e2e/app:v1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Spec.Template.Spec.Containers[0].Image; got != pinned {
			t.Errorf("deployment stored with %s, want %s", got, pinned)
		}
		pods := c.deploymentPods(t, ns, "web")
		for _, p := range pods.Items {
			if got := p.Spec.Containers[0].Image; got != pinned {
				t.Errorf("pod %s runs %s, want %s", p.Name, got, pinned)
			}
		}
		// The ReplicaSet's pods were verified under the policy in force
		// and logged as children of the parent carrying the same pinned
		// image. The decision log is written in batches, so the line may
		// trail the pods by up to its flush interval.
		eventually(t, 5*time.Second, "the owner named in the decision log", func() bool {
			return strings.Contains(c.signetLog.String(), "child of ReplicaSet")
		})

		// A pod naming that verified ReplicaSet as its controller (UID and
		// all) but running another image gets no child approval: its
		// image is verified, and it is unsigned.
		owner := pods.Items[0].OwnerReferences
		unsignedTag, err := name.ParseReference(c.reg + "/e2e/app:unsigned")
		if err != nil {
			t.Fatal(err)
		}
		other, err := remote.Head(unsignedTag)
		if err != nil {
			t.Fatal(err)
		}
		impostor := pod("impostor", c.reg+"/e2e/app@"+other.Digest.String())
		impostor.OwnerReferences = owner
		impostor.Labels = map[string]string{"app": "impostor"} // outside the ReplicaSet's selector
		if _, err := c.cs.CoreV1().Pods(ns).Create(ctx, impostor, metav1.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "no cosign signatures found") {
			t.Errorf("pod whose image differs from its verified parent: err = %v", err)
		}
	})

	t.Run("unsigned deployment is denied", func(t *testing.T) {
		ns := c.namespace(t, nil)
		_, err := c.cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", c.reg+"/e2e/app:unsigned"), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "signet denied") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("deployment admitted by a pods-only webhook gets FailedCreate on its ReplicaSet", func(t *testing.T) {
		ns := c.namespace(t, map[string]string{"e2e-scope": "pods"})
		if _, err := c.cs.AppsV1().Deployments(ns).Create(ctx, deployment("web", c.reg+"/e2e/app:unsigned"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "FailedCreate event naming signet", func() bool {
			evs, err := c.cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedCreate"})
			if err != nil {
				return false
			}
			for _, e := range evs.Items {
				if e.InvolvedObject.Kind == "ReplicaSet" && strings.Contains(e.Message, "signet denied") {
					return true
				}
			}
			return false
		})
	})

	t.Run("cronjob is pinned; an unsigned init container in its template is denied", func(t *testing.T) {
		ns := c.namespace(t, nil)
		cj, err := c.cs.BatchV1().CronJobs(ns).Create(ctx, cronjob("nightly", c.reg+"/e2e/app:v1", ""), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Image; got != pinned {
			t.Errorf("cronjob stored with %s", got)
		}
		_, err = c.cs.BatchV1().CronJobs(ns).Create(ctx, cronjob("bad", c.reg+"/e2e/app:v1", c.reg+"/e2e/app:unsigned"), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "initContainers[init]") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("warn mode admits with a warning", func(t *testing.T) {
		ns := c.namespace(t, nil)
		w := &warnings{}
		cfg := rest.CopyConfig(c.cfg)
		cfg.WarningHandler = w
		cs := kubernetes.NewForConfigOrDie(cfg)
		if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/warn/app:unsigned"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := w.String(); !strings.Contains(got, "signet would deny") {
			t.Errorf("warnings = %q", got)
		}
	})

	t.Run("excluded namespace is unaffected", func(t *testing.T) {
		ns := c.namespace(t, map[string]string{"signet.dev/ignore": "true"})
		p, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("web", c.reg+"/e2e/app:unsigned"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.Containers[0].Image != c.reg+"/e2e/app:unsigned" {
			t.Errorf("image rewritten in an excluded namespace: %s", p.Spec.Containers[0].Image)
		}
	})

	testRegistryAuth(t, c)
	testNotation(t, c)
	testImageVolumes(t, c)
	testDeletingOwner(t, c)

	// Last: it replaces the policy.
	t.Run("objects with finalizers can be deleted after the policy turns against them", func(t *testing.T) {
		ns := c.namespace(t, nil)
		p := pod("web", c.reg+"/e2e/app:v1")
		p.Finalizers = []string{"e2e.signet.dev/hold"}
		if _, err := c.cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// Reload a policy that denies everything.
		deny := "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: deny, type: static, approve: false}]\nrules: [{pattern: \"**\", validator: deny}]\n"
		tmp := c.policyFile + ".new"
		os.WriteFile(tmp, []byte(deny), 0o600)
		os.Rename(tmp, c.policyFile)
		eventually(t, 20*time.Second, "deny-all policy in force", func() bool {
			_, err := c.cs.CoreV1().Pods(ns).Create(ctx, pod("probe", c.reg+"/e2e/app:v1"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			return err != nil && strings.Contains(err.Error(), "denied by static")
		})
		if err := c.cs.CoreV1().Pods(ns).Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		cur, err := c.cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Finalizers = nil
		if _, err := c.cs.CoreV1().Pods(ns).Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("removing the finalizer of a pod being deleted: %v", err)
		}
		eventually(t, 20*time.Second, "pod gone", func() bool {
			_, err := c.cs.CoreV1().Pods(ns).Get(ctx, "web", metav1.GetOptions{})
			return err != nil
		})
	})
}

func deployment(name, image string) *appsv1.Deployment {
	replicas := int32(2)
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: image}}},
			},
		},
	}
}

// deploymentPods waits for the two Pods of deployment(name) in ns.
func (c *cluster) deploymentPods(t *testing.T, ns, name string) *corev1.PodList {
	t.Helper()
	var pods *corev1.PodList
	eventually(t, 60*time.Second, "pods of the deployment", func() bool {
		var err error
		pods, err = c.cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
		return err == nil && len(pods.Items) == 2
	})
	return pods
}

func cronjob(name, image, initImage string) *batchv1.CronJob {
	spec := corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: name, Image: image}}}
	if initImage != "" {
		spec.InitContainers = []corev1.Container{{Name: "init", Image: initImage}}
	}
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule:    "0 0 1 1 *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: spec}}},
		},
	}
}

type warnings struct {
	mu  sync.Mutex
	all []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.all = append(w.all, text)
}

func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.all, "\n")
}
