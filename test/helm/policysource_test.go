package helm

import (
	"fmt"
	"strings"
	"testing"
)

// TestPolicySource: policySource picks the serve flags, and only cluster
// and both grant reading the policy resources (get, list, watch) and
// writing their status, nothing else of them.
func TestPolicySource(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		source      string
		args, not   []string
		clusterRBAC bool
	}{
		{"file", []string{"--policy=/etc/signet/policy/policy.yaml"}, []string{"--policy-source"}, false},
		{"cluster", []string{"--policy-source=cluster"}, []string{"--policy="}, true},
		{"both", []string{"--policy=/etc/signet/policy/policy.yaml", "--policy-source=cluster"}, nil, true},
	} {
		// The CRD served, as the chart's default ClusterImagePolicy needs.
		objs := renderArgs(t, append(templateArgs("policySource="+tc.source), "--api-versions", "signet.dev/v1alpha1/ClusterImagePolicy")...)
		if got := objs["ClusterImagePolicy/rel-signet-default"] != nil; got != (tc.source == "cluster") {
			t.Errorf("%s: the chart's default ClusterImagePolicy rendered: %v", tc.source, got)
		}
		args := fmt.Sprint(get(objs["Deployment/rel-signet"], "spec", "template", "spec", "containers", 0, "args"))
		for _, a := range tc.args {
			if !strings.Contains(args, a) {
				t.Errorf("%s: args %s lack %s", tc.source, args, a)
			}
		}
		for _, a := range tc.not {
			if strings.Contains(args, a) {
				t.Errorf("%s: args %s have %s", tc.source, args, a)
			}
		}
		role := objs["ClusterRole/rel-signet-policies"]
		if (role != nil) != tc.clusterRBAC || (objs["ClusterRoleBinding/rel-signet-policies"] != nil) != tc.clusterRBAC {
			t.Errorf("%s: policy resources' ClusterRole rendered: %v, want %v", tc.source, role != nil, tc.clusterRBAC)
			continue
		}
		if role == nil {
			continue
		}
		want := "[{[signet.dev] [clusterimagepolicies imagepolicies] [get list watch]} {[signet.dev] [clusterimagepolicies/status imagepolicies/status] [update patch]}]"
		var got []string
		for _, r := range get(role, "rules").([]any) {
			got = append(got, fmt.Sprintf("{%v %v %v}", get(r, "apiGroups"), get(r, "resources"), get(r, "verbs")))
		}
		if g := "[" + strings.Join(got, " ") + "]"; g != want {
			t.Errorf("%s: policy resources' ClusterRole grants %s, want %s", tc.source, g, want)
		}
	}
	if out, err := helm(t, templateArgs("policySource=crds")...); err == nil {
		t.Errorf("policySource=crds rendered:\n%s", out)
	}
}
