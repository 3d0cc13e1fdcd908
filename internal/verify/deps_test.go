package verify_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoKubernetesInVerification keeps the verification core free of
// Kubernetes: the packages that decide whether a signature is valid must
// build and be audited without the API machinery. The one exception is
// k8s.io/klog, a logging library that cosign's certificate-transparency
// dependency imports; it talks to no API.
func TestNoKubernetesInVerification(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	pkgs := []string{
		"github.com/signet-dev/signet/internal/verify",
		"github.com/signet-dev/signet/internal/verify/cosign",
		"github.com/signet-dev/signet/internal/verify/notation",
		"github.com/signet-dev/signet/internal/verify/notaryv1",
		"github.com/signet-dev/signet/internal/verify/static",
		"github.com/signet-dev/signet/internal/imageref",
		"github.com/signet-dev/signet/internal/keysource",
		"github.com/signet-dev/signet/internal/cache",
	}
	for _, p := range pkgs {
		out, err := exec.Command("go", "list", "-deps", p).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", p, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if (strings.HasPrefix(dep, "k8s.io/") || strings.HasPrefix(dep, "sigs.k8s.io/")) && !strings.HasPrefix(dep, "k8s.io/klog/") {
				t.Errorf("%s depends on %s", p, dep)
			}
		}
	}
}
