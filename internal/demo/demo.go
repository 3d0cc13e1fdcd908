// Package demo runs signet's walkthrough on one machine with nothing but Go:
// an embedded OCI registry on loopback, images pushed to it, one signed with
// a freshly generated key (a legacy cosign signature), one signed the cosign
// v3 way (a Sigstore bundle attached as an OCI 1.1 referrer), one unsigned,
// and a policy that trusts the key. Each image then goes through the same
// engine `signet verify` uses, and the decisions are printed.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// Run runs the walkthrough, writing to w. It leaves the policy it wrote in
// dir (a temporary directory when dir is empty) so it can be reused with
// `signet verify`, and returns an error if any decision is not the one the
// walkthrough expects.
func Run(ctx context.Context, w io.Writer, dir string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "signet-demo-")
		if err != nil {
			return err
		}
		dir = d
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("starting the embedded registry: %w", err)
	}
	srv := &http.Server{
		Handler:           ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go srv.Serve(ln) //nolint:errcheck // closed below
	defer srv.Close()
	host := ln.Addr().String()

	step(w, "1. An OCI registry is running at %s (in-process, with the OCI 1.1 referrers API).", host)
	key, err := fixture.NewKey()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(keyFile, []byte(key.PEM), 0o644); err != nil {
		return err
	}
	step(w, "2. Generated an ECDSA P-256 signing key; public key in %s.", keyFile)

	legacy, err := fixture.PushImage(host + "/demo/app:v1")
	if err != nil {
		return err
	}
	if err := fixture.SignLegacy(legacy, key); err != nil {
		return err
	}
	bundled, err := fixture.PushImage(host + "/demo/app:v2")
	if err != nil {
		return err
	}
	if _, err := fixture.AttachBundle(bundled, key, fixture.Statement(bundled, fixture.SignPredicateType)); err != nil {
		return err
	}
	if _, err := fixture.PushImage(host + "/demo/app:unsigned"); err != nil {
		return err
	}
	if _, err := fixture.PushImage(host + "/thirdparty/tool:1.0"); err != nil {
		return err
	}
	step(w, "3. Pushed four images:\n"+
		"     demo/app:v1          signed (cosign legacy signature, tag sha256-….sig)\n"+
		"     demo/app:v2          signed (cosign v3 Sigstore bundle, OCI referrer)\n"+
		"     demo/app:unsigned    not signed\n"+
		"     thirdparty/tool:1.0  not signed, not covered by any rule")

	pol := fmt.Sprintf(`apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: demo
validators:
- name: demo-key
  type: cosign
  trustRoots:
  - name: ci
    key: |
      %s
- name: allow
  type: static
  approve: true
rules:
- pattern: "%s/demo/**"
  validator: demo-key
- pattern: "registry.k8s.io/**"
  validator: allow
`, strings.ReplaceAll(strings.TrimSpace(key.PEM), "\n", "\n      "), host)
	polFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polFile, []byte(pol), 0o644); err != nil {
		return err
	}
	step(w, "4. Wrote the policy %s:\n\n%s", polFile, indent(pol))

	doc, err := policy.Parse([]byte(pol))
	if err != nil {
		return err
	}
	eng, err := policy.Compile(doc, registry.New(registry.WithUserAgent("signet-demo")))
	if err != nil {
		return err
	}
	step(w, "5. signet verify --policy %s IMAGE, for each image:", polFile)
	cases := []struct {
		image string
		allow bool
	}{
		{host + "/demo/app:v1", true},
		{host + "/demo/app:v2", true},
		{host + "/demo/app:unsigned", false},
		{host + "/thirdparty/tool:1.0", false},
	}
	var bad []string
	for _, c := range cases {
		ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
		d := eng.Evaluate(ictx, c.image)
		cancel()
		fmt.Fprintf(w, "\n   $ signet verify %s\n", c.image)
		if d.Allowed {
			fmt.Fprintf(w, "   allowed, pinned to %s\n     %s\n", d.Digest, d.Reason)
		} else {
			fmt.Fprintf(w, "   denied: %s\n", d.Reason)
		}
		if d.Allowed != c.allow {
			bad = append(bad, c.image)
		}
	}
	fmt.Fprintf(w, "\nThe policy stays in %s; the registry stopped with the demo.\n", dir)
	if len(bad) > 0 {
		return errors.New("unexpected decisions for " + strings.Join(bad, ", "))
	}
	return nil
}

func step(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "\n"+format+"\n", args...)
}

func indent(s string) string {
	return "     " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n     ")
}
