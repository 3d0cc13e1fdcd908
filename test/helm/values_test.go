package helm

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

func container(objs map[string]map[string]any) any {
	return get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0)
}

// TestExtensionValues: each extension value reaches the Deployment (or its
// service account) as given.
func TestExtensionValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set   []string
		check func(objs map[string]map[string]any) string
	}{
		{[]string{`serviceAccount.annotations={"eks.amazonaws.com/role-arn":"arn:aws:iam::1:role/signet"}`}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(o["ServiceAccount/rel-signet"], "metadata", "annotations", "eks.amazonaws.com/role-arn"))
		}},
		{[]string{`imagePullSecrets=[{"name":"regcred"}]`}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(o["Deployment/rel-signet"], "spec", "template", "spec", "imagePullSecrets", 0, "name"), get(o["Job/rel-signet-policy-lint"], "spec", "template", "spec", "imagePullSecrets", 0, "name"))
		}},
		{[]string{`extraArgs=["--reload-interval=5s"]`}, func(o map[string]map[string]any) string {
			args := get(container(o), "args").([]any)
			return fmt.Sprint(args[len(args)-1])
		}},
		{[]string{`extraEnv=[{"name":"HTTPS_PROXY","value":"http://proxy:3128"}]`}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(container(o), "env"))
		}},
		{[]string{`extraVolumes=[{"name":"corp-certs","secret":{"secretName":"corp-certs"}}]`, `extraVolumeMounts=[{"name":"corp-certs","mountPath":"/etc/signet/corp-certs"}]`}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(o["Deployment/rel-signet"], "spec", "template", "spec", "volumes"), get(container(o), "volumeMounts"))
		}},
		{[]string{`podAnnotations={"prometheus.io/scrape":"true"}`, `podLabels={"team":"platform","app.kubernetes.io/name":"evil"}`}, func(o map[string]map[string]any) string {
			md := get(o["Deployment/rel-signet"], "spec", "template", "metadata")
			return fmt.Sprintln(get(md, "annotations", "prometheus.io/scrape"), get(md, "labels", "team"), get(md, "labels", "app.kubernetes.io/name"))
		}},
		{[]string{"priorityClassName=tenant-critical"}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(o["Deployment/rel-signet"], "spec", "template", "spec", "priorityClassName"))
		}},
		{[]string{`topologySpreadConstraints=[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"ScheduleAnyway"}]`}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(o["Deployment/rel-signet"], "spec", "template", "spec", "topologySpreadConstraints", 0, "topologyKey"))
		}},
		{[]string{"hostNetwork=true"}, func(o map[string]map[string]any) string {
			spec := get(o["Deployment/rel-signet"], "spec", "template", "spec")
			return fmt.Sprintln(get(spec, "hostNetwork"), get(spec, "dnsPolicy"), o["NetworkPolicy/rel-signet"] == nil)
		}},
		{[]string{"registryCA.secretName=corp-ca"}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(container(o), "args"), get(o["Deployment/rel-signet"], "spec", "template", "spec", "volumes"))
		}},
		{[]string{"registryCA.configMapName=corp-ca", "registryCA.key=bundle.pem"}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(container(o), "args"), get(o["Deployment/rel-signet"], "spec", "template", "spec", "volumes"))
		}},
		{[]string{"image.digest=sha256:" + strings.Repeat("ab", 32)}, func(o map[string]map[string]any) string {
			return fmt.Sprint(get(container(o), "image"), " ", get(o["Job/rel-signet-policy-lint"], "spec", "template", "spec", "containers", 0, "image"))
		}},
	} {
		got := tc.check(render(t, tc.set...))
		want := map[string][]string{
			"serviceAccount.annotations": {"arn:aws:iam::1:role/signet"},
			"imagePullSecrets":           {"regcredregcred"},
			"extraArgs":                  {"--reload-interval=5s"},
			"extraEnv":                   {"HTTPS_PROXY", "POD_NAMESPACE"},
			"extraVolumes":               {"secretName:corp-certs", "mountPath:/etc/signet/corp-certs"},
			"podAnnotations":             {"true platform signet"},
			"priorityClassName":          {"tenant-critical"},
			"topologySpreadConstraints":  {"topology.kubernetes.io/zone"},
			"hostNetwork":                {"true ClusterFirstWithHostNet true"},
			"registryCA.secretName":      {"--registry-ca=/etc/signet/registry-ca/ca.crt", "secretName:corp-ca", "key:ca.crt"},
			"registryCA.configMapName":   {"--registry-ca=/etc/signet/registry-ca/bundle.pem", "name:corp-ca", "key:bundle.pem"},
			"image.digest":               {"ghcr.io/signet-dev/signet@sha256:abab", " ghcr.io/signet-dev/signet@sha256:abab"},
		}[strings.Split(tc.set[0], "=")[0]]
		if want == nil {
			t.Fatalf("no expectation for %v", tc.set)
		}
		for _, w := range want {
			if !strings.Contains(got, w) {
				t.Errorf("%v: got %s, want %q in it", tc.set, got, w)
			}
		}
	}
	def := render(t)
	if p := get(def["Deployment/rel-signet"], "spec", "template", "spec", "priorityClassName"); p != "system-cluster-critical" {
		t.Errorf("default priorityClassName %v", p)
	}
	if out, err := helm(t, templateArgs("registryCA.secretName=a", "registryCA.configMapName=b")...); err == nil || !strings.Contains(out, "not both") {
		t.Errorf("registryCA with a Secret and a ConfigMap: %v %s", err, out)
	}
}

