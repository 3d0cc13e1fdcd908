package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

// policyObject is a policy resource of kind (namespaced when namespace is
// set) with the spec given in YAML.
func policyObject(t *testing.T, kind, namespace, name, spec string) *unstructured.Unstructured {
	t.Helper()
	var s map[string]any
	if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
		t.Fatalf("%s: %v", spec, err)
	}
	o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": v1alpha1.SchemeGroupVersion.String(), "kind": kind, "metadata": map[string]any{"name": name}, "spec": s}}
	if namespace != "" {
		o.SetNamespace(namespace)
	}
	return o
}

// TestPolicySource runs signet serve --policy-source=cluster against a
// real kube-apiserver: not ready (and denying) until the policy resources
// can be read, then each line of docs/policy.md "How they combine" through
// admissions, the objects' status, an invalid update keeping the last
// valid policy, deletion failing closed, and how fast a change is in force.
func TestPolicySource(t *testing.T) {
	t.Parallel()
	env, cs := startAPIServer(t, nil)
	ctx := context.Background()
	dc := dynamic.NewForConfigOrDie(env.Config)

	// Images: e2e/app:v1 signed by the cluster's key, team/app:v1 by
	// team-a's key, e2e/app:unsigned by none.
	reg := harness.StartDistribution(t).Host
	cos := harness.NewCosign(t)
	ciKey, ciPub := cos.GenKey(t, harness.Tool(t, "cosign2"), "ci")
	teamKey, teamPub := cos.GenKey(t, harness.Tool(t, "cosign2"), "team")
	signed := harness.Push(t, reg, "e2e/app:v1")
	cos.SignV2(t, ciKey, signed)
	teamImg := harness.Push(t, reg, "team/app:v1")
	cos.SignV2(t, teamKey, teamImg)
	harness.Push(t, reg, "e2e/app:unsigned")
	app, unsigned, team := reg+"/e2e/app:v1", reg+"/e2e/app:unsigned", reg+"/team/app:v1"

	work := t.TempDir()
	write := fileWriter(t, work)
	servingCert, servingKey, err := fixture.ServingCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	write("tls.crt", servingCert)
	write("tls.key", servingKey)
	// serve starts signet serve on addr with the serving certificate,
	// watching the policy resources, and returns its log.
	serve := func(t *testing.T, addr, user string, args ...string) *syncBuffer {
		t.Helper()
		cmd := exec.Command(harness.ImageBin(t), append([]string{"serve", "--policy-source=cluster",
			"--tls-cert", filepath.Join(work, "tls.crt"), "--tls-key", filepath.Join(work, "tls.key"),
			"--addr", addr, "--namespace", signetNamespace, "--kubeconfig", writeKubeconfig(t, env, user),
			"--child-approval=false", "--cache-ttl=-1s", "--cache-failed-ttl=-1s", "--tag-ttl=-1s"}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+work)
		log := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = log, log
		harness.Start(t, cmd)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("signet (%s) log:\n%s", user, log.String())
			}
		})
		return log
	}
	addrs := harness.FreeAddrs(t, 2)
	addr, metricsAddr := addrs[0], addrs[1]
	log := serve(t, addr, "signet", "--metrics-addr", metricsAddr)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(servingCert)
	harness.WaitHTTP(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}, "https://"+addr+"/healthz")
	readyz := func() int {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// admit dry-runs a Pod of image in ns: nil when admitted.
	admit := func(ns, image string) error {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod("p", image), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		return err
	}
	expect := func(t *testing.T, ns, image string, allowed bool, reason string) {
		t.Helper()
		err := admit(ns, image)
		switch {
		case allowed && err != nil:
			t.Errorf("%s in %s: denied: %v", image, ns, err)
		case !allowed && err == nil:
			t.Errorf("%s in %s: admitted", image, ns)
		case !allowed && !strings.Contains(err.Error(), reason):
			t.Errorf("%s in %s: %v\nwant a reason with %q", image, ns, err, reason)
		}
	}

	// Not synced (the CRDs are not even installed): not ready, and every
	// admission is denied, saying why.
	c := &cluster{cs: cs, reg: reg, signetAddr: addr}
	c.registerWebhooks(t, servingCert)
	t.Run("not ready before the resources are read", func(t *testing.T) {
		if code := readyz(); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d before the policy resources could be read, want 503", code)
		}
		expect(t, "team-a", app, false, "no policy is in force yet")
	})
	if t.Failed() {
		return
	}

	crdsAt := time.Now()
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{filepath.Join(harness.Root, "deploy", "crds")}, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing deploy/crds: %v", err)
	}
	eventually(t, 30*time.Second, "ready once the resources can be read", func() bool { return readyz() == http.StatusOK })
	t.Logf("ready %s after the CRDs were installed (client-go's reflector backs off between failed lists)", time.Since(crdsAt).Round(time.Millisecond))
	// No ClusterImagePolicy: nothing is allowed.
	expect(t, "team-a", app, false, "no cluster policy rule matches")

	cips := dc.Resource(v1alpha1.ClusterImagePolicies)
	ips := func(ns string) dynamic.ResourceInterface { return dc.Resource(v1alpha1.ImagePolicies).Namespace(ns) }
	baseSpec := `
insecureRegistries: ["` + reg + `"]
validators:
- name: ci
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(ciPub, 6) + `
rules:
- {pattern: "` + reg + `/e2e/**", validator: ci}
- {pattern: "` + reg + `/team/**", validator: namespace}
`
	base, err := cips.Create(ctx, policyObject(t, policy.KindCluster, "", "base", baseSpec), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// status waits for the object's status to say ready (True/False) for
	// its generation, with rules rules; it returns the Ready condition.
	status := func(t *testing.T, ri dynamic.ResourceInterface, name string, ready string, rules int64) map[string]any {
		t.Helper()
		var cond map[string]any
		var last *unstructured.Unstructured
		eventually(t, 10*time.Second, name+"'s status", func() bool {
			o, err := ri.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false
			}
			last = o
			og, _, _ := unstructured.NestedInt64(o.Object, "status", "observedGeneration")
			n, _, _ := unstructured.NestedInt64(o.Object, "status", "rules")
			conds, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
			if og != o.GetGeneration() || n != rules || len(conds) != 1 {
				return false
			}
			cond = conds[0].(map[string]any)
			return cond["type"] == v1alpha1.ConditionReady && cond["status"] == ready
		})
		if t.Failed() {
			t.Logf("last read: %v", last.Object["status"])
		}
		return cond
	}

	t.Run("status", func(t *testing.T) {
		c := status(t, cips, "base", "True", 2)
		if c["reason"] != v1alpha1.ReasonCompiled {
			t.Errorf("Ready condition %v, want reason %s", c, v1alpha1.ReasonCompiled)
		}
		// Written once: no further writes while nothing changes.
		o, err := cips.Get(ctx, "base", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if o2, err := cips.Get(ctx, "base", metav1.GetOptions{}); err != nil || o2.GetResourceVersion() != o.GetResourceVersion() {
			t.Errorf("base was written again without a change: resourceVersion %s → %s (%v)", o.GetResourceVersion(), o2.GetResourceVersion(), err)
		}
	})
	eventually(t, 5*time.Second, "the base policy in force", func() bool { return admit("team-a", app) == nil })
	expect(t, "team-a", unsigned, false, "no cosign signatures found")

	t.Run("a change is in force within 2 seconds", func(t *testing.T) {
		start := time.Now()
		if _, err := cips.Create(ctx, policyObject(t, policy.KindCluster, "", "second", `
