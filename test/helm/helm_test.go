// Package helm checks the Helm chart with the real helm CLI (pinned in
// hack/tools/helm): lint, render, and the properties a fail-closed
// admission webhook must have.
package helm

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// root is the repository root: go test runs a package's tests in its
// directory, two levels below.
func root() string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return r
}

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(root(), "hack", "tool.sh"), "helm").Output()
	if err != nil {
		t.Fatalf("hack/tool.sh helm: %v", err)
	}
	cmd := exec.Command(strings.TrimSpace(string(out)), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String() + stderr.String(), err
}

func chart() string { return filepath.Join(root(), "deploy", "helm", "signet") }

// render returns the chart's objects by "Kind/name".
func render(t *testing.T, set ...string) map[string]map[string]any {
	t.Helper()
	return renderArgs(t, templateArgs(set...)...)
}

// renderArgs is render with helm template's arguments.
func renderArgs(t *testing.T, args ...string) map[string]map[string]any {
	t.Helper()
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := map[string]map[string]any{}
	for _, doc := range strings.Split(out, "\n---") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		if o == nil {
			continue
		}
		md := o["metadata"].(map[string]any)
		objs[o["kind"].(string)+"/"+md["name"].(string)] = o
		if ns, ok := md["namespace"].(string); ok {
			objs[o["kind"].(string)+"/"+ns+"/"+md["name"].(string)] = o
		}
	}
	return objs
}

// templateArgs renders into signet-system; a --set value starting with "{"
// or "[" is JSON (--set-json).
func templateArgs(set ...string) []string {
	args := []string{"template", "rel", chart(), "--namespace", "signet-system", "--kube-version", "1.34.0"}
	for _, s := range set {
		flag := "--set"
		if _, v, _ := strings.Cut(s, "="); strings.HasPrefix(v, "{") || strings.HasPrefix(v, "[") {
			flag = "--set-json"
		}
		args = append(args, flag, s)
	}
	return args
}

func get(o any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := o.(map[string]any)
			if !ok {
				return nil
			}
			o = m[k]
		case int:
			s, ok := o.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			o = s[k]
		}
	}
	return o
}

