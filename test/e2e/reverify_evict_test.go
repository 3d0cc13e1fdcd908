package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/signet-dev/signet/test/harness"
)

// TestReverifyEvict runs signet serve with --reverify-action=evict against
// Pods the API server admitted without signet (no webhook here): the Pod
// with an unsigned image is evicted; one whose PodDisruptionBudget allows
// no disruption is not (the eviction is refused and counted); one in an
// excluded namespace and one with a signed image are left alone.
func TestReverifyEvict(t *testing.T) {
	t.Parallel()
	env, cs := startAPIServer(t, nil)
	ctx := context.Background()
	for _, ns := range []string{signetNamespace, "team"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	_, policy, signed, unsigned := signedImages(t)
	pods := []struct{ ns, name, image string }{
		{"team", "unsigned", unsigned},
		{"team", "guarded", unsigned},
		{"kube-system", "excluded", unsigned},
		{"team", "signed", signed},
	}
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(p.ns).Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Labels: map[string]string{"app": p.name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: p.image}}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A Pending Pod's budget is ignored by the Eviction API: this one runs.
	g, err := cs.CoreV1().Pods("team").Get(ctx, "guarded", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g.Status.Phase = corev1.PodRunning
	if _, err := cs.CoreV1().Pods("team").UpdateStatus(ctx, g, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No disruption controller runs here: the budget allows none.
	one := intstr.FromInt32(1)
	if _, err := cs.PolicyV1().PodDisruptionBudgets("team").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	s := harness.StartServe(t, policy, "--kubeconfig", writeKubeconfig(t, env, "signet"), "--namespace", signetNamespace,
		"--reverify-interval", "2s", "--reverify-action", "evict", "--reverify-evictions-per-minute", "600",
		"--reverify-policy-reports=false", "--pull-secrets=false")

	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := cs.CoreV1().Pods("team").Get(ctx, "unsigned", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Pod with an unsigned image was not evicted: %v\n%s", err, s.Log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for gauge(t, s.MetricsAddr, `signet_reverify_evictions_total{result="refused"}`) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the eviction the budget forbids was not refused\n%s", s.Log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, p := range pods[1:] {
		if _, err := cs.CoreV1().Pods(p.ns).Get(ctx, p.name, metav1.GetOptions{}); err != nil {
			t.Errorf("Pod %s/%s: %v, want it left running", p.ns, p.name, err)
		}
	}
	if got := gauge(t, s.MetricsAddr, `signet_reverify_evictions_total{result="evicted"}`); got != 1 {
		t.Errorf("evicted %v Pods, want 1", got)
	}
	if strings.Contains(s.Log.String(), "kube-system/excluded") {
		t.Error("signet acted on a Pod of an excluded namespace")
	}
}
