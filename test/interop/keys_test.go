package interop

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// TestKMSUnreachable: the binary links sigstore's KMS providers; a policy
// naming a KMS key loads, and while the KMS cannot be reached the image is
// denied as inconclusive within the deadline with a reason naming the key.
func TestKMSUnreachable(t *testing.T) {
	t.Parallel()
	reg := harness.StartDistribution(t)
	img := harness.Push(t, reg.Host, "demo/app:v1")
	for _, tc := range []struct{ key, env string }{
		{key: "hashivault://signet", env: "VAULT_ADDR=http://127.0.0.1:1"},
		{key: "awskms://127.0.0.1:1/alias/signet", env: "AWS_REGION=us-east-1"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "policy.yaml")
			y := "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n- name: default\n  type: cosign\n  trustRoots: [{name: kms, key: \"" + tc.key + "\"}]\nrules: [{pattern: \"**\"}]\n"
			if err := os.WriteFile(p, []byte(harness.ListInsecure(y, img.String())), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(harness.Bin(t, "signet"), "verify", "--policy", p, "--output", "json", "--timeout", "5s", img.String())
			cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true", "VAULT_TOKEN=test", tc.env)
			start := time.Now()
			code, stdout, stderr := harness.ExitCode(t, cmd)
			if code != 3 {
				t.Fatalf("exit %d, want 3 (inconclusive)\n%s\n%s", code, stdout, stderr)
			}
			for _, want := range []string{string(verify.Inconclusive), "could not load key " + tc.key} {
				if !strings.Contains(stdout, want) {
					t.Errorf("output does not contain %q:\n%s", want, stdout)
				}
			}
			if el := time.Since(start); el > 15*time.Second {
				t.Errorf("took %s with --timeout 5s", el)
			}
		})
	}
}