func TestLint(t *testing.T) {
	t.Parallel()
	if out, err := helm(t, "lint", "--strict", chart(), "--namespace", "signet-system"); err != nil {
		t.Fatalf("helm lint: %v\n%s", err, out)
	}
	// Every optional object at once.
	if out, err := helm(t, "lint", "--strict", chart(), "--namespace", "signet-system", "--set", "webhook.ignoreLabel=signet.dev/ignore",
		"--set", "metrics.serviceMonitor.enabled=true,metrics.prometheusRule.enabled=true,metrics.dashboard.enabled=true",
		"--set", "tls.mode=certManager,registryCA.secretName=corp-ca,redis.existingSecret=r,webhook.clientCA.secretName=apiserver-ca,reverify.action=evict", "--set-json", `registryAuth.pullSecrets={"namespaces":["a"]}`); err != nil {
		t.Fatalf("helm lint, every option: %v\n%s", err, out)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	objs := render(t)
	for _, want := range []string{"Deployment/rel-signet", "Service/rel-signet", "PodDisruptionBudget/rel-signet", "ServiceAccount/rel-signet",
		"ClusterRole/rel-signet", "ClusterRoleBinding/rel-signet", "Role/rel-signet", "RoleBinding/rel-signet", "ConfigMap/rel-signet-policy",
		"MutatingWebhookConfiguration/rel-signet", "ValidatingWebhookConfiguration/rel-signet", "NetworkPolicy/rel-signet",
		"Job/rel-signet-policy-lint", "ConfigMap/rel-signet-policy-lint"} {
		if objs[want] == nil {
			t.Errorf("missing %s", want)
		}
	}
	dep := objs["Deployment/rel-signet"]
	if r := get(dep, "spec", "replicas"); r != float64(3) {
		t.Errorf("replicas = %v", r)
	}
	if get(dep, "spec", "template", "spec", "affinity", "podAntiAffinity") == nil {
		t.Error("no pod anti-affinity")
	}
	sc := get(dep, "spec", "template", "spec", "containers", 0, "securityContext")
	for k, v := range map[string]any{"runAsNonRoot": true, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false} {
		if get(sc, k) != v {
			t.Errorf("container securityContext.%s = %v", k, get(sc, k))
		}
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		wh := get(objs[kind+"/rel-signet"], "webhooks", 0)
		if get(wh, "failurePolicy") != "Fail" || get(wh, "sideEffects") != "None" || get(wh, "timeoutSeconds") != float64(10) {
			t.Errorf("%s: failurePolicy %v sideEffects %v timeout %v", kind, get(wh, "failurePolicy"), get(wh, "sideEffects"), get(wh, "timeoutSeconds"))
		}
		if get(wh, "clientConfig", "caBundle") != nil {
			t.Errorf("%s: a rendered caBundle (signet publishes it)", kind)
		}
		excluded := get(wh, "namespaceSelector", "matchExpressions", 0, "values").([]any)
		if len(excluded) < 2 || excluded[0] != "signet-system" || excluded[1] != "kube-system" {
			t.Errorf("%s: excluded namespaces %v", kind, excluded)
		}
		var resources []string
		for _, r := range get(wh, "rules").([]any) {
			for _, x := range get(r, "resources").([]any) {
				resources = append(resources, x.(string))
			}
		}
		for _, want := range []string{"pods", "pods/ephemeralcontainers", "deployments", "replicasets", "statefulsets", "daemonsets", "jobs", "cronjobs", "replicationcontrollers", "podtemplates"} {
			if !strings.Contains(" "+strings.Join(resources, " ")+" ", " "+want+" ") {
				t.Errorf("%s: rules miss %s", kind, want)
			}
		}
	}
	// Least privilege: read-only on workloads (get for child approval;
	// list and watch for the re-verifier), writes only to Events and
	// PolicyReports (the re-verifier's); no Secret outside signet's
	// namespace unless registryAuth.pullSecrets grants it, no eviction
	// unless reverify.action is evict (TestReverify).
	for _, r := range get(objs["ClusterRole/rel-signet"], "rules").([]any) {
		writes := strings.Contains(" events policyreports ", " "+fmt.Sprint(get(r, "resources", 0))+" ")
		for _, v := range get(r, "verbs").([]any) {
			if !writes && v != "get" && v != "list" && v != "watch" {
				t.Errorf("ClusterRole verbs %v on %v", get(r, "verbs"), get(r, "resources"))
			}
		}
	}
	if got := rbacResources(objs["ClusterRole/rel-signet"]); strings.Contains(got, " secrets ") || strings.Contains(got, " serviceaccounts ") || strings.Contains(got, "eviction") || !strings.Contains(got, " deployments ") {
		t.Errorf("ClusterRole resources:%s", got)
	}
	if got := rbacResources(objs["Role/rel-signet"]); strings.Trim(strings.NewReplacer("secrets", "", "leases", "").Replace(got), " ") != "" || get(objs["Role/rel-signet"], "metadata", "namespace") != "signet-system" {
		t.Errorf("Role in %v on%s, want secrets and leases in signet-system only", get(objs["Role/rel-signet"], "metadata", "namespace"), got)
	}
	args := fmt.Sprint(get(dep, "spec", "template", "spec", "containers", 0, "args"))
	env := fmt.Sprint(get(dep, "spec", "template", "spec", "containers", 0, "env"))
	if !strings.Contains(args, "--pull-secrets=false") || !strings.Contains(env, "POD_NAMESPACE") {
		t.Errorf("args %s, env %s: want --pull-secrets=false and POD_NAMESPACE", args, env)
	}
	// The default policy is a valid signet policy.
	doc, err := policy.Parse([]byte(get(objs["ConfigMap/rel-signet-policy"], "data", "policy.yaml").(string)))
	if err == nil {
		_, err = policy.Compile(doc, registry.MustNew())
	}
	if err != nil {
		t.Errorf("the chart's default policy: %v", err)
	}
}

// rbacResources lists the resources of a (Cluster)Role's rules, each
// surrounded by spaces.
func rbacResources(role any) string {
	var b strings.Builder
	b.WriteString(" ")
	for _, r := range get(role, "rules").([]any) {
		for _, x := range get(r, "resources").([]any) {
			b.WriteString(x.(string) + " ")
		}
	}
	return b.String()
}

// TestPullSecrets: signet reads workloads' pull secrets only where granted:
// nowhere by default, in listed namespaces through RoleBindings, or in every
// namespace when clusterWide (the wider blast radius) is asked for.
func TestPullSecrets(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set           []string
		flag          string
		clusterRole   string // resources the main ClusterRole must (+) or must not (-) grant
		namespaceRBAC []string
	}{
		{nil, "--pull-secrets=false", "-secrets -serviceaccounts", nil},
		{[]string{`registryAuth.pullSecrets={"namespaces":["team-a","team-b"]}`}, "--pull-secrets=true", "-secrets +serviceaccounts", []string{"team-a", "team-b"}},
		{[]string{`registryAuth.pullSecrets={"clusterWide":true}`}, "--pull-secrets=true", "+secrets +serviceaccounts", nil},
	} {
		objs := render(t, tc.set...)
		got := rbacResources(objs["ClusterRole/rel-signet"])
		for _, want := range strings.Fields(tc.clusterRole) {
			if strings.Contains(got, " "+want[1:]+" ") != (want[0] == '+') {
				t.Errorf("%v: ClusterRole resources:%s, want %s", tc.set, got, want)
			}
		}
		if args := fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args")); !strings.Contains(args, tc.flag) {
			t.Errorf("%v: args %s lack %s", tc.set, args, tc.flag)
		}
		var bound []string
		for k, o := range objs {
			if strings.HasPrefix(k, "RoleBinding/") && strings.Count(k, "/") == 2 && get(o, "roleRef", "name") == "rel-signet-pull-secrets" {
				bound = append(bound, get(o, "metadata", "namespace").(string))
			}
		}
		slices.Sort(bound)
		if !slices.Equal(bound, tc.namespaceRBAC) {
			t.Errorf("%v: pull-secret RoleBindings in %v, want %v", tc.set, bound, tc.namespaceRBAC)
		}
		if len(tc.namespaceRBAC) > 0 && rbacResources(objs["ClusterRole/rel-signet-pull-secrets"]) != " secrets " {
			t.Errorf("%v: the pull-secrets ClusterRole grants%s", tc.set, rbacResources(objs["ClusterRole/rel-signet-pull-secrets"]))
		}
	}
	if objs := render(t, "admission.childApproval=false", "reverify.enabled=false"); objs["ClusterRole/rel-signet"] != nil || objs["ClusterRoleBinding/rel-signet"] != nil {
		t.Error("a ClusterRole with nothing to grant is rendered")
	}
}