// TestRefusedNamespaces: signet's namespace is excluded from its webhooks,
// so a shared one would exempt every workload in it.
func TestRefusedNamespaces(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		out, err := helm(t, "template", "rel", chart(), "--namespace", ns, "--kube-version", "1.34.0")
		if err == nil || !strings.Contains(out, fmt.Sprintf("signet must not be installed in namespace %q", ns)) {
			t.Errorf("namespace %s: %v\n%s", ns, err, out[:min(len(out), 300)])
		}
	}
}

// TestGuaranteedMemory: memory request = limit by default, and the chart
// refuses anything else.
func TestGuaranteedMemory(t *testing.T) {
	t.Parallel()
	res := get(container(render(t)), "resources")
	for _, r := range []string{"memory", "cpu"} {
		if req, lim := get(res, "requests", r), get(res, "limits", r); req == nil || req != lim {
			t.Errorf("%s request %v, limit %v", r, req, lim)
		}
	}
	for _, set := range []string{"resources.requests.memory=64Mi", "resources.limits.memory=1Gi"} {
		if out, err := helm(t, templateArgs(set)...); err == nil || !strings.Contains(out, "must equal resources.limits.memory") {
			t.Errorf("%s: %v %s", set, err, out[:min(len(out), 300)])
		}
	}
	if res := get(container(render(t, "resources.requests.memory=1Gi", "resources.limits.memory=1Gi")), "resources"); get(res, "limits", "memory") != "1Gi" {
		t.Errorf("resources %v", res)
	}
}

// TestIgnoreLabel: the namespace opt-out is off by default; when on, a
// ValidatingAdmissionPolicy lets only the named groups set or remove it.
func TestIgnoreLabel(t *testing.T) {
	t.Parallel()
	keys := func(objs map[string]map[string]any) (ks []string) {
		for _, e := range get(objs["MutatingWebhookConfiguration/rel-signet"], "webhooks", 0, "namespaceSelector", "matchExpressions").([]any) {
			ks = append(ks, get(e, "key").(string))
		}
		return ks
	}
	objs := render(t)
	if ks := keys(objs); !slices.Equal(ks, []string{"kubernetes.io/metadata.name"}) {
		t.Errorf("default namespaceSelector keys %v: want no opt-out label", ks)
	}
	if objs["ValidatingAdmissionPolicy/rel-signet-ignore-label"] != nil || objs["ValidatingAdmissionPolicyBinding/rel-signet-ignore-label"] != nil {
		t.Error("a label guard without a label")
	}
	objs = render(t, "webhook.ignoreLabel=signet.dev/ignore", `webhook.ignoreLabelGroups=["platform-admins"]`)
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		e := get(objs[kind+"/rel-signet"], "webhooks", 0, "namespaceSelector", "matchExpressions", 1)
		if get(e, "key") != "signet.dev/ignore" || get(e, "operator") != "NotIn" || fmt.Sprint(get(e, "values")) != "[true]" {
			t.Errorf("%s: opt-out selector %v", kind, e)
		}
	}
	vap := objs["ValidatingAdmissionPolicy/rel-signet-ignore-label"]
	rule := get(vap, "spec", "matchConstraints", "resourceRules", 0)
	if fmt.Sprint(get(rule, "operations")) != "[CREATE UPDATE]" || !strings.Contains(fmt.Sprint(get(rule, "resources")), "namespaces") || get(vap, "spec", "failurePolicy") != "Fail" {
		t.Errorf("policy rule %v", rule)
	}
	vars := fmt.Sprint(get(vap, "spec", "variables"))
	if !strings.Contains(vars, `"signet.dev/ignore"`) || !strings.Contains(vars, `["platform-admins"]`) {
		t.Errorf("policy variables %s", vars)
	}
	b := objs["ValidatingAdmissionPolicyBinding/rel-signet-ignore-label"]
	if get(b, "spec", "policyName") != "rel-signet-ignore-label" || fmt.Sprint(get(b, "spec", "validationActions")) != "[Deny]" {
		t.Errorf("binding %v", b)
	}
}

