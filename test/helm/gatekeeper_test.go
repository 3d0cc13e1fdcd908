package helm

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// TestGatekeeper: gatekeeper.enabled adds the Provider (signet's Service,
// /externaldata, this TLS mode's CA), the ConstraintTemplate calling
// external_data, its Constraint (a post-install hook), the Assigns, the
// --externaldata-client-ca flag with its bundle mounted, and Gatekeeper's
// namespace to the NetworkPolicy; off by default.
func TestGatekeeper(t *testing.T) {
	t.Parallel()
	def := render(t)
	for k := range def {
		for _, kind := range []string{"Provider/", "ConstraintTemplate/", "SignetVerifiedImages/", "Assign/"} {
			if strings.HasPrefix(k, kind) {
				t.Errorf("default render has %s", k)
			}
		}
	}
	if strings.Contains(fmt.Sprint(get(container(def), "args")), "externaldata") {
		t.Error("default render passes --externaldata-client-ca")
	}

	const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
	objs := render(t, "tls.mode=secret", "tls.secret.name=own-tls", "tls.secret.caBundle="+ca,
		"gatekeeper.enabled=true", "gatekeeper.clientCA.secretName=gatekeeper-ca", "gatekeeper.provider.timeout=5", "gatekeeper.timeout=4s")
	p := objs["Provider/signet"]
	if p == nil {
		t.Fatal("no Provider/signet")
	}
	if got := fmt.Sprint(get(p, "spec", "url")); got != "https://rel-signet.signet-system.svc:443/externaldata" {
		t.Errorf("Provider url %s", got)
	}
	if got := fmt.Sprint(get(p, "spec", "timeout")); got != "5" {
		t.Errorf("Provider timeout %s", got)
	}
	if b, _ := base64.StdEncoding.DecodeString(fmt.Sprint(get(p, "spec", "caBundle"))); string(b) != ca {
		t.Errorf("Provider caBundle %q, want tls.secret.caBundle", b)
	}
	args := fmt.Sprint(get(container(objs), "args"))
	for _, want := range []string{"--externaldata-client-ca=/etc/signet/externaldata-client-ca/ca.crt", "--externaldata-timeout=4s"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %s: missing %s", args, want)
		}
	}
	vols := fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "volumes"))
	if !strings.Contains(vols, "name:externaldata-client-ca secret:map[items:[map[key:ca.crt path:ca.crt]] secretName:gatekeeper-ca]") {
		t.Errorf("volumes %s: want the gatekeeper-ca Secret", vols)
	}
	if !strings.Contains(fmt.Sprint(get(container(objs), "volumeMounts")), "/etc/signet/externaldata-client-ca") {
		t.Error("the bundle is not mounted")
	}
	rego := fmt.Sprint(get(objs["ConstraintTemplate/signetverifiedimages"], "spec", "targets", 0, "rego"))
	for _, want := range []string{`external_data({"provider": "signet"`, "response.errors[_]", "response.system_error", "initContainers", "ephemeralContainers"} {
		if !strings.Contains(rego, want) {
			t.Errorf("rego lacks %s:\n%s", want, rego)
		}
	}
	c := objs["SignetVerifiedImages/signet-verified-images"]
	if got := fmt.Sprint(get(c, "metadata", "annotations", "helm.sh/hook"), get(c, "spec", "enforcementAction"), get(c, "spec", "match", "excludedNamespaces")); got != "post-install,post-upgradedeny[kube-system gatekeeper-system signet-system]" {
		t.Errorf("Constraint %s", got)
	}
	for _, field := range []string{"containers", "initcontainers", "ephemeralcontainers"} {
		a := objs["Assign/signet-pin-"+field]
		if got := fmt.Sprint(get(a, "spec", "location"), " ", get(a, "spec", "parameters", "assign", "externalData")); !strings.Contains(strings.ToLower(got), "spec."+field+"[name:*].image") ||
			!strings.Contains(got, "dataSource:ValueAtLocation failurePolicy:Ignore provider:signet") {
			t.Errorf("Assign %s: %s", field, got)
		}
	}
	if np := fmt.Sprint(get(objs["NetworkPolicy/rel-signet"], "spec", "ingress")); !strings.Contains(np, "kubernetes.io/metadata.name:gatekeeper-system") {
		t.Errorf("NetworkPolicy ingress %s: want Gatekeeper's namespace", np)
	}

	// generate: the CA generated for the webhooks; switches off.
	objs = render(t, "tls.mode=generate", "gatekeeper.enabled=true", "gatekeeper.clientCA.configMapName=gk", "gatekeeper.constraint.enabled=false", "gatekeeper.mutation.enabled=false", "gatekeeper.provider.name=verify")
	if got, want := get(objs["Provider/verify"], "spec", "caBundle"), get(objs["MutatingWebhookConfiguration/rel-signet"], "webhooks", 0, "clientConfig", "caBundle"); got == nil || got != want {
		t.Errorf("Provider caBundle %v, want the webhooks' %v", got, want)
	}
	if !strings.Contains(fmt.Sprint(get(objs["ConstraintTemplate/signetverifiedimages"], "spec", "targets", 0, "rego")), `"provider": "verify"`) {
		t.Error("the template does not call provider verify")
	}
	for k := range objs {
		if strings.HasPrefix(k, "SignetVerifiedImages/") || strings.HasPrefix(k, "Assign/") {
			t.Errorf("%s rendered with constraint and mutation off", k)
		}
	}
	// An explicit caBundle wins.
	objs = render(t, "gatekeeper.enabled=true", "gatekeeper.clientCA.secretName=gk", "gatekeeper.provider.caBundle="+ca)
	if b, _ := base64.StdEncoding.DecodeString(fmt.Sprint(get(objs["Provider/signet"], "spec", "caBundle"))); string(b) != ca {
		t.Errorf("Provider caBundle %q, want gatekeeper.provider.caBundle", b)
	}

	for _, tc := range []struct {
		set  []string
		want string
	}{
		{[]string{"tls.mode=generate", "gatekeeper.enabled=true"}, "gatekeeper.enabled needs gatekeeper.clientCA"},
		{[]string{"tls.mode=generate", "gatekeeper.enabled=true", "gatekeeper.clientCA.secretName=a", "gatekeeper.clientCA.configMapName=b"}, "not both"},
		// managed (default): the CA is in a Secret that does not exist
		// at render time.
		{[]string{"gatekeeper.enabled=true", "gatekeeper.clientCA.secretName=a"}, "install signet first, then enable gatekeeper"},
		{[]string{"gatekeeper.enabled=true", "gatekeeper.clientCA.secretName=a", "gatekeeper.constraint.enforcementAction=block"}, "schema"},
		{[]string{"gatekeeper.provider.timeout=0"}, "schema"},
	} {
		out, err := helm(t, templateArgs(tc.set...)...)
		if err == nil || !strings.Contains(out, tc.want) {
			t.Errorf("--set %v: %v %s; want an error with %q", tc.set, err, out[:min(len(out), 300)], tc.want)
		}
	}
}