// TestCacheAndRedis: cache settings become flags; the Redis URL comes from
// a Secret through the environment, never from an argument (it may hold a
// password and arguments are visible in the pod spec and in ps).
func TestCacheAndRedis(t *testing.T) {
	t.Parallel()
	objs := render(t, "cache.ttl=5m", "cache.size=500", "redis.existingSecret=signet-redis", "decisionLog=stdout")
	c := get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0)
	args := fmt.Sprint(get(c, "args"))
	for _, want := range []string{"--cache-ttl=5m", "--cache-size=500", "--cache-failed-ttl=30s", "--tag-ttl=30s", "--decision-log=stdout"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %s lack %s", args, want)
		}
	}
	if strings.Contains(args, "redis") {
		t.Errorf("a Redis setting in args: %s", args)
	}
	env := fmt.Sprint(get(c, "env"))
	if !strings.Contains(env, "SIGNET_REDIS_URL") || !strings.Contains(env, "signet-redis") {
		t.Errorf("env %s: no SIGNET_REDIS_URL from the Secret", env)
	}
	def := fmt.Sprint(get(render(t)["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "env"))
	if strings.Contains(def, "SIGNET_REDIS_URL") {
		t.Errorf("Redis configured by default: %s", def)
	}
}

func TestCertManager(t *testing.T) {
	t.Parallel()
	// self-signed root -> CA Certificate -> CA Issuer -> serving
	// Certificate; the webhooks trust the CA, which renewals keep.
	objs := render(t, "tls.mode=certManager")
	if objs["Secret/rel-signet-tls"] != nil {
		t.Error("cert-manager mode renders a generated Secret")
	}
	ca, serving := objs["Certificate/rel-signet-ca"], objs["Certificate/rel-signet"]
	if get(objs["Issuer/rel-signet-selfsigned"], "spec", "selfSigned") == nil || get(ca, "spec", "isCA") != true ||
		get(ca, "spec", "issuerRef", "name") != "rel-signet-selfsigned" || get(ca, "spec", "privateKey", "rotationPolicy") != "Never" {
		t.Errorf("CA: %v", ca)
	}
	if get(objs["Issuer/rel-signet-ca"], "spec", "ca", "secretName") != get(ca, "spec", "secretName") || get(serving, "spec", "issuerRef", "name") != "rel-signet-ca" {
		t.Errorf("the serving certificate is not issued by the CA Issuer: %v", get(serving, "spec", "issuerRef"))
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if a := get(objs[kind+"/rel-signet"], "metadata", "annotations", "cert-manager.io/inject-ca-from"); a != "signet-system/rel-signet-ca" {
			t.Errorf("%s: inject-ca-from = %v", kind, a)
		}
	}
	// With the user's issuer, no chart CA; the CA comes with the serving certificate.
	objs = render(t, "tls.mode=certManager", `tls.certManager.issuerRef={"name":"corp","kind":"ClusterIssuer"}`)
	if objs["Certificate/rel-signet-ca"] != nil || objs["Issuer/rel-signet-ca"] != nil || get(objs["Certificate/rel-signet"], "spec", "issuerRef", "name") != "corp" {
		t.Error("issuerRef: the chart's CA is still rendered, or the serving certificate is not issued by corp")
	}
	if a := get(objs["MutatingWebhookConfiguration/rel-signet"], "metadata", "annotations", "cert-manager.io/inject-ca-from"); a != "signet-system/rel-signet" {
		t.Errorf("issuerRef: inject-ca-from = %v", a)
	}
}

// TestTLSModes: signet-managed TLS (the default) renders no certificate
// and no caBundle, and grants signet its own Secret and its two webhook
// configurations' caBundle by name; generate renders both.
func TestTLSModes(t *testing.T) {
	t.Parallel()
	objs := render(t)
	if objs["Secret/rel-signet-tls"] != nil || objs["Secret/rel-signet-managed-tls"] != nil {
		t.Error("managed mode renders a Secret")
	}
	args := fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args"))
	for _, want := range []string{"--tls-mode=managed", "--tls-secret=rel-signet-managed-tls", "--tls-service=rel-signet",
		"--mutating-webhook-configuration=rel-signet", "--validating-webhook-configuration=rel-signet"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %s: missing %s", args, want)
		}
	}
	if strings.Contains(args, "--tls-cert") || strings.Contains(fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "volumes")), "rel-signet-tls") {
		t.Error("managed mode mounts a certificate")
	}
	rules := fmt.Sprint(get(objs["Role/rel-signet"], "rules"))
	if !strings.Contains(rules, "resourceNames:[rel-signet-managed-tls]") || !strings.Contains(rules, "verbs:[update]") || !strings.Contains(rules, "verbs:[create]") {
		t.Errorf("Role rules %s: want create, and update on rel-signet-managed-tls by name", rules)
	}
	wrules := get(objs["ClusterRole/rel-signet-webhook-ca"], "rules").([]any)
	if len(wrules) != 1 || fmt.Sprint(get(wrules[0], "resourceNames")) != "[rel-signet]" || fmt.Sprint(get(wrules[0], "verbs")) != "[get patch]" {
		t.Errorf("webhook caBundle rules %v: want get and patch on rel-signet by name", wrules)
	}
	if objs["ClusterRoleBinding/rel-signet-webhook-ca"] == nil {
		t.Error("no ClusterRoleBinding for the webhook caBundle")
	}

	objs = render(t, "tls.mode=generate")
	if objs["Secret/rel-signet-tls"] == nil || objs["ClusterRole/rel-signet-webhook-ca"] != nil {
		t.Error("generate mode: no Secret, or the managed mode's RBAC")
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if get(objs[kind+"/rel-signet"], "webhooks", 0, "clientConfig", "caBundle") == nil {
			t.Errorf("generate mode: %s has no caBundle", kind)
		}
	}
	if !strings.Contains(fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args")), "--tls-cert=/etc/signet/tls/tls.crt") {
		t.Error("generate mode: no --tls-cert")
	}

	// secret: the user's Secret is mounted, nothing generated, their CA
	// published; without the Secret's name or the CA, rendering fails.
	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	objs = render(t, "tls.mode=secret", "tls.secret.name=my-serving-cert", "tls.secret.caBundle="+ca)
	if objs["Secret/rel-signet-tls"] != nil || objs["Secret/rel-signet-managed-tls"] != nil || objs["ClusterRole/rel-signet-webhook-ca"] != nil {
		t.Error("secret mode renders a Secret or the managed mode's RBAC")
	}
	if v := fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "volumes")); !strings.Contains(v, "secretName:my-serving-cert") {
		t.Errorf("secret mode: volumes %s do not mount my-serving-cert", v)
	}
	if !strings.Contains(fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args")), "--tls-cert=/etc/signet/tls/tls.crt") {
		t.Error("secret mode: no --tls-cert")
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		got, _ := get(objs[kind+"/rel-signet"], "webhooks", 0, "clientConfig", "caBundle").(string)
		if b, err := base64.StdEncoding.DecodeString(got); err != nil || string(b) != strings.ReplaceAll(ca, "\\n", "\n") {
			t.Errorf("secret mode: %s caBundle %q, want the given CA", kind, got)
		}
	}
	for _, set := range [][]string{{"tls.mode=secret", "tls.secret.caBundle=" + ca}, {"tls.mode=secret", "tls.secret.name=my-serving-cert"}} {
		if out, err := helm(t, templateArgs(set...)...); err == nil || !strings.Contains(out, "tls.mode secret needs") {
			t.Errorf("--set %v: %v %.200s; want the missing value named", set, err, out)
		}
	}
}

