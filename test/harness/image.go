package harness

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ImageVersion is the version hack/image stamps into the image ImageBin
// builds: `signet version` of the binary shows it, which a binary built
// from source by Bin would not.
const ImageVersion = "v0.0.0-image"

// ImageBinPath is where signet's image puts the binary (its entrypoint).
const ImageBinPath = "usr/local/bin/signet"

var (
	imageOnce sync.Once
	imageDir  string
	imageBin  string
	imageErr  error
)

// ImagePlatform is the image platform whose binaries run on this machine:
// linux/amd64 on the CI runners, linux/arm64 on an arm64 host.
func ImagePlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// ImageBin returns the path of the signet binary taken from signet's own
// image, as a cluster runs it: hack/image (what make image runs) builds the
// image for ImagePlatform once per test binary and pushes it to a
// registry process on loopback (StartDistribution); the binary is read back
// from the pushed image's layers through go-containerregistry
// (ExtractSignet). The image is
// built for the host's platform only (the other adds a cross-compile and
// nothing a test here can run; test/image checks both). On a host that is
// not Linux the test is skipped: the image holds Linux binaries.
func ImageBin(t testing.TB) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("runs signet from its image, which holds linux binaries; this host is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	imageOnce.Do(func() { imageBin, imageErr = buildImageBin(t) })
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageBin
}

func buildImageBin(t testing.TB) (string, error) {
	dir, err := os.MkdirTemp("", "signet-test-image-")
	if err != nil {
		return "", err
	}
	imageDir = dir
	builder := exec.Command("go", "build", "-o", filepath.Join(dir, "image"), "./hack/image")
	builder.Dir = Root
	if b, err := builder.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building hack/image: %v\n%s", err, b)
	}
	// A registry process, not one in this process: the image's blobs
	// would raise this process's peak RSS, which every child started
	// later inherits as its own (vfork), and tests measure children's.
	reg := StartDistribution(t)
	defer reg.Stop()
	plat := ImagePlatform()
	cmd := exec.Command(filepath.Join(dir, "image"), "--dir", Root, "--repo", reg.Host+"/signet", "--insecure",
		"--platforms", plat.OS+"/"+plat.Architecture, "--version", ImageVersion)
	cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+dir)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/image: %v\n%s", err, ExitStderr(err))
	}
	pushed, err := name.NewDigest(strings.TrimSpace(string(out)))
	if err != nil {
		return "", fmt.Errorf("hack/image printed %q: %w", out, err)
	}
	idx, err := remote.Index(pushed)
	if err != nil {
		return "", fmt.Errorf("pulling %s: %w", pushed, err)
	}
	bin := filepath.Join(dir, "signet")
	if err := ExtractSignet(idx, plat, bin); err != nil {
		return "", fmt.Errorf("%s: %w", pushed, err)
	}
	if v, err := exec.Command(bin, "version").CombinedOutput(); err != nil || !strings.Contains(string(v), ImageVersion) {
		return "", fmt.Errorf("signet version of the binary from %s: %v\n%s", pushed, err, v)
	}
	return bin, nil
}

// ExtractSignet writes the signet binary (ImageBinPath) of idx's image for
// plat to dst, executable. It is streamed from the image's layers
// flattened as a container runtime unpacks them (mutate.Extract: later
// layers win, whiteouts apply), never held in memory whole.
func ExtractSignet(idx v1.ImageIndex, plat v1.Platform, dst string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if err := layerFile(idx, plat, ImageBinPath, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// layerFile copies the regular file at path (no leading slash) in the
// image of idx for plat to w.
func layerFile(idx v1.ImageIndex, plat v1.Platform, path string, w io.Writer) error {
	im, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	for _, d := range im.Manifests {
		if d.Platform == nil || !d.Platform.Satisfies(plat) {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return err
		}
		rc := mutate.Extract(img)
		defer rc.Close()
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("no %s in the %s image", path, d.Platform)
			}
			if err != nil {
				return fmt.Errorf("reading the %s image's layers: %w", d.Platform, err)
			}
			if h.Name == path && h.Typeflag == tar.TypeReg {
				_, err := io.Copy(w, tr)
				return err
			}
		}
	}
	return fmt.Errorf("no %s/%s image in the index", plat.OS, plat.Architecture)
}

// ExitStderr is the stderr an *exec.ExitError captured, if any.
func ExitStderr(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}
