package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestNoTypedClientset keeps client-go's typed clientset out of signet's
// own packages but one. Its scheme package registers every Kubernetes API
// group (about a thousand types) at start-up, and the pages that touches
// were most of signet serve's idle memory before start-up pages were
// released. signet reads Secrets, ServiceAccounts, workload owners and
// policies through the dynamic client (internal/kube, internal/policysource);
// go-containerregistry's authn/kubernetes and k8schain import the
// clientset, so pull secrets are matched in internal/kube too. The one
// exception is the re-verifier (internal/reverify): client-go's
// leaderelection and Event recorder are built on the typed clients, so the
// clientset is linked for them (measured in docs/architecture.md: idle RSS
// unchanged with start-up pages released, the default). Tests may still
// use the clientset and its fake: test binaries are not deployed.
func TestNoTypedClientset(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	forbidden := []string{
		"k8s.io/client-go/kubernetes",
		"k8s.io/client-go/informers",
		"github.com/google/go-containerregistry/pkg/authn/kubernetes",
		"github.com/google/go-containerregistry/pkg/authn/k8schain",
	}
	// The packages of signet's own that may import them, and what.
	allowed := map[string][]string{
		"github.com/signet-dev/signet/internal/reverify": {"k8s.io/client-go/kubernetes/scheme", "k8s.io/client-go/kubernetes/typed/core/v1", "k8s.io/client-go/kubernetes/typed/coordination/v1"},
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "github.com/signet-dev/signet/cmd/signet").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		for _, imp := range f[1:] {
			for _, bad := range forbidden {
				if imp != bad && !strings.HasPrefix(imp, bad+"/") {
					continue
				}
				switch {
				case strings.HasPrefix(bad, "github.com/google/"):
					t.Errorf("signet depends on %s (through %s)", imp, f[0])
				case strings.HasPrefix(f[0], "github.com/signet-dev/signet/") && !slices.Contains(allowed[f[0]], imp):
					t.Errorf("%s imports %s", f[0], imp)
				}
			}
		}
	}
}

// testCodeElements are the import path elements that mark test code:
// the standard library's testing packages (testing, testing/*,
// net/http/httptest), test helpers and fakes by their conventional names
// (sigstore-go's pkg/testing/ca, client-go's dynamic/fake, signet's own
// internal/testutil and internal/fixture).
var testCodeElements = map[string]bool{
	"testing": true, "testutil": true, "testutils": true, "testhelper": true, "testhelpers": true,
	"fixture": true, "fixtures": true, "fake": true, "fakes": true, "mock": true, "mocks": true,
	"httptest": true,
}

// isTestCode says whether the package at path is test code by its name.
func isTestCode(path string) bool {
	for _, e := range strings.Split(path, "/") {
		if testCodeElements[e] {
			return true
		}
	}
	return false
}

// linkedTestCode are the places where third-party code signet links
// imports test code from a file that is not a _test.go file; signet cannot
// change them. Each is an edge importer → test package. Packages reached
// only through test code (net/http/internal/testcert, below httptest) need
// no entry. No package of signet's own may appear here.
var linkedTestCode = map[[2]string]string{
	{"github.com/digitorus/pkcs7", "testing"}:                                                                                      "verify_test_dsa.go; sigstore's timestamp verification",
	{"github.com/sigstore/sigstore/pkg/tuf", "testing"}:                                                                            "testutils.go; cosign's legacy TUF client",
	{"github.com/sigstore/sigstore/pkg/tuf", "net/http/httptest"}:                                                                  "testutils.go; cosign's legacy TUF client",
	{"github.com/hashicorp/vault/api/tokenhelper", "testing"}:                                                                      "testing.go; the hashivault KMS provider",
	{"github.com/google/go-containerregistry/pkg/registry", "net/http/httptest"}:                                                   "its TLS helper; the demo's in-process registry",
	{"github.com/google/go-containerregistry/pkg/registry", "github.com/google/go-containerregistry/internal/httptest"}:            "its TLS helper; the demo's in-process registry",
	{"k8s.io/client-go/gentype", "k8s.io/client-go/testing"}:                                                                       "fake.go; the typed clients of client-go's leaderelection and Event recorder (the re-verifier)",
	{"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime", "github.com/Azure/azure-sdk-for-go/sdk/azcore/internal/pollers/fake"}: "pollers for Azure's fake servers; the azurekms provider",
}

// TestNoTestCode: no test code reaches the signet binary. A package is
// test code when an element of its import path names it so
// (testCodeElements); every import of test code by a package that is not
// itself test code must be a reviewed third-party edge (linkedTestCode).
// The demo signs with keys it generates at run time (internal/demo/signing),
// never with internal/fixture or sigstore-go's testing CA.
func TestNoTestCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "github.com/signet-dev/signet/cmd/signet").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	seen := map[[2]string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || isTestCode(f[0]) {
			continue
		}
		for _, imp := range f[1:] {
			if !isTestCode(imp) {
				continue
			}
			edge := [2]string{f[0], imp}
			if _, ok := linkedTestCode[edge]; ok && !strings.HasPrefix(f[0], "github.com/signet-dev/signet/") {
				seen[edge] = true
				continue
			}
			t.Errorf("the signet binary links test code: %s imports %s", f[0], imp)
		}
	}
	for edge, why := range linkedTestCode {
		if !seen[edge] {
			t.Errorf("%s no longer imports %s (%s): remove the entry", edge[0], edge[1], why)
		}
	}
}

func TestIsTestCode(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"testing":           true,
		"testing/synctest":  true,
		"net/http/httptest": true,
		"github.com/sigstore/sigstore-go/pkg/testing/ca":     true,
		"github.com/signet-dev/signet/internal/testutil":     true,
		"github.com/signet-dev/signet/internal/fixture":      true,
		"k8s.io/client-go/dynamic/fake":                      true,
		"github.com/golang/mock/gomock":                      true,
		"go.uber.org/mock/mocks":                             true,
		"internal/testlog":                                   false, // os's, always linked
		"github.com/signet-dev/signet/internal/demo/signing": false,
		"github.com/sigstore/sigstore-go/pkg/sign":           false,
	} {
		if got := isTestCode(path); got != want {
			t.Errorf("isTestCode(%q) = %v, want %v", path, got, want)
		}
	}
}