// TestAdditionalCABundle: tls.additionalCABundle is published after the
// mode's own CA where the chart renders the caBundle (generate, secret);
// with managed and certManager, where signet or cert-manager's injector
// owns the caBundle, rendering fails naming the value.
func TestAdditionalCABundle(t *testing.T) {
	t.Parallel()
	const own, extra = "-----BEGIN CERTIFICATE-----\nOWN\n-----END CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\nEXTRA\n-----END CERTIFICATE-----\n"
	for _, tc := range []struct {
		name string
		set  []string
		own  string // the mode's CA, PEM; "" for generate's generated CA
	}{
		{"secret", []string{"tls.mode=secret", "tls.secret.name=my-serving-cert", "tls.secret.caBundle=" + own}, own},
		{"generate", []string{"tls.mode=generate"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := render(t, append(tc.set, "tls.additionalCABundle="+extra)...)
			for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
				got, _ := get(objs[kind+"/rel-signet"], "webhooks", 0, "clientConfig", "caBundle").(string)
				b, err := base64.StdEncoding.DecodeString(got)
				if err != nil {
					t.Fatalf("%s caBundle %q: %v", kind, got, err)
				}
				first, rest, ok := strings.Cut(string(b), "-----END CERTIFICATE-----\n")
				if !ok || !strings.HasPrefix(first, "-----BEGIN CERTIFICATE-----") || strings.TrimSpace(rest) != strings.TrimSpace(extra) {
					t.Errorf("%s caBundle:\n%s\nwant the mode's CA, then the additional one", kind, b)
				}
				if tc.own != "" && first+"-----END CERTIFICATE-----\n" != tc.own {
					t.Errorf("%s caBundle starts %q, want the mode's CA", kind, first)
				}
			}
			if tc.name == "generate" {
				ca, _ := get(objs["Secret/rel-signet-tls"], "data", "ca.crt").(string)
				if b, _ := base64.StdEncoding.DecodeString(ca); strings.Contains(string(b), "EXTRA") {
					t.Error("the additional CA is in the generated Secret's ca.crt")
				}
			}
		})
	}
	for _, mode := range []string{"managed", "certManager"} {
		out, err := helm(t, templateArgs("tls.mode="+mode, "tls.additionalCABundle="+extra)...)
		if err == nil || !strings.Contains(out, "tls.additionalCABundle applies to tls.mode generate and secret, not "+mode) {
			t.Errorf("tls.mode=%s with tls.additionalCABundle: %v %.300s; want it refused", mode, err, out)
		}
	}
	if out, err := helm(t, templateArgs("tls.mode=secret", "tls.additionalCABundle=not a certificate")...); err == nil || !strings.Contains(out, "schema") {
		t.Errorf("a non-PEM tls.additionalCABundle: %v %.300s; want a schema error", err, out)
	}
}