// TestNetworkPolicy: ingress only to the webhook port from the API server's
// addresses (minus Pod CIDRs) and to metrics from Prometheus; egress only on
// named ports (no rule allows everything).
func TestNetworkPolicy(t *testing.T) {
	t.Parallel()
	objs := render(t, `networkPolicy.podCIDRs=["10.244.0.0/16","fd00:10:244::/56"]`, `networkPolicy.apiServer.cidrs=["172.18.0.0/24","fc00::/64"]`)
	np := objs["NetworkPolicy/rel-signet"]
	if fmt.Sprint(get(np, "spec", "policyTypes")) != "[Ingress Egress]" || fmt.Sprint(get(np, "spec", "podSelector", "matchLabels")) != "map[app.kubernetes.io/instance:rel app.kubernetes.io/name:signet]" {
		t.Fatalf("policy %v", get(np, "spec"))
	}
	in := get(np, "spec", "ingress").([]any)
	if len(in) != 2 {
		t.Fatalf("ingress rules %v", in)
	}
	if fmt.Sprint(get(in[0], "ports")) != "[map[port:8443 protocol:TCP]]" ||
		fmt.Sprint(get(in[0], "from")) != "[map[ipBlock:map[cidr:172.18.0.0/24 except:[10.244.0.0/16]]] map[ipBlock:map[cidr:fc00::/64 except:[fd00:10:244::/56]]]]" {
		t.Errorf("webhook ingress %v", in[0])
	}
	if fmt.Sprint(get(in[1], "ports")) != "[map[port:9090 protocol:TCP]]" || get(in[1], "from", 0, "podSelector", "matchLabels", "app.kubernetes.io/name") != "prometheus" {
		t.Errorf("metrics ingress %v", in[1])
	}
	var ports []string
	for _, r := range get(np, "spec", "egress").([]any) {
		if get(r, "ports") == nil {
			t.Errorf("an egress rule without ports: %v", r)
		}
		for _, p := range get(r, "ports").([]any) {
			ports = append(ports, fmt.Sprint(get(p, "protocol"), get(p, "port")))
		}
	}
	if got := strings.Join(ports, " "); got != "UDP53 TCP53 TCP443 TCP6443 TCP443" {
		t.Errorf("egress ports %s", got)
	}
	if r := get(np, "spec", "egress", 1, "to"); fmt.Sprint(r) != "[map[ipBlock:map[cidr:172.18.0.0/24]] map[ipBlock:map[cidr:fc00::/64]]]" {
		t.Errorf("API server egress to %v", r)
	}
	// Redis only when configured; off entirely when disabled.
	eg := get(render(t, "redis.existingSecret=signet-redis")["NetworkPolicy/rel-signet"], "spec", "egress").([]any)
	if fmt.Sprint(get(eg[len(eg)-1], "ports")) != "[map[port:6379 protocol:TCP]]" {
		t.Errorf("no Redis egress: %v", eg[len(eg)-1])
	}
	if render(t, "networkPolicy.enabled=false")["NetworkPolicy/rel-signet"] != nil {
		t.Error("networkPolicy.enabled=false renders a NetworkPolicy")
	}
}

// metricNames reads the metrics signet exports from internal/metrics.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(root(), "internal", "metrics", "*.go"))
	var src []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`Name:\s+"(signet_[a-z_]+)"`).FindAllStringSubmatch(string(src), -1) {
		names[m[1]] = true
		names[m[1]+"_bucket"] = true
	}
	if len(names) == 0 {
		t.Fatal("no metric in internal/metrics")
	}
	return names
}

// checkMetrics fails for every signet_ metric an expression names that
// signet does not export.
func checkMetrics(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, m := range regexp.MustCompile(`signet_[a-z_]+`).FindAllString(expr, -1) {
		if !known[m] {
			t.Errorf("%s: %s is not one of signet's metrics", where, m)
		}
	}
}

