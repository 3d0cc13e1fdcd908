package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

// startWithCRDs starts kube-apiserver and etcd with deploy/crds
// installed.
func startWithCRDs(t *testing.T) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: assets(t), ControlPlaneStartTimeout: 60 * time.Second, ControlPlaneStopTimeout: 30 * time.Second,
		CRDInstallOptions: envtest.CRDInstallOptions{Paths: []string{filepath.Join(harness.Root, "deploy", "crds")}, ErrorIfPathMissing: true}}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd with deploy/crds: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	if len(env.CRDs) != 2 {
		t.Fatalf("installed %d CRDs from deploy/crds, want 2", len(env.CRDs))
	}
	return env, cfg
}

// TestPolicyWebhook installs deploy/crds into a real kube-apiserver with
// signet's policy webhook registered by URL (as the chart registers it by
// Service: policy.signet.dev, /validate-policy, fail closed; the chart's
// rendering) and shows:
// what the schema refuses never reaches signet; what only signet can check
// — a key that does not parse, an unknown validator, CEL that does not
// compile, a threshold above the trust roots, an ImagePolicy's k8s:// key
// in another namespace — is refused with every problem signet policy lint
// reports for the same object, by its field path; valid objects of both
// kinds are stored. Then signet verify --kubeconfig --namespace decides
// with the objects stored (delegation: team-a's key admits team-a's image
// in team-a, not in team-b; an object that does not compile is reported
// and left out). Last, with signet down, creating a policy fails closed.
func TestPolicyWebhook(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	env, cfg := startWithCRDs(t)
	cs := kubernetes.NewForConfigOrDie(cfg)
	dc := dynamic.NewForConfigOrDie(cfg)
	for _, ns := range []string{"team-a", "team-b"} {
		if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// team-a's image, signed by the cosign CLI with team-a's key, which
	// team-a keeps in a Secret of its own namespace.
	reg := harness.StartDistribution(t).Host
	cos := harness.NewCosign(t)
	key, pub := cos.GenKey(t, harness.Tool(t, "cosign2"), "team-a")
	teamImage := harness.Push(t, reg, "teams/team-a/app:v1")
	cos.SignV2(t, key, teamImage)
	if _, err := cs.CoreV1().Secrets("team-a").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cosign"},
		Data: map[string][]byte{keysource.DefaultSecretKey: []byte(pub)}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	parse := func(t *testing.T, doc string) *unstructured.Unstructured {
		t.Helper()
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		return &unstructured.Unstructured{Object: o}
	}
	create := func(o *unstructured.Unstructured, dryRun bool) error {
		ri := dynamic.ResourceInterface(dc.Resource(v1alpha1.ClusterImagePolicies))
		if o.GetKind() == policy.Kind {
			ri = dc.Resource(v1alpha1.ImagePolicies).Namespace(o.GetNamespace())
		}
		opts := metav1.CreateOptions{}
		if dryRun {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err := ri.Create(ctx, o, opts)
		return err
	}

	// Stored before signet's webhook is registered, as by a cluster
	// without it: an object signet cannot compile, which signet verify
	// reports and leaves out.
	if err := create(parse(t, `
apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: stale}
spec:
  validators: [{name: allow, type: static, approve: true}]
  rules: [{pattern: "`+reg+`/teams/**", validator: allw}]
`), false); err != nil {
		t.Fatal(err)
	}

	// signet serve, with the webhook for its policy resources.
	work := t.TempDir()
	write := fileWriter(t, work)
	certPEM, keyPEM, err := fixture.ServingCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	addr := harness.FreeAddr(t)
	serve := exec.Command(harness.ImageBin(t), "serve",
		"--policy", write("policy.yaml", []byte("apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nvalidators: [{name: deny, type: static, approve: false}]\nrules: [{pattern: \"**\", validator: deny}]\n")),
		"--tls-cert", write("tls.crt", certPEM), "--tls-key", write("tls.key", keyPEM),
		"--addr", addr, "--metrics-addr", "", "--namespace", signetNamespace)
	log := &syncBuffer{}
	serve.Stdout, serve.Stderr = log, log
	signet := harness.Start(t, serve)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("signet log:\n%s", log.String())
		}
	})
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	harness.WaitHTTP(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, "https://"+addr+"/readyz")

	// The chart's webhook configurations, by URL: policy.signet.dev, and
	// with policySource=cluster its matchConditions leaving the chart's
	// own ClusterImagePolicy (signet-default) to the policy-lint hook.
	applyChartWebhooks(t, cs, addr, certPEM, "--set", "policySource=cluster", "--api-versions", "signet.dev/v1alpha1/ClusterImagePolicy")

	cip := func(name, spec string) string {
		return "apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\nmetadata: {name: " + name + "}\nspec:\n" + spec
	}
	ip := func(ns, name, spec string) string {
		return "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nmetadata: {name: " + name + ", namespace: " + ns + "}\nspec:\n" + spec
	}
	keyed := func(key, rule string) string {
		k, _ := json.Marshal(key)
		return "  validators: [{name: keys, type: cosign, trustRoots: [{name: ci, key: " + string(k) + "}]}]\n  rules: [" + rule + "]\n"
	}
	key1 := testutil.NewKey(t).PEM
	eventually(t, 30*time.Second, "policy webhook in effect", func() bool {
		err := create(parse(t, cip("probe", keyed(key1, `{pattern: "**", validator: nope}`))), true)
		return err != nil && strings.Contains(err.Error(), `admission webhook "policy.signet.dev" denied the request`)
	})

	t.Run("refused", func(t *testing.T) {
		for _, tc := range []struct {
			name, doc string
			schema    bool   // refused by the CRD's schema, before signet
			field     string // the field path in the answer
		}{
			{"mode outside its set", cip("mode", "  mode: enforse\n"+keyed(key1, `{pattern: "**", validator: keys}`)), true, "spec.mode"},
			{"key that does not parse", cip("pem", keyed("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", `{pattern: "**", validator: keys}`)), false, "spec.validators[0].trustRoots[0].key"},
			{"unknown validator", cip("validator", keyed(key1, `{pattern: "**", validator: keys-prod}`)), false, "spec.rules[0].validator"},
			{"CEL that does not compile", cip("cel", keyed(key1, `{pattern: "**", validator: keys, with: {attestations: [{name: prov, type: slsaprovenance1, conditions: [{expression: "predicate.("}]}]}}`)), false, "spec.rules[0].with.attestations[0].conditions[0].expression"},
			{"threshold above the trust roots", cip("threshold", keyed(key1, `{pattern: "**", validator: keys, with: {threshold: 2}}`)), false, "spec.rules[0].with.threshold"},
			{"key of another namespace", ip("team-a", "keys", keyed("k8s://team-b/cosign", `{pattern: "`+reg+`/teams/team-a/**", validator: keys}`)), false, "spec.validators[0].trustRoots[0].key"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				o := parse(t, tc.doc)
				err := create(o, false)
				if err == nil {
					t.Fatal("stored")
				}
				msg := err.Error()
				webhook := strings.Contains(msg, `admission webhook "policy.signet.dev" denied the request`)
				if webhook == tc.schema || !strings.Contains(msg, tc.field) {
					t.Fatalf("refused by the webhook: %v, want %v, naming %s: %s", webhook, !tc.schema, tc.field, msg)
				}
				if tc.schema {
					return
				}
				b, _ := json.Marshal(o.Object)
				r := policy.Lint(b)
				if r.Valid() {
					t.Fatalf("lint finds it valid; the API server said %s", msg)
				}
				for _, fe := range r.Errors {
					if want := fe.Field + ": " + fe.Msg; !strings.Contains(msg, want) {
						t.Errorf("the answer does not say what lint does, %q:\n%s", want, msg)
					}
				}
			})
		}
	})

	// Valid objects of both kinds are stored: the cluster delegates its
	// teams' images to their namespaces, and team-a trusts its key.
	for _, doc := range []string{
		cip("teams", `  insecureRegistries: ["`+reg+`"]
  validators: [{name: deny, type: static, approve: false}]
  rules:
  - {pattern: "`+reg+`/teams/**", validator: namespace}
  - {pattern: "**", validator: deny}
`),
		ip("team-a", "keys", keyed("k8s://team-a/cosign", `{pattern: "`+reg+`/teams/team-a/**", validator: keys}`)),
	} {
		if err := create(parse(t, doc), false); err != nil {
			t.Fatalf("a valid object is refused: %v\n%s", err, doc)
		}
	}

	// The chart's own ClusterImagePolicy is not sent to signet (on a first
	// install it is created before signet answers); any other name is.
	if err := create(parse(t, cip("signet-default", keyed(key1, `{pattern: "**", validator: nope}`))), true); err != nil {
		t.Errorf("the chart's ClusterImagePolicy is sent to the policy webhook: %v", err)
	}

	t.Run("verify", func(t *testing.T) {
		kubeconfig := writeKubeconfig(t, env, "admin")
		for _, tc := range []struct {
			ns   string
			code int
			has  string
		}{
			{"team-a", 0, `"allowed": true`},
			{"team-b", 1, `delegates the images it matches to the ImagePolicies of namespace \"team-b\"`},
		} {
			code, stdout, stderr := harness.ExitCode(t, exec.Command(harness.ImageBin(t), "verify", "--kubeconfig", kubeconfig, "--namespace", tc.ns, "-o", "json", teamImage.Context().Tag("v1").String()))
			if code != tc.code || !strings.Contains(stdout, tc.has) {
				t.Errorf("namespace %s: exit %d, want %d with %q:\n%s\n%s", tc.ns, code, tc.code, tc.has, stdout, stderr)
			}
			if !strings.Contains(stderr, `ClusterImagePolicy "stale" is left out`) || !strings.Contains(stderr, "spec.rules[0].validator") {
				t.Errorf("namespace %s: stderr does not report the object left out:\n%s", tc.ns, stderr)
			}
		}
		// --policy as well: the file is one more ClusterImagePolicy, whose
		// rule tied with the delegation must allow too; an invalid file is
		// a usage error.
		for _, tc := range []struct {
			file string
			code int
			has  string
		}{
			{"validators: [{name: deny, type: static, approve: false}]\nrules: [{pattern: \"" + reg + "/teams/**\", validator: deny}]\n", 1, `"allowed": false`},
			{"validators: [{name: deny, type: static, approve: false}]\nrules: [{pattern: \"" + reg + "/teams/**\", validator: nope}]\n", 2, `rules[0].validator: unknown validator "nope"`},
		} {
			file := write("extra.yaml", []byte("apiVersion: signet.dev/v1alpha1\nkind: ClusterImagePolicy\n"+tc.file))
			code, stdout, stderr := harness.ExitCode(t, exec.Command(harness.ImageBin(t), "verify", "--kubeconfig", kubeconfig, "--namespace", "team-a",
				"--policy-source", "cluster", "--policy", file, "-o", "json", teamImage.Context().Tag("v1").String()))
			if code != tc.code || !strings.Contains(stdout+stderr, tc.has) {
				t.Errorf("with --policy: exit %d, want %d with %q:\n%s\n%s", code, tc.code, tc.has, stdout, stderr)
			}
		}
	})

	// signet down: no policy object is stored unchecked.
	signet.Stop()
	err = create(parse(t, cip("while-down", keyed(key1, `{pattern: "**", validator: keys}`))), false)
	if err == nil || !strings.Contains(err.Error(), `failed calling webhook "policy.signet.dev"`) {
		t.Errorf("with signet down, a policy is created: %v", err)
	}
}