validators: [{name: refuse, type: static, approve: false}]
rules: [{pattern: "`+reg+`/e2e/**", validator: refuse}]
`), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for admit("team-a", app) == nil {
			if time.Since(start) > 2*time.Second {
				t.Fatalf("the new ClusterImagePolicy was not in force 2 s after it was created")
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("a new ClusterImagePolicy was in force %s after its create was sent (dry-run admissions every 20 ms)", time.Since(start).Round(time.Millisecond))
	})

	t.Run("two ClusterImagePolicies with tied patterns are both enforced", func(t *testing.T) {
		// "second" has the same pattern as base's rule: both must allow.
		expect(t, "team-a", app, false, `ClusterImagePolicy "second"`)
		start := time.Now()
		if err := cips.Delete(ctx, "second", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "second's rules gone", func() bool { return admit("team-a", app) == nil })
		t.Logf("a deleted ClusterImagePolicy's rules were gone %s after the delete was sent", time.Since(start).Round(time.Millisecond))
	})

	// teamPolicy creates an ImagePolicy in team-a requiring team-a's key
	// for pattern.
	teamPolicy := func(t *testing.T, name, pattern string) {
		t.Helper()
		if _, err := ips("team-a").Create(ctx, policyObject(t, policy.Kind, "team-a", name, `
