package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/test/harness"
)

// TestRecovery follows docs/recovery.md step by step through a real
// kube-apiserver and kube-controller-manager. signet's webhook
// configurations are the chart's (helm template, webhook.ignoreLabel on),
// registered by URL on loopback instead of through the Service. signet
// goes down and the cluster fails closed; the break-glass steps (option C,
// the opt-out label, for one namespace; option A, failurePolicy Ignore, for
// the rest) let workloads in, unsigned ones among them: a Pod, a Pod with an
// unsigned init container, a Deployment with one in its template, and a
// Deployment of an unsigned image pinned by digest (whose ReplicaSet's
// Pods carry exactly its digest-pinned images: child approval names such
// an owner, and must not vouch for it). Then the restore steps: signet
// back, helm upgrade, the opt-out labels removed, `signet audit cluster`
// naming exactly what came in unsigned, the outage's owners' new Pods
// denied, and the fixes and deletions until the audit exits 0.
//
// Every step of docs/recovery.md exercised here is named in a comment
// ("recovery.md §N: …"); change both together. Not exercised: §1's
// kubectl get/logs (reading, no effect), §2 option B (deleting both
// configurations: the restore below creates them as it replaces them)
// and "Whole-cluster restarts".
func TestRecovery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, cs := startAPIServer(t, nil)
	startControllers(t, env, assets(t))
	reg, pol, signed, unsigned := signedImages(t)
	kubeconfig := writeKubeconfig(t, env, "admin")
	for _, ns := range []string{signetNamespace, "team-a", "team-b"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The policy in force, where the chart keeps it (ConfigMap
	// <release>-policy, key policy.yaml).
	if _, err := cs.CoreV1().ConfigMaps(signetNamespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "signet-policy"},
		Data: map[string]string{"policy.yaml": pol}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// signet serve, which the test stops and starts again at one address.
	work := t.TempDir()
	write := fileWriter(t, work)
	servingCert, servingKey, err := fixture.ServingCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	args := []string{"serve", "--policy", write("policy.yaml", []byte(pol)),
		"--tls-cert", write("tls.crt", servingCert), "--tls-key", write("tls.key", servingKey),
		"--addr", addr, "--metrics-addr", "", "--namespace", signetNamespace, "--kubeconfig", kubeconfig}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCert)
	log := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("signet log:\n%s", log.String())
		}
	})
	startSignet := func() *harness.Proc {
		t.Helper()
		serve := exec.Command(harness.ImageBin(t), args...)
		serve.Env = append(os.Environ(), "DOCKER_CONFIG="+work)
		serve.Stdout, serve.Stderr = log, log
		p := harness.Start(t, serve)
		harness.WaitHTTP(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, "https://"+addr+"/readyz")
		return p
	}
	signet := startSignet()
	applyChartWebhooks(t, cs, addr, servingCert)

	// create creates a Pod (dry run) in ns and returns the API server's
	// answer.
	create := func(ns, image string) error {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod("probe", image), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	deniedBySignet := func(err error) bool { return err != nil && strings.Contains(err.Error(), "signet denied") }
	outage := func(err error) bool {
		return err != nil && strings.Contains(err.Error(), `failed calling webhook "mutate.signet.dev"`) && strings.Contains(err.Error(), "connection refused")
	}
	eventually(t, 30*time.Second, "webhook in effect", func() bool { return deniedBySignet(create("team-b", reg+"/e2e/app:unsigned")) })

	// Before the outage: a signed Deployment, admitted and pinned; the
	// audit must not name it.
	if _, err := cs.AppsV1().Deployments("team-b").Create(ctx, deployment("api", reg+"/e2e/app:v1"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitPods(t, cs, "team-b", "api", 2)

	// recovery.md "Symptoms": signet is down, the API server refuses every
	// Pod, signed or not, with "failed calling webhook … connection
	// refused".
	signet.Stop()
	for _, img := range []string{reg + "/e2e/app:v1", reg + "/e2e/app:unsigned"} {
		// (The API server may first see its kept-alive connection reset.)
		eventually(t, 10*time.Second, "the outage's error for a Pod of "+img, func() bool { return outage(create("team-b", img)) })
	}

	// recovery.md §2 option C: `kubectl label namespace my-app
	// signet.dev/ignore=true` exempts that namespace only.
	labelNamespace(t, cs, "team-a", "true")
	eventually(t, 30*time.Second, "team-a exempt", func() bool { return create("team-a", reg+"/e2e/app:unsigned") == nil })
	if err := create("team-b", reg+"/e2e/app:v1"); !outage(err) {
		t.Fatalf("team-b under option C: %v, want still failing closed", err)
	}
	// recovery.md §2 option A: `kubectl patch mutatingwebhookconfiguration
	// signet` and `validatingwebhookconfiguration signet`, replacing
	// /webhooks/0/failurePolicy with Ignore.
	patch := []byte(`[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]`)
	if _, err := cs.AdmissionregistrationV1().MutatingWebhookConfigurations().Patch(ctx, "signet", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Patch(ctx, "signet", types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "failing open", func() bool { return create("team-b", reg+"/e2e/app:unsigned") == nil })

	// What comes in meanwhile.
	mustCreate := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = cs.CoreV1().Pods("team-a").Create(ctx, pod("tool", reg+"/e2e/app:unsigned"), metav1.CreateOptions{})
	mustCreate(err)
	web := deployment("web", reg+"/e2e/app:v1")
	web.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: reg + "/e2e/app:unsigned"}}
	// Recreate: the fixed template's Pods replace the old ones although
	// no kubelet ever makes a Pod ready here (a rolling update would wait
	// for that).
	web.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
	_, err = cs.AppsV1().Deployments("team-a").Create(ctx, web, metav1.CreateOptions{})
	mustCreate(err)
	withInit := pod("init", reg+"/e2e/app:v1")
	withInit.Spec.InitContainers = []corev1.Container{{Name: "init", Image: reg + "/e2e/app:unsigned"}}
	_, err = cs.CoreV1().Pods("team-b").Create(ctx, withInit, metav1.CreateOptions{})
	mustCreate(err)
	_, err = cs.AppsV1().Deployments("team-b").Create(ctx, deployment("pinned", unsigned), metav1.CreateOptions{})
	mustCreate(err)
	_, err = cs.CoreV1().Pods("team-b").Create(ctx, pod("ok", signed), metav1.CreateOptions{}) // signed: allowed
	mustCreate(err)
	webPods, pinnedPods := waitPods(t, cs, "team-a", "web", 2), waitPods(t, cs, "team-b", "pinned", 2)
	webRS, pinnedRS := replicaSet(t, cs, "team-a", "web"), replicaSet(t, cs, "team-b", "pinned")

	// recovery.md §1: signet is fixed and back.
	signet = startSignet()
	// recovery.md §3: `helm upgrade signet … --reuse-values` recreates the
	// webhook configurations with failurePolicy Fail.
	applyChartWebhooks(t, cs, addr, servingCert)
	eventually(t, 30*time.Second, "failing closed again", func() bool { return deniedBySignet(create("team-b", reg+"/e2e/app:unsigned")) })
	// … which does not close the namespace labelled under option C.
	if err := create("team-a", reg+"/e2e/app:unsigned"); err != nil {
		t.Fatalf("team-a, still labelled, after helm upgrade: %v (the doc says it stays exempt until the label is removed)", err)
	}

	// recovery.md §3 "Remove the opt-out labels": `kubectl get namespaces
	// -l signet.dev/ignore=true`, then `kubectl label namespace my-app
	// signet.dev/ignore-` for each.
	labelled, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: "signet.dev/ignore=true"})
	if err != nil {
		t.Fatal(err)
	}
	if len(labelled.Items) != 1 || labelled.Items[0].Name != "team-a" {
		t.Fatalf("namespaces labelled signet.dev/ignore=true: %v, want team-a", labelled.Items)
	}
	for _, ns := range labelled.Items {
		labelNamespace(t, cs, ns.Name, "")
	}
	eventually(t, 30*time.Second, "team-a protected again", func() bool { return deniedBySignet(create("team-a", reg+"/e2e/app:unsigned")) })

	// recovery.md §3 "Fix or delete every object it names": until then, a
	// workload created while signet was bypassed keeps producing Pods, and
	// each is denied. The ReplicaSet's Pod carries exactly its owner's
	// digest-pinned images, the case child approval names in the decision
	// log; it decides nothing.
	child := pinnedPods.Items[0].DeepCopy()
	child.ObjectMeta = metav1.ObjectMeta{Name: "child", Labels: map[string]string{"other": "x"}, OwnerReferences: child.OwnerReferences}
	child.Spec.NodeName = ""
	if _, err := cs.CoreV1().Pods("team-b").Create(ctx, child, metav1.CreateOptions{}); !deniedBySignet(err) || !strings.Contains(err.Error(), "no cosign signatures found") {
		t.Fatalf("new Pod of ReplicaSet %s (created during the outage): %v, want denied", pinnedRS.Name, err)
	}
	// The ReplicaSet itself: one of its Pods deleted, the replacement is
	// refused (FailedCreate).
	mustCreate(cs.CoreV1().Pods("team-b").Delete(ctx, pinnedPods.Items[1].Name, metav1.DeleteOptions{}))
	eventually(t, 60*time.Second, "ReplicaSet FailedCreate with signet's denial", func() bool {
		rs, err := cs.AppsV1().ReplicaSets("team-b").Get(ctx, pinnedRS.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range rs.Status.Conditions {
			if c.Type == appsv1.ReplicaSetReplicaFailure && c.Reason == "FailedCreate" && strings.Contains(c.Message, "signet denied") {
				return true
			}
		}
		return false
	})
	pinnedPods = waitPods(t, cs, "team-b", "pinned", 1)

	// recovery.md §3 "Audit what is in the cluster": the policy from the
	// ConfigMap (`kubectl -n signet-system get configmap signet-policy -o
	// jsonpath='{.data.policy\.yaml}' > policy.yaml`), then `signet audit
	// cluster --policy policy.yaml --exclude-namespace
	// kube-system,signet-system`.
	cm, err := cs.CoreV1().ConfigMaps(signetNamespace).Get(ctx, "signet-policy", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	harness.ReplaceFile(t, policyFile, []byte(cm.Data["policy.yaml"]))
	audit := func() (int, []string, string) {
		t.Helper()
		cmd := exec.Command(harness.ImageBin(t), "audit", "cluster", "--policy", policyFile, "--exclude-namespace", "kube-system,"+signetNamespace,
			"--kubeconfig", kubeconfig, "-o", "json")
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+work)
		code, stdout, stderr := harness.ExitCode(t, cmd)
		var out auditOutput
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			t.Fatalf("signet audit cluster: exit %d, %v\nstdout: %s\nstderr: %s", code, err, stdout, stderr)
		}
		var got []string
		for _, o := range out.Denied {
			for _, img := range o.Images {
				got = append(got, fmt.Sprintf("%s %s/%s %s %s", o.Kind, o.Namespace, o.Name, img.Container, img.Outcome))
			}
		}
		slices.Sort(got)
		return code, got, stdout
	}
	want := []string{
		"Deployment team-a/web initContainers[init] failed",
		"Deployment team-b/pinned containers[pinned] failed",
		"Pod team-a/tool containers[c0] failed",
		"Pod team-b/init initContainers[init] failed",
		"ReplicaSet team-a/" + webRS.Name + " initContainers[init] failed",
		"ReplicaSet team-b/" + pinnedRS.Name + " containers[pinned] failed",
	}
	for _, p := range webPods.Items {
		want = append(want, "Pod team-a/"+p.Name+" initContainers[init] failed")
	}
	for _, p := range pinnedPods.Items {
		want = append(want, "Pod team-b/"+p.Name+" containers[pinned] failed")
	}
	slices.Sort(want)
	code, got, raw := audit()
	if code != 1 || !slices.Equal(got, want) {
		t.Fatalf("audit: exit %d, denied\n  %s\nwant exit 1 and exactly what came in unsigned\n  %s\n%s", code, strings.Join(got, "\n  "), strings.Join(want, "\n  "), raw)
	}

	// recovery.md §3 "Fix or delete every object it names, workloads
	// first": web's template is fixed, pinned is deleted.
	eventually(t, 10*time.Second, "web's template fixed", func() bool {
		d, err := cs.AppsV1().Deployments("team-a").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return false
		}
		d.Spec.Template.Spec.InitContainers[0].Image = reg + "/e2e/app:v1"
		_, err = cs.AppsV1().Deployments("team-a").Update(ctx, d, metav1.UpdateOptions{})
		return err == nil
	})
	mustCreate(cs.AppsV1().Deployments("team-b").Delete(ctx, "pinned", metav1.DeleteOptions{}))
	// … and the fix alone does not take: the Deployment controller's
	// UPDATE scaling the old ReplicaSet down is denied (every image of an
	// UPDATE is verified), so the rollout stalls.
	stalled := `"kind":"ReplicaSet","namespace":"team-a","name":"` + webRS.Name + `","operation":"UPDATE","user":"kcm","dryRun":false,"decision":"denied"`
	eventually(t, 30*time.Second, "the old ReplicaSet's scale-down denied", func() bool { return strings.Contains(log.String(), stalled) })
	// recovery.md §3: "Delete the old ReplicaSets the audit names" (its
	// Pods go with them: the garbage collector, which this control plane
	// does not run, would delete them; the test deletes them itself).
	for ns, rs := range map[string]string{"team-a": webRS.Name, "team-b": pinnedRS.Name} {
		if err := cs.AppsV1().ReplicaSets(ns).Delete(ctx, rs, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	for _, p := range append(podNames("team-a", webPods), podNames("team-b", pinnedPods)...) {
		ns, n, _ := strings.Cut(p, "/")
		if err := cs.CoreV1().Pods(ns).Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	eventually(t, 60*time.Second, "web's Pods replaced by signed, pinned ones", func() bool {
		l, err := cs.CoreV1().Pods("team-a").List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(l.Items) != 2 {
			return false
		}
		for _, p := range l.Items {
			if len(p.Spec.InitContainers) != 1 || !strings.Contains(p.Spec.InitContainers[0].Image, "@sha256:") {
				return false
			}
		}
		return true
	})
	// recovery.md §3: "Delete the unsigned Pods once their workloads are
	// fixed, then run the audit again until it exits 0."
	for _, p := range []string{"team-a/tool", "team-b/init"} {
		ns, n, _ := strings.Cut(p, "/")
		if err := cs.CoreV1().Pods(ns).Delete(ctx, n, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	if code, got, raw := audit(); code != 0 || len(got) != 0 {
		t.Fatalf("audit after the fixes: exit %d, denied %v, want exit 0\n%s", code, got, raw)
	}
	// Protection is back everywhere: an unsigned image pinned by digest is
	// denied in both namespaces.
	for _, ns := range []string{"team-a", "team-b"} {
		if err := create(ns, unsigned); !deniedBySignet(err) {
			t.Errorf("%s after recovery: %v, want denied", ns, err)
		}
	}
}

// applyChartWebhooks does for the test what `helm upgrade` does for the
// webhook configurations: renders them from the chart (release signet,
// webhook.ignoreLabel signet.dev/ignore, the serving certificate's CA as
// caBundle, and helmArgs) and creates them, or replaces what is stored.
// Only the clientConfig differs from the chart's: signet at addr by URL,
// not through the Service.
func applyChartWebhooks(t *testing.T, cs kubernetes.Interface, addr string, caPEM []byte, helmArgs ...string) {
	t.Helper()
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	harness.ReplaceFile(t, caFile, caPEM)
	out, err := exec.Command(harness.Tool(t, "helm"), append([]string{"template", "signet", filepath.Join(harness.Root, "deploy", "helm", "signet"),
		"--namespace", signetNamespace, "--kube-version", "1.34.0", "--show-only", "templates/webhooks.yaml",
		"--set", "tls.mode=secret", "--set", "tls.secret.name=signet-tls", "--set-file", "tls.secret.caBundle=" + caFile,
		"--set", "webhook.ignoreLabel=signet.dev/ignore", "--set-json", `webhook.ignoreLabelGroups=["system:masters"]`}, helmArgs...)...).Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, harness.ExitStderr(err))
	}
	byURL := func(cc *admissionregistrationv1.WebhookClientConfig) {
		u := "https://" + addr + *cc.Service.Path
		cc.Service, cc.URL = nil, &u
	}
	var n int
	for _, doc := range strings.Split(string(out), "\n---") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		decode := func(into any) {
			t.Helper()
			if err := yaml.UnmarshalStrict([]byte(doc), into); err != nil {
				t.Fatal(err)
			}
			n++
		}
		switch meta.Kind {
		case "MutatingWebhookConfiguration":
			var w admissionregistrationv1.MutatingWebhookConfiguration
			decode(&w)
			for i := range w.Webhooks {
				byURL(&w.Webhooks[i].ClientConfig)
			}
			upsert(t, cs.AdmissionregistrationV1().MutatingWebhookConfigurations(), &w)
		case "ValidatingWebhookConfiguration":
			var w admissionregistrationv1.ValidatingWebhookConfiguration
			decode(&w)
			for i := range w.Webhooks {
				byURL(&w.Webhooks[i].ClientConfig)
			}
			upsert(t, cs.AdmissionregistrationV1().ValidatingWebhookConfigurations(), &w)
		}
	}
	if n != 2 {
		t.Fatalf("the chart rendered %d webhook configurations, want 2:\n%s", n, out)
	}
}

// clusterAPI is the part of a typed client of cluster-scoped objects that
// upsert uses.
type clusterAPI[T any] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

// upsert creates obj, or replaces the stored object of its name.
func upsert[T metav1.Object](t *testing.T, api clusterAPI[T], obj T) {
	t.Helper()
	ctx := context.Background()
	var err error
	if old, getErr := api.Get(ctx, obj.GetName(), metav1.GetOptions{}); getErr == nil {
		obj.SetResourceVersion(old.GetResourceVersion())
		_, err = api.Update(ctx, obj, metav1.UpdateOptions{})
	} else if apierrors.IsNotFound(getErr) {
		_, err = api.Create(ctx, obj, metav1.CreateOptions{})
	} else {
		err = getErr
	}
	if err != nil {
		t.Fatalf("%s: %v", obj.GetName(), err)
	}
}

// labelNamespace sets signet.dev/ignore on ns to value, or removes it when
// value is "" (kubectl label namespace NS signet.dev/ignore=VALUE, or
// signet.dev/ignore-).
func labelNamespace(t *testing.T, cs kubernetes.Interface, ns, value string) {
	t.Helper()
	v := `"` + value + `"`
	if value == "" {
		v = "null"
	}
	if _, err := cs.CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"signet.dev/ignore":`+v+`}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// waitPods waits for n Pods of deployment(name) in ns and returns them.
func waitPods(t *testing.T, cs kubernetes.Interface, ns, name string, n int) *corev1.PodList {
	t.Helper()
	var pods *corev1.PodList
	eventually(t, 60*time.Second, fmt.Sprintf("%d Pods of %s/%s", n, ns, name), func() bool {
		var err error
		pods, err = cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
		return err == nil && len(pods.Items) == n
	})
	return pods
}

// replicaSet returns the one ReplicaSet of deployment(name) in ns.
func replicaSet(t *testing.T, cs kubernetes.Interface, ns, name string) appsv1.ReplicaSet {
	t.Helper()
	l, err := cs.AppsV1().ReplicaSets(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + name})
	if err != nil || len(l.Items) != 1 {
		t.Fatalf("ReplicaSets of %s/%s: %v (%v)", ns, name, l, err)
	}
	return l.Items[0]
}

func podNames(ns string, l *corev1.PodList) []string {
	var names []string
	for _, p := range l.Items {
		names = append(names, ns+"/"+p.Name)
	}
	return names
}
