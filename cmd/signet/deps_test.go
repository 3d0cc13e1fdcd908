package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTypedClientset keeps client-go's typed clientset out of the signet
// binary. Its scheme package registers every Kubernetes API group (about a
// thousand types) at start-up, and the pages that touches stay resident:
// they were most of signet serve's idle memory. signet reads Secrets,
// ServiceAccounts and workload owners only, through the dynamic client
// (internal/kube); go-containerregistry's authn/kubernetes and k8schain
// import the clientset, so pull secrets are matched in internal/kube too.
// Tests may still use the clientset and its fake: test binaries are not
// deployed.
func TestNoTypedClientset(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbidden := []string{
		"k8s.io/client-go/kubernetes",
		"github.com/google/go-containerregistry/pkg/authn/kubernetes",
		"github.com/google/go-containerregistry/pkg/authn/k8schain",
	}
	out, err := exec.Command("go", "list", "-deps", "github.com/signet-dev/signet/cmd/signet").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("signet depends on %s", dep)
			}
		}
	}
}
