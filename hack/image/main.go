// Command image builds signet's container image and pushes it: one OCI
// index holding a linux/amd64 and a linux/arm64 image, each built from
// scratch with go-containerregistry (no Docker engine, no base image pulled
// from anywhere). The layers hold a statically linked signet, CA
// certificates and the passwd/group entries of the non-root user 65532.
//
// The build is reproducible: two builds of one commit with one toolchain
// and one CA bundle give the same index digest. Every timestamp is the
// commit time, files are written in a fixed order with fixed modes and
// owners, and the binaries are built with -trimpath and an empty build ID.
//
//	go run ./hack/image --repo registry.example/signet [--insecure]
//
// prints the pushed image as repo@sha256:… on stdout; every failure is one
// line on stderr and a non-zero exit. It is a build tool: it is not linked
// into the signet binary.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "image: "+oneLine(err.Error()))
		stop()
		os.Exit(1)
	}
}

// oneLine keeps an error to one line: tool output quoted in an error may
// span many.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(s), " ")
}

type options struct {
	repo        string
	tag         string
	insecure    bool
	platforms   []platform
	caBundle    string
	caDigest    string // sha256 of the CA bundle's contents
	dir         string
	goCmd       string
	version     string
	revision    string
	created     time.Time
	source      string
	layout      string
	binDir      string
	provenance  string
	builderID   string
	invocation  string
	digestsFile string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.repo, "repo", "", "repository to push to, host[:port]/path (required unless --oci-layout)")
	fs.StringVar(&o.tag, "tag", "", "tag to push (default: the version)")
	fs.BoolVar(&o.insecure, "insecure", false, "allow plain HTTP to the registry")
	plats := fs.String("platforms", "linux/amd64,linux/arm64", "comma-separated GOOS/GOARCH list")
	fs.StringVar(&o.caBundle, "ca-bundle", "", "PEM CA certificates copied into the image (default: the build machine's, where Go's crypto/x509 looks on Linux)")
	fs.StringVar(&o.dir, "dir", ".", "the signet source tree")
	fs.StringVar(&o.goCmd, "go", "go", "the go command")
	fs.StringVar(&o.version, "version", "", "version stamped into the binary and the labels (default: git describe)")
	fs.StringVar(&o.revision, "revision", "", "source revision (default: git rev-parse HEAD)")
	created := fs.String("created", "", "creation time, RFC 3339 or Unix seconds (default: the commit time)")
	fs.StringVar(&o.source, "source", "https://github.com/signet-dev/signet", "org.opencontainers.image.source")
	fs.StringVar(&o.layout, "oci-layout", "", "also write the index to this OCI image layout directory")
	fs.StringVar(&o.binDir, "bin-dir", "", "keep the built binaries here as signet-GOOS-GOARCH")
	fs.StringVar(&o.provenance, "provenance", "", "write a SLSA v1 provenance predicate of this build to this file")
	fs.StringVar(&o.builderID, "builder-id", "https://github.com/signet-dev/signet/hack/image", "SLSA builder id recorded in the provenance")
	fs.StringVar(&o.invocation, "invocation", "make image", "the command recorded in the provenance")
	fs.StringVar(&o.digestsFile, "digests-file", "", "write \"platform digest\" lines (the index first, as \"index\") to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.repo == "" && o.layout == "" {
		return nil, errors.New("no registry to push to: set --repo (make image IMAGE_REPO=host:port/path)")
	}
	var err error
	if o.platforms, err = parsePlatforms(*plats); err != nil {
		return nil, err
	}
	if *created != "" {
		if o.created, err = parseTime(*created); err != nil {
			return nil, fmt.Errorf("--created: %w", err)
		}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if err := o.fillFromGit(ctx); err != nil {
		return err
	}
	if o.tag == "" {
		o.tag = tagFor(o.version)
	}
	if o.caBundle == "" {
		o.caBundle = systemBundle()
	}
	ca, err := os.ReadFile(o.caBundle)
	if err != nil {
		return fmt.Errorf("reading the CA bundle: %w", err)
	}
	if !strings.Contains(string(ca), "-----BEGIN CERTIFICATE-----") {
		return fmt.Errorf("CA bundle %s holds no PEM certificate", o.caBundle)
	}
	o.caDigest = fmt.Sprintf("sha256:%x", sha256.Sum256(ca))
	var ref name.Tag
	if o.repo != "" {
		if ref, err = target(o); err != nil {
			return err
		}
	}
	bins, cleanup, err := buildBinaries(ctx, o)
	defer cleanup()
	if err != nil {
		return err
	}
	idx, err := assemble(o, ca, bins)
	if err != nil {
		return fmt.Errorf("assembling the image: %w", err)
	}
	if o.layout != "" {
		if err := writeLayout(o.layout, idx); err != nil {
			return fmt.Errorf("writing OCI layout %s: %w", o.layout, err)
		}
	}
	pushed := ""
	if o.repo != "" {
		if pushed, err = push(ctx, ref, idx); err != nil {
			return err
		}
	}
	if o.digestsFile != "" {
		if err := writeDigests(o.digestsFile, idx); err != nil {
			return err
		}
	}
	if o.provenance != "" {
		if err := writeProvenance(ctx, o, idx); err != nil {
			return fmt.Errorf("writing provenance: %w", err)
		}
	}
	if pushed == "" {
		d, err := idx.Digest()
		if err != nil {
			return err
		}
		pushed = o.layout + "@" + d.String()
	}
	fmt.Fprintln(stdout, pushed)
	return nil
}

// systemBundles are the files Go's crypto/x509 reads roots from on Linux
// (root_linux.go), in its order.
var systemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch, Alpine
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine, macOS
}

// systemBundle returns the first of systemBundles that exists (the first,
// to name in the error, when none does).
func systemBundle() string {
	for _, f := range systemBundles {
		if _, err := os.Stat(f); err == nil {
			return f
		}
	}
	return systemBundles[0]
}