// TestMonitoring: ServiceMonitor, PrometheusRule and Grafana dashboard are
// rendered only when enabled, and name only metrics signet exports.
func TestMonitoring(t *testing.T) {
	t.Parallel()
	def := render(t)
	for _, k := range []string{"ServiceMonitor/rel-signet", "PrometheusRule/rel-signet", "ConfigMap/rel-signet-dashboard"} {
		if def[k] != nil {
			t.Errorf("%s rendered by default", k)
		}
	}
	objs := render(t, "metrics.serviceMonitor.enabled=true", `metrics.serviceMonitor.labels={"release":"prom"}`, "metrics.prometheusRule.enabled=true", "metrics.dashboard.enabled=true")
	known := metricNames(t)

	sm := objs["ServiceMonitor/rel-signet"]
	if get(sm, "metadata", "labels", "release") != "prom" || get(sm, "spec", "endpoints", 0, "port") != "metrics" ||
		fmt.Sprint(get(sm, "spec", "selector", "matchLabels")) != fmt.Sprint(get(objs["Service/rel-signet"], "spec", "selector")) {
		t.Errorf("ServiceMonitor %v", get(sm, "spec"))
	}
	if get(objs["Service/rel-signet"], "spec", "ports", 1, "name") != "metrics" {
		t.Error("the Service has no port named metrics")
	}

	var alerts []string
	for _, r := range get(objs["PrometheusRule/rel-signet"], "spec", "groups", 0, "rules").([]any) {
		alerts = append(alerts, get(r, "alert").(string))
		checkMetrics(t, get(r, "alert").(string), get(r, "expr").(string), known)
	}
	for _, want := range []string{"SignetWebhookErrors", "SignetWebhookUnreachable", "SignetDenialsSpike", "SignetLatencyNearTimeout", "SignetPolicyReloadFailed", "SignetRedisBreakerOpen"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("alerts %v lack %s", alerts, want)
		}
	}

	cm := objs["ConfigMap/rel-signet-dashboard"]
	if get(cm, "metadata", "labels", "grafana_dashboard") != "1" {
		t.Errorf("dashboard labels %v", get(cm, "metadata", "labels"))
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal([]byte(get(cm, "data", "signet.json").(string)), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	var titles []string
	for _, p := range dash.Panels {
		titles = append(titles, p.Title)
		for _, tg := range p.Targets {
			checkMetrics(t, p.Title, tg.Expr, known)
		}
	}
	for _, want := range []string{"Admissions by decision", "Admission latency", "Verifications by validator and outcome", "Cache hit ratio", "Registry requests by status", "Policy served"} {
		if !slices.Contains(titles, want) {
			t.Errorf("dashboard panels %v lack %s", titles, want)
		}
	}
}

// TestPolicyLintHook: the rendered policy is linted by signet before the
// release changes anything, and the hook checks exactly what is served.
func TestPolicyLintHook(t *testing.T) {
	t.Parallel()
	objs := render(t)
	job, cm := objs["Job/rel-signet-policy-lint"], objs["ConfigMap/rel-signet-policy-lint"]
	for _, o := range []map[string]any{job, cm} {
		if get(o, "metadata", "annotations", "helm.sh/hook") != "pre-install,pre-upgrade" {
			t.Errorf("%v: hook %v", get(o, "metadata", "name"), get(o, "metadata", "annotations"))
		}
	}
	if get(job, "metadata", "annotations", "helm.sh/hook-output-log-policy") != "hook-failed" {
		t.Error("helm would not print signet's errors when the lint Job fails")
	}
	if get(cm, "metadata", "annotations", "helm.sh/hook-weight") != "-10" || get(job, "metadata", "annotations", "helm.sh/hook-weight") != "0" {
		t.Error("the policy ConfigMap hook does not run before the Job")
	}
	if get(cm, "data", "policy.yaml") != get(objs["ConfigMap/rel-signet-policy"], "data", "policy.yaml") {
		t.Error("the hook lints another policy than the one served")
	}
	c := get(job, "spec", "template", "spec", "containers", 0)
	if fmt.Sprint(get(c, "args")) != "[policy lint /etc/signet/policy/policy.yaml]" || get(c, "image") != get(container(objs), "image") || get(job, "spec", "backoffLimit") != float64(0) {
		t.Errorf("lint container %v", c)
	}
	if get(job, "spec", "template", "metadata", "labels", "app.kubernetes.io/name") == "signet" {
		t.Error("the lint Pod carries signet's selector: the Service and PDB would count it")
	}
	if objs := render(t, "policyLint.enabled=false"); objs["Job/rel-signet-policy-lint"] != nil {
		t.Error("policyLint.enabled=false renders the Job")
	}
}

// TestNotes: the install notes do not start recovery by deleting the
// webhooks, and warn about infrastructure namespaces and k8s:// keys.
func TestNotes(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(chart(), "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	notes := string(b)
	if strings.Contains(notes, "kubectl delete") {
		t.Error("NOTES.txt offers deleting the webhook configurations")
	}
	for _, want := range []string{"cert-manager", "CNI", "k8s://", "admin-only", "docs/recovery.md"} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES.txt lacks %q", want)
		}
	}
}

