package image

import (
	"bytes"
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

// release runs hack/release.sh (what make release runs) as
// harness.Release does, with the version testVersion.
func release(t *testing.T, c *harness.Cosign, env ...string) (int, string, string) {
	t.Helper()
	return harness.Release(t, c, append([]string{"VERSION=" + testVersion}, env...)...)
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
// and provenance attestations verify with the key; the chart is pushed
// next to the image, pins it by digest, and its signature verifies.
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

	t.Run("chart pushed and signed", func(t *testing.T) {
		checkChart(t, c, reg.Host+"/charts/signet", ref, stderr)
	})

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
		code, out := verify(harness.CopyIndex(t, ref, reg.Host+"/mirror/signet:"+testVersion).String())
		if code != 1 || !strings.Contains(out, "no cosign signatures found") {
			t.Fatalf("unsigned copy: exit %d, want 1 (denied)\n%s", code, out)
		}
	})
	t.Run("attestations verify", func(t *testing.T) {
		pubFile := filepath.Join(c.Dir, "release.pub")
		// check verifies img's attestation of typ and returns its in-toto
		// statement.
		check := func(typ string, img name.Digest) map[string]any {
			out := c.Run(t, cosign, "verify-attestation", "--key", pubFile, "--type", typ,
				"--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", img.String())
			var st map[string]any
			if err := json.Unmarshal(harness.AttestationPayload(t, out), &st); err != nil {
				t.Fatal(err)
			}
			return st
		}
		st := check("slsaprovenance1", ref)
		b, _ := json.Marshal(st)
		rev := strings.TrimSpace(git(t, "rev-parse", "HEAD"))
		for _, want := range []string{`"predicateType":"https://slsa.dev/provenance/v1"`, `"revision":"` + rev + `"`, `"command":"make release"`, ref.DigestStr()[len("sha256:"):]} {
			if !strings.Contains(string(b), want) {
				t.Errorf("provenance lacks %s:\n%s", want, b)
			}
		}
		for _, d := range harness.Platforms(t, ref) {
			st := check("cyclonedx", d)
			b, _ := json.Marshal(st)
			if !strings.Contains(string(b), `"bomFormat":"CycloneDX"`) || !strings.Contains(string(b), "pkg:golang/github.com/google/go-containerregistry") {
				t.Errorf("%s: SBOM statement lacks CycloneDX or go-containerregistry", d.DigestStr())
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
		{"no chart repository", []string{"IMAGE_REPO=signet", "COSIGN_KEY=" + key}, "no repository for the chart: set CHART_REPO"},
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

// checkChart checks the chart release reported on stderr: pushed to
// chartRepo with the release's version, pulled back by helm at the digest
// reported, pinning the image ref by digest, and signed with the release
// key (dist's cosign.pub) while a copy elsewhere is not.
func checkChart(t *testing.T, c *harness.Cosign, chartRepo string, ref name.Digest, stderr string) {
	t.Helper()
	chartVersion := strings.TrimPrefix(testVersion, "v")
	prefix := "release: chart oci://" + chartRepo + ":" + chartVersion + "@"
	if !strings.HasPrefix(stderr, prefix) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
		t.Fatalf("stderr %q, want one line starting %q", stderr, prefix)
	}
	digest := strings.TrimSpace(strings.TrimPrefix(stderr, prefix))
	tag, err := name.NewTag(chartRepo + ":" + chartVersion)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(tag)
	if err != nil {
		t.Fatalf("the chart's tag: %v", err)
	}
	if desc.Digest.String() != digest {
		t.Errorf("%s is %s, release reported %s", tag, desc.Digest, digest)
	}
	if !strings.Contains(string(desc.Manifest), "application/vnd.cncf.helm.config.v1+json") {
		t.Errorf("not a Helm chart manifest: %s", desc.Manifest)
	}

	helm := harness.Tool(t, "helm")
	dir := t.TempDir()
	out := c.Run(t, helm, "pull", "oci://"+chartRepo, "--version", chartVersion, "--plain-http", "--destination", dir)
	if !strings.Contains(out, digest) {
		t.Errorf("helm pull did not get %s:\n%s", digest, out)
	}
	// By digest, as docs/install.md says to install what was verified.
	byDigest := t.TempDir()
	out = c.Run(t, helm, "pull", "oci://"+chartRepo+"@"+digest, "--plain-http", "--destination", byDigest)
	tgz := filepath.Join(dir, "signet-"+chartVersion+".tgz")
	got, _ := filepath.Glob(filepath.Join(byDigest, "*"))
	if len(got) != 1 || !sameFile(t, got[0], tgz) {
		t.Errorf("helm pull by digest gave %v, not the chart of %s:\n%s", got, chartVersion, out)
	}
	meta := c.Run(t, helm, "show", "chart", tgz)
	for _, want := range []string{"version: " + chartVersion + "\n", "appVersion: " + testVersion + "\n"} {
		if !strings.Contains(meta, want) {
			t.Errorf("Chart.yaml lacks %q:\n%s", want, meta)
		}
	}
	rendered := c.Run(t, helm, "template", "signet", tgz, "--namespace", "signet-system", "--kube-version", "1.34.0")
	if n := strings.Count(rendered, "image: "+ref.String()+"\n"); n != 2 {
		t.Errorf("the chart runs %s in %d containers, want 2 (signet and the policy lint)", ref, n)
	}
	if committed, err := os.ReadFile(filepath.Join(harness.Root, "deploy", "helm", "signet", "values.yaml")); err != nil || !strings.Contains(string(committed), "  digest: \"\"\n") {
		t.Errorf("the committed values.yaml was changed (%v)", err)
	}

	pubFile := filepath.Join(c.Dir, "release.pub")
	verify := func(img string) (string, error) {
		return c.Try(harness.Tool(t, "cosign2"), "verify", "--key", pubFile, "--insecure-ignore-tlog",
			"--allow-insecure-registry", "--allow-http-registry", img)
	}
	signed := chartRepo + "@" + digest
	if out, err := verify(signed); err != nil {
		t.Errorf("cosign verify of the chart: %v", err)
	} else if !strings.Contains(out, digest) {
		t.Errorf("cosign verify printed no claim for %s:\n%s", digest, out)
	}
	// The same chart copied elsewhere carries no signature.
	src, err := name.NewDigest(signed)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(src)
	if err != nil {
		t.Fatal(err)
	}
	copyRef := strings.Replace(chartRepo, "/charts/", "/mirror/charts/", 1)
	dst, err := name.NewTag(copyRef + ":" + chartVersion)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(dst, img); err != nil {
		t.Fatal(err)
	}
	if out, err := verify(copyRef + "@" + digest); err == nil || !strings.Contains(out, "no signatures found") {
		t.Errorf("cosign verify of an unsigned copy of the chart: %v\n%s", err, out)
	}
}

// TestReleaseChartPushRefused: a registry that refuses the chart fails the
// release before anything is signed, with one line naming the chart push,
// and nothing printed as released: the image was pushed, but it carries no
// signature and no attestation.
func TestReleaseChartPushRefused(t *testing.T) {
	reg := testutil.NewRegistry(t, false)
	locked := testutil.NewRegistry(t, false)
	locked.RequireBasicAuth("user", "secret")
	c := harness.NewCosign(t)
	key, _ := c.GenKey(t, harness.Tool(t, "cosign2"), "release")
	code, stdout, stderr := release(t, c, "IMAGE_REPO="+reg.Host+"/signet", "COSIGN_KEY="+key, "CHART_REPO=oci://"+locked.Host+"/charts")
	if code == 0 || stdout != "" {
		t.Fatalf("exit %d, stdout %q", code, stdout)
	}
	want := "release: pushing the chart to oci://" + locked.Host + "/charts failed: "
	if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want one line starting %q", stderr, want)
	}
	t.Log(strings.TrimSpace(stderr))

	repo, err := name.NewRepository(reg.Host + "/signet")
	if err != nil {
		t.Fatal(err)
	}
	tags, err := remote.List(repo)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1 || tags[0] != testVersion {
		t.Errorf("tags %v, want only the image's %s (no .sig, .att or other signature tags)", tags, testVersion)
	}
	desc, err := remote.Get(repo.Tag(testVersion))
	if err != nil {
		t.Fatal(err)
	}
	index := repo.Digest(desc.Digest.String())
	for _, d := range append(harness.Platforms(t, index), index) {
		out, err := c.Try(harness.Tool(t, "cosign2"), "verify", "--key", filepath.Join(c.Dir, "release.pub"),
			"--insecure-ignore-tlog", "--allow-insecure-registry", "--allow-http-registry", d.String())
		if err == nil || !strings.Contains(out, "no signatures found") {
			t.Errorf("cosign verify %s after the refused chart push: %v\n%s", d, err, out)
		}
		refs, err := remote.Referrers(d)
		if err != nil {
			t.Fatal(err)
		}
		if rm, _ := refs.IndexManifest(); len(rm.Manifests) != 0 {
			t.Errorf("%s has %d referrers, want none", d, len(rm.Manifests))
		}
	}
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	x, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	y, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(x, y)
}
