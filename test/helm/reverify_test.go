package helm

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// rule finds the rule of a (Cluster)Role granting resource in group, and
// returns its verbs (nil: none).
func rule(role any, group, resource string) []string {
	rules, _ := get(role, "rules").([]any)
	for _, r := range rules {
		groups, _ := get(r, "apiGroups").([]any)
		resources, _ := get(r, "resources").([]any)
		if !slices.Contains(groups, any(group)) {
			continue
		}
		for _, x := range resources {
			if x == resource {
				var verbs []string
				for _, v := range get(r, "verbs").([]any) {
					verbs = append(verbs, v.(string))
				}
				return verbs
			}
		}
	}
	return nil
}

// TestReverify: the reverify values become serve's flags, the permissions
// the re-verifier needs (and only those its settings use) and the
// PolicyReport CRD; reverify.enabled=false removes them all.
func TestReverify(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		set      []string
		args     []string // present
		noArgs   []string // absent
		eviction bool
		reports  bool
		crd      bool
	}{
		{name: "defaults", args: []string{"--reverify-interval=1h", "--reverify-concurrency=4", "--reverify-action=report", "--reverify-evictions-per-minute=10",
			"--reverify-policy-reports=true", "--reverify-lease=rel-signet-reverifier", "--key-check-interval=30s"}, reports: true, crd: true},
		{name: "evict", set: []string{"reverify.action=evict", "reverify.evictionsPerMinute=3", "reverify.interval=15m", "reverify.concurrency=8",
			"reverify.keyCheckInterval=0", "reverify.leaseName=reverifier"},
			args:     []string{"--reverify-action=evict", "--reverify-evictions-per-minute=3", "--reverify-interval=15m", "--reverify-concurrency=8", "--key-check-interval=0", "--reverify-lease=reverifier"},
			eviction: true, reports: true, crd: true},
		{name: "no reports", set: []string{"reverify.policyReports.enabled=false"}, args: []string{"--reverify-policy-reports=false"}},
		{name: "reports, CRD elsewhere", set: []string{"reverify.policyReports.installCRD=false"}, args: []string{"--reverify-policy-reports=true"}, reports: true},
		{name: "disabled", set: []string{"reverify.enabled=false", "reverify.action=evict"}, args: []string{"--reverify-interval=0", "--key-check-interval=30s"},
			noArgs: []string{"--reverify-concurrency", "--reverify-action", "--reverify-evictions-per-minute", "--reverify-policy-reports", "--reverify-lease"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			objs := render(t, tc.set...)
			enabled := !slices.Contains(tc.set, "reverify.enabled=false")
			c := get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0)
			var args []string
			for _, a := range get(c, "args").([]any) {
				args = append(args, a.(string))
			}
			for _, want := range tc.args {
				if !slices.Contains(args, want) {
					t.Errorf("args %v lack %s", args, want)
				}
			}
			for _, flag := range tc.noArgs {
				for _, a := range args {
					if strings.HasPrefix(a, flag+"=") {
						t.Errorf("args have %s", a)
					}
				}
			}
			if env := fmt.Sprint(get(c, "env")); strings.Contains(env, "name:POD_NAME ") != enabled {
				t.Errorf("env %s: POD_NAME (the Lease identity) present = %v", env, !enabled)
			}

			cr := objs["ClusterRole/rel-signet"]
			for _, want := range []struct {
				group, resource string
				verbs           []string // nil: no rule
			}{
				{"apps", "deployments", pick(enabled, []string{"get", "list", "watch"}, []string{"get"})},
				{"apps", "replicasets", pick(enabled, []string{"get", "list", "watch"}, []string{"get"})},
				{"batch", "cronjobs", pick(enabled, []string{"get", "list", "watch"}, []string{"get"})},
				{"", "replicationcontrollers", pick(enabled, []string{"get", "list", "watch"}, []string{"get"})},
				{"", "pods", pick(enabled, []string{"list", "watch"}, nil)},
				{"", "events", pick(enabled, []string{"create", "patch", "update"}, nil)},
				{"events.k8s.io", "events", pick(enabled, []string{"create", "patch", "update"}, nil)},
				{"wgpolicyk8s.io", "policyreports", pick(tc.reports, []string{"get", "list", "watch", "create", "update", "patch", "delete"}, nil)},
				{"", "pods/eviction", pick(tc.eviction, []string{"create"}, nil)},
			} {
				if got := rule(cr, want.group, want.resource); !reflect.DeepEqual(got, want.verbs) {
					t.Errorf("ClusterRole: %s %q: verbs %v, want %v", want.resource, want.group, got, want.verbs)
				}
			}
			role := objs["Role/rel-signet"]
			leases := ""
			for _, r := range get(role, "rules").([]any) {
				if fmt.Sprint(get(r, "resources")) == "[leases]" {
					leases += fmt.Sprintf(" %v%v", get(r, "verbs"), get(r, "resourceNames"))
				}
			}
			lease := "rel-signet-reverifier"
			if slices.Contains(tc.set, "reverify.leaseName=reverifier") {
				lease = "reverifier"
			}
			if want := pick(enabled, " [create]<nil> [get update]["+lease+"]", ""); leases != want {
				t.Errorf("Role: leases%q, want %q", leases, want)
			}

			crd := objs["CustomResourceDefinition/policyreports.wgpolicyk8s.io"]
			if (crd != nil) != tc.crd {
				t.Fatalf("PolicyReport CRD rendered = %v", crd != nil)
			}
			if crd == nil {
				return
			}
			if get(crd, "metadata", "annotations", "helm.sh/resource-policy") != "keep" || get(crd, "metadata", "labels", "app.kubernetes.io/instance") != "rel" {
				t.Errorf("CRD metadata %v", get(crd, "metadata"))
			}
			b, err := os.ReadFile(filepath.Join(chart(), "files", "policyreport-crd", "wgpolicyk8s.io_policyreports.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := yaml.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(crd["spec"], want["spec"]) {
				t.Error("the rendered CRD's spec differs from files/policyreport-crd")
			}
		})
	}
}

func pick[T any](cond bool, yes, no T) T {
	if cond {
		return yes
	}
	return no
}

// TestReverifyCRD: the PolicyReport CRD file is the v1alpha2 API: group,
// scope, short name, printer columns and the result and severity enums.
func TestReverifyCRD(t *testing.T) {
	t.Parallel()
	crd := render(t)["CustomResourceDefinition/policyreports.wgpolicyk8s.io"]
	for path, want := range map[string]string{
		"spec.group": "wgpolicyk8s.io", "spec.scope": "Namespaced", "spec.names.kind": "PolicyReport", "spec.names.shortNames": "[polr]",
		"spec.versions.0.name": "v1alpha2",
		"spec.versions.0.schema.openAPIV3Schema.properties.results.items.properties.result.enum":   "[pass fail warn error skip]",
		"spec.versions.0.schema.openAPIV3Schema.properties.results.items.properties.severity.enum": "[critical high low medium info]",
	} {
		var keys []any
		for _, k := range strings.Split(path, ".") {
			if k == "0" {
				keys = append(keys, 0)
			} else {
				keys = append(keys, k)
			}
		}
		if got := fmt.Sprint(get(crd, keys...)); got != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	var columns []string
	for _, c := range get(crd, "spec", "versions", 0, "additionalPrinterColumns").([]any) {
		columns = append(columns, fmt.Sprint(get(c, "name")))
	}
	if got := strings.Join(columns, " "); got != "Kind Name Pass Fail Warn Error Skip Age" {
		t.Errorf("printer columns %s", got)
	}
}