// TestClientCA: webhook.clientCA mounts the CA bundle and passes it as
// --client-ca; the probes then use the metrics port (the webhook port
// requires a certificate the kubelet does not have), and the NetworkPolicy
// lets the nodes reach it. Without the metrics port the chart refuses.
func TestClientCA(t *testing.T) {
	t.Parallel()
	probes := func(c any) string {
		return fmt.Sprint(get(c, "readinessProbe", "httpGet"), get(c, "livenessProbe", "httpGet"))
	}
	def := render(t)
	if got := probes(container(def)); got != "map[path:/readyz port:https scheme:HTTPS] map[path:/healthz port:https scheme:HTTPS]" {
		t.Errorf("default probes %s", got)
	}
	if args := fmt.Sprint(get(container(def), "args")); strings.Contains(args, "client-ca") {
		t.Errorf("client CA by default: %s", args)
	}
	if n := len(get(def["NetworkPolicy/rel-signet"], "spec", "ingress").([]any)); n != 2 {
		t.Errorf("default ingress rules: %d, want 2", n)
	}
	for _, tc := range []struct {
		set    []string
		volume string
	}{
		{[]string{"webhook.clientCA.secretName=apiserver-ca"}, "map[secret:map[items:[map[key:ca.crt path:ca.crt]] secretName:apiserver-ca]]"},
		{[]string{"webhook.clientCA.configMapName=apiserver-ca", "webhook.clientCA.key=bundle.pem"}, "map[configMap:map[items:[map[key:bundle.pem path:bundle.pem]] name:apiserver-ca]]"},
	} {
		objs := render(t, append(tc.set, `networkPolicy.podCIDRs=["10.244.0.0/16"]`, `networkPolicy.nodeCIDRs=["172.18.0.0/24"]`)...)
		c := container(objs)
		file := "ca.crt"
		if strings.Contains(tc.volume, "bundle.pem") {
			file = "bundle.pem"
		}
		if args := fmt.Sprint(get(c, "args")); !strings.Contains(args, "--client-ca=/etc/signet/client-ca/"+file) || !strings.Contains(args, "--metrics-addr=:9090") {
			t.Errorf("%v: args %s", tc.set, args)
		}
		if got := probes(c); got != "map[path:/readyz port:metrics scheme:HTTP] map[path:/healthz port:metrics scheme:HTTP]" {
			t.Errorf("%v: probes %s", tc.set, got)
		}
		if !strings.Contains(fmt.Sprint(get(c, "volumeMounts")), "mountPath:/etc/signet/client-ca name:client-ca readOnly:true") {
			t.Errorf("%v: mounts %v", tc.set, get(c, "volumeMounts"))
		}
		var vol any
		for _, v := range get(objs["Deployment/rel-signet"], "spec", "template", "spec", "volumes").([]any) {
			if get(v, "name") == "client-ca" {
				vol = v
				delete(v.(map[string]any), "name")
			}
		}
		if fmt.Sprint(vol) != tc.volume {
			t.Errorf("%v: volume %v, want %s", tc.set, vol, tc.volume)
		}
		// The webhook port stays closed to the nodes; the kubelet reaches
		// the metrics port from the node addresses, minus Pod CIDRs.
		in := get(objs["NetworkPolicy/rel-signet"], "spec", "ingress").([]any)
		if len(in) != 3 || fmt.Sprint(get(in[2], "ports")) != "[map[port:9090 protocol:TCP]]" ||
			fmt.Sprint(get(in[2], "from")) != "[map[ipBlock:map[cidr:172.18.0.0/24 except:[10.244.0.0/16]]]]" {
			t.Errorf("%v: ingress %v", tc.set, in)
		}
	}
	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"webhook.clientCA.secretName=a", "webhook.clientCA.configMapName=b"}, "webhook.clientCA: set secretName or configMapName, not both"},
		{[]string{"webhook.clientCA.secretName=a", `extraArgs=["--metrics-addr="]`}, "webhook.clientCA needs signet's metrics port"},
		{[]string{"webhook.clientCA.secretName=a", `extraArgs=["--metrics-addr=:9191"]`}, "webhook.clientCA needs signet's metrics port"},
		{[]string{"webhook.clientCA.key=../ca.crt"}, "schema"},
		{[]string{`networkPolicy.nodeCIDRs=[]`}, "schema"},
	} {
		if out, err := helm(t, templateArgs(tc.set...)...); err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("%v: %v %s, want an error naming %q", tc.set, err, out[:min(len(out), 300)], tc.want)
		}
	}
	// Overriding another flag leaves the metrics port alone.
	if out, err := helm(t, templateArgs("webhook.clientCA.secretName=a", `extraArgs=["--metrics-addresses-are-fine=1"]`)...); err != nil {
		t.Errorf("an unrelated extra flag: %v %s", err, out[:min(len(out), 300)])
	}
}