func TestSchemaRejects(t *testing.T) {
	t.Parallel()
	for _, set := range []string{"webhook.failurePolicy=Sometimes", "replicaCount=0", "tls.mode=none", "image.digest=latest", "unknownValue=1",
		"registryAuth.pullSecrets=true", "registryAuth.pullSecrets.clusterWide=maybe", `registryAuth.pullSecrets.namespaces=["Not A Namespace"]`,
		"cache.ttl=forever", "decisionLog=syslog", "redis.url=redis://x", "metrics.serviceMonitor=true", "networkPolicy.enabled=maybe",
		`networkPolicy.apiServer.cidrs=["everywhere"]`, `extraArgs=["serve"]`, "webhook.ignoreLabel=not a label", `webhook.ignoreLabelGroups=[]`,
		"hostNetwork=yes", "registryCA.key=../etc/passwd", `podLabels={"a":1}`,
		"reverify.action=delete", "reverify.interval=hourly", "reverify.concurrency=0", "reverify.evictionsPerMinute=0", "reverify.keyCheckInterval=-1s",
		"reverify.policyReports=true", "reverify.leaseName=Not_A_Name"} {
		out, err := helm(t, templateArgs(set)...)
		if err == nil {
			t.Errorf("--set %s rendered; want a schema error\n%s", set, out[:min(len(out), 200)])
		} else if !strings.Contains(out, "schema") {
			t.Errorf("--set %s: %s; want a schema error", set, out)
		}
	}
}