validators:
- name: team
  type: cosign
  trustRoots:
  - name: team
    key: |
      `+testutil.Indent(teamPub, 6)+`
rules: [{pattern: "`+pattern+`", validator: team}]
`), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("a namespace's policy tightens a rule", func(t *testing.T) {
		teamPolicy(t, "tighten", reg+"/e2e/**")
		status(t, ips("team-a"), "tighten", "True", 1)
		eventually(t, 2*time.Second, "team-a's rule in force", func() bool { return admit("team-a", app) != nil })
		expect(t, "team-a", app, false, `ImagePolicy "team-a/tighten"`)
		expect(t, "team-b", app, true, "")
		if err := ips("team-a").Delete(ctx, "tighten", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "team-a's rule gone", func() bool { return admit("team-a", app) == nil })
	})

	t.Run("delegation: a team's key admits its images in its namespace only", func(t *testing.T) {
		expect(t, "team-a", team, false, "none of them has a rule matching")
		teamPolicy(t, "keys", reg+"/team/**")
		eventually(t, 2*time.Second, "team-a's keys in force", func() bool { return admit("team-a", team) == nil })
		expect(t, "team-b", team, false, `namespace "team-b"`)
	})

	t.Run("a namespace's policy cannot allow what the cluster denies", func(t *testing.T) {
		if _, err := ips("team-b").Create(ctx, policyObject(t, policy.Kind, "team-b", "allow-all", `
validators: [{name: approve, type: static, approve: true}]
rules: [{pattern: "**", validator: approve}]
`), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		status(t, ips("team-b"), "allow-all", "True", 1)
		expect(t, "team-b", unsigned, false, "no cosign signatures found")
		// What the cluster delegates is the namespace's to decide: there,
		// team-b's own rule is the one that applies.
		expect(t, "team-b", team, true, "")
	})

	t.Run("an invalid update keeps the last valid policy", func(t *testing.T) {
		o, err := cips.Get(ctx, "base", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
		rules[0].(map[string]any)["validator"] = "nosuch"
		rules[1].(map[string]any)["validator"] = "allow"
		if err := unstructured.SetNestedSlice(o.Object, rules, "spec", "rules"); err != nil {
			t.Fatal(err)
		}
		if _, err := cips.Update(ctx, o, metav1.UpdateOptions{}); err != nil {
			t.Skipf("the API refuses the invalid update itself (signet's policy webhook): %v", err)
		}
		c := status(t, cips, "base", "False", 2)
		msg, _ := c["message"].(string)
		if c["reason"] != v1alpha1.ReasonInvalid || !strings.Contains(msg, "spec.rules[0].validator") || !strings.Contains(msg, "generation 1 stays in force") {
			t.Errorf("Ready condition %v, want reason %s naming spec.rules[0].validator and the generation in force", c, v1alpha1.ReasonInvalid)
		}
		expect(t, "team-a", app, true, "")
		expect(t, "team-a", unsigned, false, "no cosign signatures found")
		expect(t, "team-a", team, true, "") // generation 1's delegation
	})

	t.Run("deleting the cluster's policy fails closed", func(t *testing.T) {
		if err := cips.Delete(ctx, base.GetName(), metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Second, "base's rules gone", func() bool { return admit("team-a", app) != nil })
		expect(t, "team-a", app, false, "no cluster policy rule matches")
		expect(t, "team-a", team, false, "no cluster policy rule matches")
	})

	t.Run("a burst of changes costs few assemblies", func(t *testing.T) {
		before := gauge(t, metricsAddr, "signet_policy_generation")
		const n = 20
		for i := range n {
			if _, err := cips.Create(ctx, policyObject(t, policy.KindCluster, "", "burst-"+strconv.Itoa(i), `