// TestAuditLog: auditLog values become serve's --audit-* flags, a volume
// per Pod directory, and the key from its Secret or KMS.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		set  []string
		want []string // in the container's args, env and volumes, printed
		not  []string
	}{
		{[]string{"reverify.enabled=false"}, nil, []string{"--audit-log", "audit-log", "name:POD_NAME "}},
		{[]string{"auditLog.enabled=true"}, []string{"--audit-log=/var/log/signet/$(POD_NAME)/audit.jsonl", "--audit-required=false", "--audit-instance=$(POD_NAME)", "name:POD_NAME ", "name:audit-log", "sizeLimit:2Gi"}, []string{"--audit-key"}},
		{[]string{"auditLog.enabled=true", "auditLog.required=true", "auditLog.key.existingSecret=audit-signing", "auditLog.persistentVolumeClaim=audit", "auditLog.maxFiles=-1"},
			[]string{"--audit-required=true", "--audit-key=/etc/signet/audit-key/audit.key", "secretName:audit-signing", "claimName:audit", "--audit-log-max-files=-1"}, []string{"emptyDir:map[sizeLimit:2Gi]"}},
		{[]string{"auditLog.enabled=true", "auditLog.key.existingSecret=audit-signing", "auditLog.key.secretKey=cosign.key", "auditLog.key.passwordKey=cosign.password"},
			[]string{"--audit-key=/etc/signet/audit-key/cosign.key", "name:SIGNET_AUDIT_KEY_PASSWORD valueFrom:map[secretKeyRef:map[key:cosign.password name:audit-signing]]"}, nil},
		{[]string{"auditLog.enabled=true", "auditLog.stdout=true", "auditLog.key.kms=awskms:///alias/signet-audit"}, []string{"--audit-log=-", "--audit-key=awskms:///alias/signet-audit"}, []string{"name:audit-log"}},
	} {
		o := render(t, tc.set...)
		got := fmt.Sprint(get(container(o), "args"), get(container(o), "env"), get(container(o), "volumeMounts"), get(o["Deployment/rel-signet"], "spec", "template", "spec", "volumes"))
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("--set %v: %q missing from\n%s", tc.set, w, got)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(got, n) {
				t.Errorf("--set %v: %q in\n%s", tc.set, n, got)
			}
		}
	}
	objs := render(t, "metrics.prometheusRule.enabled=true", "auditLog.enabled=true", "auditLog.required=true")
	found := false
	for _, r := range get(objs["PrometheusRule/rel-signet"], "spec", "groups", 0, "rules").([]any) {
		if get(r, "alert") == "SignetAuditLogWriteErrors" {
			found = get(r, "labels", "severity") == "critical"
			checkMetrics(t, "SignetAuditLogWriteErrors", get(r, "expr").(string), metricNames(t))
		}
	}
	if !found {
		t.Error("no critical SignetAuditLogWriteErrors alert with auditLog.required")
	}
	for _, set := range []string{"auditLog.maxFiles=0", "auditLog.checkpointInterval=soon", "auditLog.key.kms=file:///etc/key", "auditLog.enable=true"} {
		if out, err := helm(t, templateArgs(set)...); err == nil || !strings.Contains(out, "schema") {
			t.Errorf("--set %s: %v; want a schema error", set, err)
		}
	}
}
