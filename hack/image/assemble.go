package main

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's fixed layout.
const (
	binPath  = "/usr/local/bin/signet"
	caPath   = "/etc/ssl/certs/ca-certificates.crt"
	nonRoot  = 65532
	userSpec = "65532:65532"
)

// entry is one file or directory of a layer. Layers list them in a fixed
// order (parents first), so the tar bytes depend on the contents only.
type entry struct {
	name     string // without a leading "/"; directories end in "/"
	mode     int64
	uid      int
	data     []byte // a file's contents (nil: read path)
	path     string // a file on disk, for the binary
	typeflag byte
}

// tarLayer writes entries as an uncompressed tar with every header field
// fixed (owner by id only, mtime = created) and hands it to
// go-containerregistry, which compresses and digests it.
func tarLayer(created time.Time, entries []entry) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{
			Typeflag: e.typeflag, Name: e.name, Mode: e.mode,
			Uid: e.uid, Gid: e.uid, ModTime: created,
			// USTAR: no PAX records (access/change times, names).
			Format: tar.FormatUSTAR,
		}
		data := e.data
		if e.path != "" {
			b, err := os.ReadFile(e.path)
			if err != nil {
				return nil, err
			}
			data = b
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
}

func dir(name string, mode int64, uid int) entry {
	return entry{name: name, mode: mode, uid: uid, typeflag: tar.TypeDir}
}

func file(name string, mode int64, data []byte) entry {
	return entry{name: name, mode: mode, data: data, typeflag: tar.TypeReg}
}

// baseLayer is the same for every platform: CA certificates, the passwd
// and group entries of root and nonroot (65532), nonroot's home and /tmp.
func baseLayer(created time.Time, ca []byte) (v1.Layer, error) {
	return tarLayer(created, []entry{
		dir("etc/", 0o755, 0),
		file("etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")),
		file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")),
		dir("etc/ssl/", 0o755, 0),
		dir("etc/ssl/certs/", 0o755, 0),
		file(caPath[1:], 0o644, ca),
		dir("home/", 0o755, 0),
		dir("home/nonroot/", 0o700, nonRoot),
		dir("tmp/", 0o1777, 0),
	})
}

// binLayer holds the binary, owned by root: the user it runs as cannot
// change it.
func binLayer(created time.Time, bin string) (v1.Layer, error) {
	return tarLayer(created, []entry{
		dir("usr/", 0o755, 0),
		dir("usr/local/", 0o755, 0),
		dir("usr/local/bin/", 0o755, 0),
		{name: binPath[1:], mode: 0o755, path: bin, typeflag: tar.TypeReg},
	})
}

// annotations are the OCI annotations of the index and every image; the
// image configs carry them as labels as well.
func (o *options) annotations() map[string]string {
	return map[string]string{
		"org.opencontainers.image.source":      o.source,
		"org.opencontainers.image.revision":    o.revision,
		"org.opencontainers.image.version":     o.version,
		"org.opencontainers.image.created":     o.created.Format(time.RFC3339),
		"org.opencontainers.image.title":       "signet",
		"org.opencontainers.image.description": "Kubernetes admission controller that admits only signed, trusted images",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.base.name":   "scratch",
		// Which CA bundle the image carries: the one input of the digest
		// that comes from the build machine rather than the commit.
		"dev.signet.image.ca-bundle.digest": o.caDigest,
	}
}

func assemble(o *options, ca []byte, bins map[platform]string) (v1.ImageIndex, error) {
	base, err := baseLayer(o.created, ca)
	if err != nil {
		return nil, err
	}
	anns := o.annotations()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		bl, err := binLayer(o.created, bins[p])
		if err != nil {
			return nil, err
		}
		img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{
			Architecture: p.arch,
			OS:           p.os,
			Created:      v1.Time{Time: o.created},
			Config: v1.Config{
				Entrypoint: []string{binPath},
				User:       userSpec,
				WorkingDir: "/home/nonroot",
				Env:        []string{"PATH=/usr/local/bin", "SSL_CERT_FILE=" + caPath},
				Labels:     anns,
			},
			RootFS: v1.RootFS{Type: "layers"},
		})
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img,
			mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "hack/image: CA certificates, passwd, group", Comment: "scratch"}},
			mutate.Addendum{Layer: bl, History: v1.History{Created: v1.Time{Time: o.created}, CreatedBy: "go build -trimpath ./cmd/signet (" + p.String() + ")"}})
		if err != nil {
			return nil, err
		}
		img = mutate.Annotations(img, anns).(v1.Image)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.os, Architecture: p.arch}},
		})
	}
	return mutate.Annotations(idx, anns).(v1.ImageIndex), nil
}

// target parses the tag to push and checks, before anything is built, that
// the registry answers and lets this user push there.
func target(o *options) (name.Tag, error) {
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	ref, err := name.NewTag(o.repo+":"+o.tag, nopts...)
	if err != nil {
		return name.Tag{}, fmt.Errorf("image reference %s:%s: %w", o.repo, o.tag, err)
	}
	if err := remote.CheckPushPermission(ref, authn.DefaultKeychain, remote.DefaultTransport); err != nil {
		return name.Tag{}, fmt.Errorf("cannot push to %s (registry %s): %w", ref.RepositoryStr(), ref.RegistryStr(), err)
	}
	return ref, nil
}

func push(ctx context.Context, ref name.Tag, idx v1.ImageIndex) (string, error) {
	if err := remote.WriteIndex(ref, idx, remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)); err != nil {
		return "", fmt.Errorf("pushing to %s: %w", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return ref.Context().Digest(d.String()).String(), nil
}

func writeLayout(dir string, idx v1.ImageIndex) error {
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return err
		}
	}
	return p.AppendIndex(idx)
}

// writeDigests writes the index digest and each platform's manifest digest,
// one "platform digest" line each, for the release script.
func writeDigests(path string, idx v1.ImageIndex) error {
	m, err := idx.IndexManifest()
	if err != nil {
		return err
	}
	d, err := idx.Digest()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "index %s\n", d)
	for _, desc := range m.Manifests {
		fmt.Fprintf(&b, "%s/%s %s\n", desc.Platform.OS, desc.Platform.Architecture, desc.Digest)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
