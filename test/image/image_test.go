package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	if builderDir != "" {
		os.RemoveAll(builderDir)
	}
	os.Exit(code)
}

var (
	builderOnce sync.Once
	builderDir  string
	builderErr  error
)

// builder returns hack/image, built once.
func builder(t *testing.T) string {
	t.Helper()
	builderOnce.Do(func() {
		if builderDir, builderErr = os.MkdirTemp("", "signet-image-test-"); builderErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(builderDir, "image"), "./hack/image")
		cmd.Dir = harness.Root
		if b, err := cmd.CombinedOutput(); err != nil {
			builderErr = fmt.Errorf("building hack/image: %v\n%s", err, b)
		}
	})
	if builderErr != nil {
		t.Fatal(builderErr)
	}
	return filepath.Join(builderDir, "image")
}

const testVersion = "v0.0.0-imagetest"

// build runs the builder and returns its exit code, stdout and stderr.
func build(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(builder(t), append([]string{"--dir", harness.Root, "--version", testVersion}, args...)...)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir())
	return harness.ExitCode(t, cmd)
}

func mustBuild(t *testing.T, args ...string) name.Digest {
	t.Helper()
	code, stdout, stderr := build(t, args...)
	if code != 0 {
		t.Fatalf("hack/image %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	d, err := name.NewDigest(strings.TrimSpace(stdout))
	if err != nil {
		t.Fatalf("output %q: %v", stdout, err)
	}
	return d
}

// files reads a layer's tar: headers and contents by name.
func files(t *testing.T, l v1.Layer) (map[string]*tar.Header, map[string][]byte) {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	hs, data := map[string]*tar.Header{}, map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hs, data
		}
		if err != nil {
			t.Fatal(err)
		}
		hs[h.Name] = h
		if h.Typeflag == tar.TypeReg {
			if data[h.Name], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestImage builds and pushes the image twice and checks what a cluster
// pulling it gets.
func TestImage(t *testing.T) {
	reg := testutil.NewRegistry(t, false)
	first := mustBuild(t, "--repo", reg.Host+"/signet", "--tag", "first")
	second := mustBuild(t, "--repo", reg.Host+"/signet", "--tag", "second", "--insecure")
	if first.DigestStr() != second.DigestStr() {
		t.Fatalf("two builds of one commit: %s and %s", first.DigestStr(), second.DigestStr())
	}

	idx, err := remote.Index(first)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("index media type %s", im.MediaType)
	}
	var plats []string
	for _, d := range im.Manifests {
		plats = append(plats, d.Platform.String())
	}
	if !slices.Equal(plats, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("platforms %v", plats)
	}
	rev := strings.TrimSpace(git(t, "rev-parse", "HEAD"))
	ct, err := strconv.ParseInt(strings.TrimSpace(git(t, "log", "-1", "--format=%ct")), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	wantCreated := time.Unix(ct, 0).UTC()
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/signet-dev/signet",
		"org.opencontainers.image.revision": rev,
		"org.opencontainers.image.version":  testVersion,
		"org.opencontainers.image.created":  wantCreated.Format(time.RFC3339),
	}
	for k, v := range wantLabels {
		if im.Annotations[k] != v {
			t.Errorf("index annotation %s = %q, want %q", k, im.Annotations[k], v)
		}
	}

	for _, desc := range im.Manifests {
		p := desc.Platform
		t.Run(p.String(), func(t *testing.T) {
			img, err := idx.Image(desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.OS != p.OS || cf.Architecture != p.Architecture {
				t.Errorf("config platform %s/%s", cf.OS, cf.Architecture)
			}
			if cf.Config.User != "65532:65532" {
				t.Errorf("user %q, want 65532:65532", cf.Config.User)
			}
			if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/local/bin/signet"}) {
				t.Errorf("entrypoint %q", cf.Config.Entrypoint)
			}
			if !cf.Created.Time.Equal(wantCreated) {
				t.Errorf("created %s, want the commit time %s", cf.Created.Time, wantCreated)
			}
			for k, v := range wantLabels {
				if cf.Config.Labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, cf.Config.Labels[k], v)
				}
			}
			m, err := img.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if m.MediaType != types.OCIManifestSchema1 || m.Annotations["org.opencontainers.image.revision"] != rev {
				t.Errorf("manifest media type %s, annotations %v", m.MediaType, m.Annotations)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			hs, data := map[string]*tar.Header{}, map[string][]byte{}
			for _, l := range layers {
				h, d := files(t, l)
				for k, v := range h {
					hs[k] = v
				}
				for k, v := range d {
					data[k] = v
				}
			}
			for name, h := range hs {
				if !h.ModTime.Equal(wantCreated) {
					t.Errorf("%s: mtime %s, want the commit time", name, h.ModTime)
				}
				wantUID := 0
				if name == "home/nonroot/" {
					wantUID = 65532
				}
				if h.Uid != wantUID || h.Gid != wantUID {
					t.Errorf("%s: owner %d:%d, want %d", name, h.Uid, h.Gid, wantUID)
				}
			}
			bin := hs["usr/local/bin/signet"]
			if bin == nil || bin.Mode != 0o755 {
				t.Fatalf("usr/local/bin/signet: %+v", bin)
			}
			if !bytes.Contains(data["etc/ssl/certs/ca-certificates.crt"], []byte("-----BEGIN CERTIFICATE-----")) {
				t.Error("no CA certificates in etc/ssl/certs/ca-certificates.crt")
			}
			if !bytes.Contains(data["etc/passwd"], []byte("nonroot:x:65532:65532:")) {
				t.Errorf("etc/passwd: %s", data["etc/passwd"])
			}
			if p.OS != runtime.GOOS || p.Architecture != runtime.GOARCH {
				return
			}
			// The binary taken from the pushed layer runs.
			exe := filepath.Join(t.TempDir(), "signet")
			if err := os.WriteFile(exe, data["usr/local/bin/signet"], 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(exe, "version").CombinedOutput()
			if err != nil {
				t.Fatalf("signet version from the %s layer: %v\n%s", p, err, out)
			}
			if !strings.Contains(string(out), testVersion) {
				t.Errorf("signet version: %s, want %s", out, testVersion)
			}
		})
	}
}

func git(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = harness.Root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %v: %v", args, err)
	}
	return string(out)
}

// TestImageBadInput: each failure is one line naming what failed, a
// non-zero exit, and nothing reported as pushed. All of them fail before
// anything is compiled.
func TestImageBadInput(t *testing.T) {
	down := testutil.NewRegistry(t, false)
	down.SetDown(true)
	locked := testutil.NewRegistry(t, false)
	locked.RequireBasicAuth("user", "secret")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no registry", nil, "no registry to push to"},
		{"registry unreachable", []string{"--repo", harness.FreeAddr(t) + "/signet"}, "cannot push to signet"},
		{"registry down", []string{"--repo", down.Host + "/signet"}, "cannot push to signet"},
		{"push refused", []string{"--repo", locked.Host + "/signet"}, "cannot push to signet"},
		{"bad reference", []string{"--repo", "UPPER/Case"}, "image reference"},
		{"bad platform", []string{"--repo", down.Host + "/signet", "--platforms", "windows/amd64"}, "platform"},
		{"no CA bundle", []string{"--repo", down.Host + "/signet", "--ca-bundle", "/nonexistent"}, "CA bundle"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := build(t, tc.args...)
			if code == 0 || stdout != "" {
				t.Fatalf("exit %d, stdout %q", code, stdout)
			}
			if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr %q, want one line naming %q", stderr, tc.want)
			}
			if testing.Verbose() {
				t.Log(strings.TrimSpace(stderr))
			}
		})
	}
}
