package harness

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// K8sAssets builds (first use) and returns the directory of the control
// plane's binaries: kube-apiserver, etcd (hack/k8s.sh).
func K8sAssets(t testing.TB) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(Root, "hack", "k8s.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/k8s.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// StartAPIServer starts kube-apiserver and etcd (no controllers), with the
// CRDs in crdDirs installed, stopped when the test ends.
func StartAPIServer(t testing.TB, crdDirs ...string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	env := &envtest.Environment{BinaryAssetsDirectory: K8sAssets(t), ControlPlaneStartTimeout: 60 * time.Second, ControlPlaneStopTimeout: 30 * time.Second,
		CRDInstallOptions: envtest.CRDInstallOptions{Paths: crdDirs}}
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() { env.Stop() })
	return env, cfg
}

// Kubeconfig writes a kubeconfig authenticating as user (a client
// certificate of the API server's CA) and returns its path.
func Kubeconfig(t testing.TB, env *envtest.Environment, user envtest.User) string {
	t.Helper()
	u, err := env.AddUser(user, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
