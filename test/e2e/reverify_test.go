package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-dev/signet/test/harness"
)

var policyReports = schema.GroupVersionResource{Group: "wgpolicyk8s.io", Version: "v1alpha2", Resource: "policyreports"}

// alertReceiver is a generic webhook sink: it keeps the alerts posted.
type alertReceiver struct {
	mu     sync.Mutex
	alerts []map[string]any
}

func (a *alertReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var m map[string]any
	if err := json.Unmarshal(b, &m); err == nil {
		a.mu.Lock()
		a.alerts = append(a.alerts, m)
		a.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// find returns an alert of event about object name, if one came.
func (a *alertReceiver) find(event, name string) map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, m := range a.alerts {
		obj, _ := m["object"].(map[string]any)
		if m["event"] == event && obj["name"] == name {
			return m
		}
	}
	return nil
}

// TestReverify runs signet serve with the chart's RBAC (as its service
// account) against a real API server, with Pods admitted with signed
// images, then breaks each image's trust in turn — its signature deleted
// from the registry, its key rotated in its Secret, the policy tightened —
// and checks each time that the PolicyReport says fail, an
// ImageNoLongerTrusted Event is on the Pod and its ReplicaSet, the metric
// and a webhook alert fire, and a new Pod of the ReplicaSet is denied.
// Then a second replica: only one re-verifies, and the other takes over
// when it stops.
func TestReverify(t *testing.T) {
	t.Parallel()
	env, cfg := harness.StartAPIServer(t, filepath.Join(harness.Root, "deploy", "helm", "signet", "files", "policyreport-crd"))
	cs := kubernetes.NewForConfigOrDie(cfg)
	dc := dynamic.NewForConfigOrDie(cfg)
	ctx := context.Background()
	for _, ns := range []string{signetNamespace, "team"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	applyChartRBAC(t, cs)

	// Three images signed by the cosign CLI with the key "ci"; the key
	// "other" signs nothing.
	reg := harness.StartDistribution(t).Host
	cos := harness.NewCosign(t)
	cosign := harness.Tool(t, "cosign2")
	key, pub := cos.GenKey(t, cosign, "ci")
	_, otherPub := cos.GenKey(t, cosign, "other")
	images := map[string]name.Digest{}
	for _, n := range []string{"deleted", "rotated", "tightened"} {
		d := harness.Push(t, reg, "e2e/"+n+":v1")
		cos.SignV2(t, key, d)
		images[n] = d
	}
	setKeySecret := func(pem string) {
		t.Helper()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: signetNamespace, Name: "ci-key"}, Data: map[string][]byte{"cosign.pub": []byte(pem)}}
		if _, err := cs.CoreV1().Secrets(signetNamespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			if _, err := cs.CoreV1().Secrets(signetNamespace).Create(ctx, s, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	setKeySecret(pub)
	policy := func(tightenedKey string) string {
		return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
metadata: {name: reverify}
insecureRegistries: ["` + reg + `"]
validators:
- name: inline
  type: cosign
  trustRoots:
  - {name: ci, key: "` + strings.ReplaceAll(pub, "\n", `\n`) + `"}
- name: secret
  type: cosign
  trustRoots:
  - {name: ci, key: "k8s://` + signetNamespace + `/ci-key"}
- name: tightened
  type: cosign
  trustRoots:
  - {name: ci, key: "` + strings.ReplaceAll(tightenedKey, "\n", `\n`) + `"}
rules:
- {pattern: "` + reg + `/e2e/deleted", validator: inline}
- {pattern: "` + reg + `/e2e/rotated", validator: secret}
- {pattern: "` + reg + `/e2e/tightened", validator: tightened}
`
	}

	alerts := &alertReceiver{}
	rcv := httptest.NewServer(alerts)
	t.Cleanup(rcv.Close)
	dir := t.TempDir()
	alertsFile := filepath.Join(dir, "alerts.yaml")
	if err := os.WriteFile(alertsFile, []byte("sinks:\n- name: hook\n  type: webhook\n  url: "+rcv.URL+"\n  events: [reverification-failed]\n  dedupeWindow: 0s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := serviceAccountKubeconfig(t, env, signetNamespace, "signet")
	start := func(id string) *harness.Serve {
		t.Helper()
		s := harness.StartServe(t, policy(pub), "--kubeconfig", kubeconfig, "--namespace", signetNamespace,
			"--reverify-interval", "3s", "--key-check-interval", "1s", "--reload-interval", "500ms", "--alerts", alertsFile,
			"--cache-ttl", "10m", "--pull-secrets=false", "--audit-log", filepath.Join(dir, id+"-audit.log"))
		return s
	}
	s1 := start("one")
	registerDogfoodWebhooks(t, cs, s1.Addr, s1.CertPEM)

	// A ReplicaSet per image and a Pod of each, admitted through the
	// webhook (no controllers run here: the test makes the Pods).
	rss := map[string]*appsv1.ReplicaSet{}
	newPod := func(n string, i int) (*corev1.Pod, error) {
		rs := rss[n]
		yes := true
		return cs.CoreV1().Pods("team").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", n, i), Labels: map[string]string{"app": n},
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: images[n].String()}}},
		}, metav1.CreateOptions{})
	}
	for _, n := range []string{"deleted", "rotated", "tightened"} {
		one := int32(1)
		rs, err := cs.AppsV1().ReplicaSets("team").Create(ctx, &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: n},
			Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": n}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": n}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: images[n].String()}}}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rss[n] = rs
		if _, err := newPod(n, 1); err != nil {
			t.Fatalf("pod of %s, signed: %v", n, err)
		}
	}

	report := func(n string) (string, map[string]any) {
		r, err := dc.Resource(policyReports).Namespace("team").Get(ctx, "signet-"+string(rss[n].UID), metav1.GetOptions{})
		if err != nil {
			return "", nil
		}
		results, _, _ := unstructured.NestedSlice(r.Object, "results")
		if len(results) != 1 {
			return fmt.Sprintf("%d results", len(results)), nil
		}
		res := results[0].(map[string]any)
		return fmt.Sprint(res["result"]), res
	}
	waitReport := func(t *testing.T, n, want string) map[string]any {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			got, res := report(n)
			if got == want {
				return res
			}
			if time.Now().After(deadline) {
				t.Fatalf("PolicyReport of ReplicaSet %s: %q, want %q\nsignet log:\n%s", n, got, want, s1.Log.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for _, n := range []string{"deleted", "rotated", "tightened"} {
		waitReport(t, n, "pass")
	}
	// A round may have run before the last Pod was made (the ReplicaSets'
	// templates report pass either way): the next one counts all three.
	deadline := time.Now().Add(20 * time.Second)
	for got := 0.0; got != 3; got = gauge(t, s1.MetricsAddr, `signet_running_images{outcome="pass"}`) {
		if time.Now().After(deadline) {
			t.Fatalf(`signet_running_images{outcome="pass"} = %v, want 3`, got)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// broken checks everything a failure must cause.
	broken := func(t *testing.T, n, trigger string) {
		t.Helper()
		res := waitReport(t, n, "fail")
		if res["policy"] != "signet" || !strings.Contains(fmt.Sprint(res["message"]), "") {
			t.Errorf("result: %v", res)
		}
		for _, obj := range []struct{ kind, name string }{{"Pod", n + "-1"}, {"ReplicaSet", n}} {
			deadline := time.Now().Add(20 * time.Second)
			for {
				evs, err := cs.CoreV1().Events("team").List(ctx, metav1.ListOptions{FieldSelector: "reason=ImageNoLongerTrusted,involvedObject.kind=" + obj.kind + ",involvedObject.name=" + obj.name})
				if err != nil {
					t.Fatal(err)
				}
				if len(evs.Items) > 0 {
					if evs.Items[0].Type != corev1.EventTypeWarning || !strings.Contains(evs.Items[0].Message, images[n].String()) {
						t.Errorf("event on %s %s: %s %q", obj.kind, obj.name, evs.Items[0].Type, evs.Items[0].Message)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no ImageNoLongerTrusted Event on %s %s", obj.kind, obj.name)
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for alerts.find("reverification-failed", n) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("no reverification-failed alert for %s: %v", n, alerts.alerts)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, err := newPod(n, 2); err == nil || !strings.Contains(err.Error(), "denied") {
			t.Errorf("a new Pod of ReplicaSet %s after its image failed: %v, want denied", n, err)
		}
		if trigger != "" {
			if got := gauge(t, s1.MetricsAddr, `signet_reverify_rounds_total{trigger="`+trigger+`"}`); got < 1 {
				t.Errorf("rounds triggered by %s: %v", trigger, got)
			}
		}
	}

	t.Run("signature deleted", func(t *testing.T) {
		sig, err := name.ParseReference(reg + "/e2e/deleted:sha256-" + strings.TrimPrefix(images["deleted"].DigestStr(), "sha256:") + ".sig")
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Head(sig)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Delete(sig.Context().Digest(desc.Digest.String())); err != nil {
			t.Fatal(err)
		}
		broken(t, "deleted", "")
		if got := gauge(t, s1.MetricsAddr, `signet_running_images{outcome="fail"}`); got < 1 {
			t.Errorf(`signet_running_images{outcome="fail"} = %v`, got)
		}
		// The audit log has the re-verification's decision (written by a
		// background writer: waited for).
		deadline := time.Now().Add(10 * time.Second)
		for {
			b, _ := os.ReadFile(filepath.Join(dir, "one-audit.log"))
			found := false
			for _, line := range strings.Split(string(b), "\n") {
				found = found || strings.Contains(line, `"webhook":"reverify"`) && strings.Contains(line, `"operation":"REVERIFY"`) &&
					strings.Contains(line, `"name":"deleted"`) && strings.Contains(line, `"decision":"denied"`)
			}
			if found {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no re-verification record in the audit log:\n%s", b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	t.Run("key rotated in its Secret", func(t *testing.T) {
		setKeySecret(otherPub)
		broken(t, "rotated", "key")
	})
	t.Run("policy tightened", func(t *testing.T) {
		harness.ReplaceFile(t, s1.PolicyFile, []byte(policy(otherPub)))
		broken(t, "tightened", "policy")
	})

	t.Run("two replicas, one lease", func(t *testing.T) {
		s2 := start("two")
		time.Sleep(time.Second) // it has tried the Lease (every 2 s) and found it held
		if l1, l2 := gauge(t, s1.MetricsAddr, "signet_reverify_leader"), gauge(t, s2.MetricsAddr, "signet_reverify_leader"); l1 != 1 || l2 != 0 {
			t.Fatalf("leaders: first %v, second %v; want 1, 0", l1, l2)
		}
		before := gauge(t, s2.MetricsAddr, `signet_reverifications_total{outcome="pass"}`) + gauge(t, s2.MetricsAddr, `signet_reverifications_total{outcome="fail"}`)
		time.Sleep(4 * time.Second)
		after := gauge(t, s2.MetricsAddr, `signet_reverifications_total{outcome="pass"}`) + gauge(t, s2.MetricsAddr, `signet_reverifications_total{outcome="fail"}`)
		if before != 0 || after != 0 {
			t.Errorf("the replica without the lease re-verified: %v then %v", before, after)
		}
		// The leader stops and releases the Lease on its way out (else the
		// other would wait for it to expire): once it has exited, the
		// Lease no longer names it.
		m := regexp.MustCompile(`"re-verification lease acquired[^\n]*"identity":"([^"]+)"`).FindStringSubmatch(s1.Log.String())
		if m == nil {
			t.Fatal("the first replica's identity is not in its log")
		}
		s1.Signal(t, syscall.SIGTERM)
		if _, ok := s1.Wait(40 * time.Second); !ok {
			t.Fatal("the first replica did not exit")
		}
		lease, err := cs.CoordinationV1().Leases(signetNamespace).Get(ctx, "signet-reverifier", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if h := lease.Spec.HolderIdentity; h != nil && *h == m[1] {
			t.Errorf("the Lease still names the replica that stopped (%s): not released", *h)
		}
		deadline := time.Now().Add(30 * time.Second)
		for gauge(t, s2.MetricsAddr, "signet_reverify_leader") != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("the second replica did not take the lease over\n%s", s2.Log.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
		deadline = time.Now().Add(30 * time.Second)
		for gauge(t, s2.MetricsAddr, `signet_reverifications_total{outcome="fail"}`) < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("the new leader did not re-verify\n%s", s2.Log.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
}