validators: [{name: approve, type: static, approve: true}]
rules: [{pattern: "`+reg+`/e2e/**", validator: approve}]
`), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 5*time.Second, "the burst in force", func() bool { return admit("team-a", unsigned) == nil })
		after := gauge(t, metricsAddr, "signet_policy_generation")
		t.Logf("%d ClusterImagePolicies created one after another: %v engines assembled", n, after-before)
		if after-before >= n {
			t.Errorf("%v assemblies for %d changes, want fewer", after-before, n)
		}
	})

	t.Run("a policy file given too is one more ClusterImagePolicy", func(t *testing.T) {
		// The burst's policies allow e2e/**; a file denying it ties with
		// them, so a replica serving both denies, and says whose rule it is.
		file := write("both.yaml", []byte(`apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: file}
validators: [{name: refuse, type: static, approve: false}]
rules: [{pattern: "`+reg+`/e2e/**", validator: refuse}]
`))
		bothAddr := harness.FreeAddr(t)
		bothLog := serve(t, bothAddr, "signet-both", "--metrics-addr", "", "--policy", file)
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		harness.WaitHTTP(t, client, "https://"+bothAddr+"/readyz")
		review := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},` +
			`"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"team-a","operation":"CREATE","userInfo":{"username":"e2e"},` +
			`"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"team-a"},"spec":{"containers":[{"name":"c","image":"` + app + `"}]}}}}`
		resp, err := client.Post("https://"+bothAddr+"/validate", "application/json", strings.NewReader(review))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			Response struct {
				Allowed bool
				Status  struct{ Message string }
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		if want := `ClusterImagePolicy "file:` + file + `"`; out.Response.Allowed || !strings.Contains(out.Response.Status.Message, want) {
			t.Errorf("both: allowed %v, %q; want denied by %s\n%s", out.Response.Allowed, out.Response.Status.Message, want, bothLog.String())
		}
		expect(t, "team-a", app, true, "") // the cluster's policy alone

		// Two replicas now watch the objects: neither rewrites a status
		// the other wrote.
		before, err := cips.Get(ctx, "burst-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		if after, err := cips.Get(ctx, "burst-0", metav1.GetOptions{}); err != nil || after.GetResourceVersion() != before.GetResourceVersion() {
			t.Errorf("burst-0 written again with two replicas running: resourceVersion %s → %s (%v)", before.GetResourceVersion(), after.GetResourceVersion(), err)
		}
	})

	t.Run("the decision log names the policy generation", func(t *testing.T) {
		gen := gauge(t, metricsAddr, "signet_policy_generation")
		_ = admit("team-a", app) // allowed by the burst's policies
		want := `"policyGeneration":` + strconv.FormatFloat(gen, 'f', -1, 64)
		eventually(t, 5*time.Second, "a decision line with "+want, func() bool { return strings.Contains(log.String(), want) })
	})
}

// gauge reads a metric without labels from signet's /metrics.
func gauge(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}
