package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/test/harness"
)

// TestPrivateRegistry: a registry with a private CA and basic auth.
// Credentials come from the Docker config file, the CA from --registry-ca;
// without either, the answer is inconclusive (exit 3) and says why.
func TestPrivateRegistry(t *testing.T) {
	t.Parallel()
	t.Run("basic auth over TLS with a private CA", func(t *testing.T) {
		t.Parallel()
		checkPrivate(t, harness.StartSecureDistribution(t), "certificate")
	})
	t.Run("bearer tokens from a token server with a private CA", func(t *testing.T) {
		t.Parallel()
		checkPrivate(t, harness.StartTokenDistribution(t), "certificate")
	})
}

// checkPrivate: verified with credentials and CA; inconclusive (exit 3)
// without credentials, and without the CA (noCA names what the message
// then says).
func checkPrivate(t *testing.T, reg *harness.SecureRegistry, noCA string) {
	key, err := fixture.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	img, err := fixture.PushImage(reg.Host+"/private/app:v1", reg.RemoteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	// A second repository, verified in the same process: the registry's
	// ping answer is kept, its credentials or token still per repository.
	other, err := fixture.PushImage(reg.Host+"/private/other:v1", reg.RemoteOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []name.Digest{img, other} {
		if err := fixture.SignLegacy(d, key, reg.RemoteOptions()...); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, reg.CAPEM, 0o600)
	pol := filepath.Join(dir, "policy.yaml")
	os.WriteFile(pol, []byte(cosignPolicy(reg.Host+"/**", map[string]string{"ci": key.PEM}, "")), 0o600)

	run := func(dockerConfig string, args ...string) (int, string, string) {
		cmd := exec.Command(harness.Bin(t, "signet"), append([]string{"verify", "--policy", pol, "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dockerConfig)
		return harness.ExitCode(t, cmd)
	}
	ref := reg.Host + "/private/app:v1"
	code, out, se := run(reg.DockerConfig(t), "--registry-ca", ca, ref, reg.Host+"/private/other:v1")
	if code != 0 || strings.Count(out, `"outcome": "verified"`) != 2 || !strings.Contains(out, img.DigestStr()) || !strings.Contains(out, other.DigestStr()) {
		t.Fatalf("with credentials and CA, two repositories: exit %d\n%s\n%s", code, out, se)
	}
	code, out, _ = run(t.TempDir(), "--registry-ca", ca, ref)
	if code != 3 || !strings.Contains(out, "HTTP 401") {
		t.Errorf("without credentials: exit %d\n%s", code, out)
	}
	code, out, _ = run(reg.DockerConfig(t), ref)
	if code != 3 || !strings.Contains(out, noCA) {
		t.Errorf("without the CA: exit %d\n%s", code, out)
	}
	code, _, se = run(reg.DockerConfig(t), "--registry-ca", pol, ref)
	if code != 2 || !strings.Contains(se, "no PEM certificate") {
		t.Errorf("bad CA file: exit %d %s", code, se)
	}
}
