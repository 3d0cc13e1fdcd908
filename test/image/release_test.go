package image

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

// release runs hack/release.sh (what make release runs) with env added to
// a clean environment and returns its exit code, stdout and stderr.
func release(t *testing.T, c *harness.Cosign, env ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(harness.Root, "hack", "release.sh"))
	cmd.Env = append(os.Environ(),
		"DOCKER_CONFIG="+filepath.Join(c.Dir, ".docker"), "TUF_ROOT="+filepath.Join(c.Dir, ".sigstore"),
		"COSIGN_PASSWORD=interop", "COSIGN_TLOG=false", "IMAGE_INSECURE=1", "VERSION="+testVersion,
		"RELEASE_DIR="+t.TempDir(), "SIGSTORE_ID_TOKEN=")
	cmd.Env = append(cmd.Env, env...)
	return harness.ExitCode(t, cmd)
}

// verifyPolicy trusts key for host/signet and host/mirror/signet (host is
// a plain-HTTP registry), written as docs/install.md writes the rule: the
// repository alone, for every tag and digest.
func verifyPolicy(t *testing.T, host, key string) string {
	t.Helper()
	p := fmt.Sprintf(`apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: [%q]
validators:
- name: release
  type: cosign
  trustRoots:
  - name: release
    key: |
      %s
rules:
- pattern: %q
  validator: release
- pattern: %q
  validator: release
`, host, strings.ReplaceAll(strings.TrimSpace(key), "\n", "\n      "), host+"/signet", host+"/mirror/signet")
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(p), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestRelease is the dogfooding proof: make release's image, signed with
// the release key, is admitted by signet with a policy trusting that key;
// the same image pushed unsigned to another repository is denied; the SBOM
// and provenance attestations verify with the key.
func TestRelease(t *testing.T) {
	reg := testutil.NewRegistry(t, false)
	c := harness.NewCosign(t)
	cosign := harness.Tool(t, "cosign2")
	key, pub := c.GenKey(t, cosign, "release")

	code, stdout, stderr := release(t, c, "IMAGE_REPO="+reg.Host+"/signet", "COSIGN_KEY="+key)
	if code != 0 {
		t.Fatalf("release: exit %d\n%s", code, stderr)
	}
	ref, err := name.NewDigest(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatalf("release printed %q: %v", stdout, err)
	}

	policy := verifyPolicy(t, reg.Host, pub)
	signet := harness.Bin(t, "signet")
	verify := func(image string) (int, string) {
		cmd := exec.Command(signet, "verify", "--policy", policy, image)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
		code, out, errOut := harness.ExitCode(t, cmd)
		return code, out + errOut
	}
	t.Run("signed release is admitted", func(t *testing.T) {
		if code, out := verify(ref.String()); code != 0 {
			t.Fatalf("signet verify %s: exit %d\n%s", ref, code, out)
		}
		// So is its tag, resolved to the same digest.
		if code, out := verify(reg.Host + "/signet:" + testVersion); code != 0 {
			t.Fatalf("signet verify by tag: exit %d\n%s", code, out)
		}
	})
	t.Run("same image re-pushed unsigned is denied", func(t *testing.T) {
		idx, err := remote.Index(ref)
		if err != nil {
			t.Fatal(err)
		}
		copyRef, err := name.NewTag(reg.Host + "/mirror/signet:" + testVersion)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(copyRef, idx); err != nil {
			t.Fatal(err)
		}
		code, out := verify(copyRef.Context().Digest(ref.DigestStr()).String())
		if code != 1 || !strings.Contains(out, "no cosign signatures found") {
			t.Fatalf("unsigned copy: exit %d, want 1 (denied)\n%s", code, out)
		}
	})
	t.Run("attestations verify", func(t *testing.T) {
		pubFile := filepath.Join(c.Dir, "release.pub")
		idx, err := remote.Index(ref)
		if err != nil {
			t.Fatal(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		// check verifies img's attestation of typ and returns its in-toto
		// statement.
		check := func(typ string, img name.Digest) map[string]any {
			out := c.Run(t, cosign, "verify-attestation", "--key", pubFile, "--type", typ,
				"--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", img.String())
			for _, line := range strings.Split(out, "\n") {
				var env struct{ Payload []byte }
				if json.Unmarshal([]byte(line), &env) != nil || env.Payload == nil {
					continue
				}
				var st map[string]any
				if err := json.Unmarshal(env.Payload, &st); err != nil {
					t.Fatal(err)
				}
				return st
			}
			t.Fatalf("verify-attestation printed no attestation:\n%s", out)
			return nil
		}
		st := check("slsaprovenance1", ref)
		b, _ := json.Marshal(st)
		rev := strings.TrimSpace(git(t, "rev-parse", "HEAD"))
		for _, want := range []string{`"predicateType":"https://slsa.dev/provenance/v1"`, `"revision":"` + rev + `"`, `"command":"make release"`, ref.DigestStr()[len("sha256:"):]} {
			if !strings.Contains(string(b), want) {
				t.Errorf("provenance lacks %s:\n%s", want, b)
			}
		}
		for _, d := range im.Manifests {
			st := check("cyclonedx", ref.Context().Digest(d.Digest.String()))
			b, _ := json.Marshal(st)
			if !strings.Contains(string(b), `"bomFormat":"CycloneDX"`) || !strings.Contains(string(b), "pkg:golang/github.com/google/go-containerregistry") {
				t.Errorf("%s: SBOM statement lacks CycloneDX or go-containerregistry", d.Platform)
			}
		}
	})
}

// TestReleaseBadInput: a missing registry, a wrong key and a refused push
// each fail with one line naming the step, a non-zero exit and nothing
// printed as released; the wrong key fails before anything is pushed.
func TestReleaseBadInput(t *testing.T) {
	reg := testutil.NewRegistry(t, false)
	locked := testutil.NewRegistry(t, false)
	locked.RequireBasicAuth("user", "secret")
	c := harness.NewCosign(t)
	key, _ := c.GenKey(t, harness.Tool(t, "cosign2"), "release")
	for _, tc := range []struct {
		name string
		env  []string
		want string
	}{
		{"no registry", []string{"COSIGN_KEY=" + key}, "no registry to push to"},
		{"no key", []string{"IMAGE_REPO=" + reg.Host + "/signet"}, "no signing key"},
		{"missing key file", []string{"IMAGE_REPO=" + reg.Host + "/signet", "COSIGN_KEY=/nonexistent.key"}, "not a readable file"},
		{"wrong key password", []string{"IMAGE_REPO=" + reg.Host + "/signet", "COSIGN_KEY=" + key, "COSIGN_PASSWORD=wrong"}, "opening signing key"},
		{"push refused", []string{"IMAGE_REPO=" + locked.Host + "/signet", "COSIGN_KEY=" + key}, "building and pushing the image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg.Reset()
			code, stdout, stderr := release(t, c, append([]string{"IMAGE_REPO=", "COSIGN_KEY="}, tc.env...)...)
			if code == 0 || stdout != "" {
				t.Fatalf("exit %d, stdout %q", code, stdout)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "release: ") || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want one line naming %q", stderr, tc.want)
			}
			if testing.Verbose() {
				t.Log(strings.TrimSpace(stderr))
			}
			if n := reg.Requests(); n != 0 {
				t.Errorf("%d requests reached the registry", n)
			}
		})
	}
}
