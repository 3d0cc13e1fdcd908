// Package demo runs signet's walkthrough on one machine with nothing but Go:
// an embedded OCI registry on loopback, images pushed to it, one signed with
// a freshly generated key (a legacy cosign signature), one signed the cosign
// v3 way (a Sigstore bundle attached as an OCI 1.1 referrer), one unsigned,
// two signed and carrying a SLSA provenance attestation (one built by the
// builder the policy names, one by another), and a policy that trusts the
// key. Each image then goes through the same
// engine `signet verify` uses, and the decisions are printed; finally
// `signet serve` runs in-process and answers the AdmissionReviews the API
// server would send for a signed and an unsigned Pod.
package demo

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/signet-dev/signet/internal/demo/signing"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/server"
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
	key, err := signing.NewKey()
	if err != nil {
		return err
	}
	keyFile := filepath.Join(dir, "cosign.pub")
	if err := os.WriteFile(keyFile, []byte(key.PEM), 0o644); err != nil {
		return err
	}
	step(w, "2. Generated an ECDSA P-256 signing key; public key in %s.", keyFile)

	legacy, err := pushImage(host + "/demo/app:v1")
	if err != nil {
		return err
	}
	if err := signing.SignLegacy(legacy, key); err != nil {
		return err
	}
	bundled, err := pushImage(host + "/demo/app:v2")
	if err != nil {
		return err
	}
	if _, err := signing.AttachBundle(bundled, key, signing.Statement(bundled, signing.SignPredicateType)); err != nil {
		return err
	}
	if _, err := pushImage(host + "/demo/app:unsigned"); err != nil {
		return err
	}
	if _, err := pushImage(host + "/thirdparty/tool:1.0"); err != nil {
		return err
	}
	for _, b := range []struct{ ref, builder string }{
		{host + "/built/app:v1", demoBuilder},
		{host + "/built/app:laptop", "https://laptop.example/builder"},
	} {
		if err := pushAttested(b.ref, b.builder, key); err != nil {
			return err
		}
	}
	step(w, "3. Pushed six images:\n"+
		"     demo/app:v1          signed (cosign legacy signature, tag sha256-….sig)\n"+
		"     demo/app:v2          signed (cosign v3 Sigstore bundle, OCI referrer)\n"+
		"     demo/app:unsigned    not signed\n"+
		"     thirdparty/tool:1.0  not signed, not covered by any rule\n"+
		"     built/app:v1         signed, with a signed SLSA v1 provenance (cosign attest, tag sha256-….att)\n"+
		"                          naming the builder %s\n"+
		"     built/app:laptop     signed, with a signed SLSA v1 provenance naming another builder", demoBuilder)

	pol := fmt.Sprintf(`apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
metadata:
  name: demo
# The demo's registry speaks plain HTTP on loopback; every other registry
# is reached over HTTPS only.
insecureRegistries: ["%s"]
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
# Images of built/ must also carry a provenance attestation, signed by the
# same key, naming the demo's CI builder.
- pattern: "%s/built/**"
  validator: demo-key
  with:
    attestations:
    - name: built-by-ci
      type: slsaprovenance1
      conditions:
      - expression: 'predicate.runDetails.builder.id == "%s"'
        message: built by the demo CI builder
- pattern: "registry.k8s.io/**"
  validator: allow
`, host, strings.ReplaceAll(strings.TrimSpace(key.PEM), "\n", "\n      "), host, host, demoBuilder)
	polFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polFile, []byte(pol), 0o644); err != nil {
		return err
	}
	step(w, "4. Wrote the policy %s:\n\n%s", polFile, indent(pol))

	doc, err := policy.Parse([]byte(pol))
	if err != nil {
		return err
	}
	eng, err := policy.Compile(doc, registry.MustNew(registry.WithUserAgent("signet-demo")))
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
		{host + "/built/app:v1", true},
		{host + "/built/app:laptop", false},
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
	if err := webhook(ctx, w, dir, polFile, host, &bad); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nThe key, policy and serving certificate stay in %s; the registry and webhook stopped with the demo.\n", dir)
	if len(bad) > 0 {
		return errors.New("unexpected decisions for " + strings.Join(bad, ", "))
	}
	return nil
}

// webhook starts `signet serve` in-process and sends it the AdmissionReviews
// the API server would send for `kubectl run`.
func webhook(ctx context.Context, w io.Writer, dir, polFile, host string, bad *[]string) error {
	certPEM, keyPEM, err := signing.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(sctx, server.Config{
			PolicyFile: polFile, CertFile: certFile, KeyFile: keyFile,
			Addr: "127.0.0.1:0", ShutdownGrace: 5 * time.Second,
			Ready: func(addr, _ string) { ready <- addr },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		return fmt.Errorf("starting the webhook: %w", err)
	case <-time.After(15 * time.Second):
		return errors.New("the webhook did not start")
	}
	step(w, "6. signet serve --policy %s --tls-cert %s --tls-key %s\n"+
		"   is listening on https://%s (TLS 1.2+). The API server would send it an AdmissionReview\n"+
		"   for every Pod; here they are sent directly:", polFile, certFile, keyFile, addr)

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	for i, c := range []struct {
		pod, image string
		allow      bool
	}{
		{"web", host + "/demo/app:v1", true},
		{"tool", host + "/demo/app:unsigned", false},
		{"built", host + "/built/app:v1", true},
		{"laptop", host + "/built/app:laptop", false},
	} {
		fmt.Fprintf(w, "\n   $ kubectl run %s --image=%s\n", c.pod, c.image)
		resp, err := admit(client, addr, fmt.Sprintf("demo-%d", i), c.pod, c.image)
		if err != nil {
			return err
		}
		switch {
		case resp.Allowed && resp.Pinned != "":
			fmt.Fprintf(w, "   pod/%s created: allowed, pinned to %s\n     image: %s\n", c.pod, resp.Digest, resp.Pinned)
		case resp.Allowed:
			fmt.Fprintf(w, "   pod/%s created: allowed\n", c.pod)
		default:
			fmt.Fprintf(w, "   Error from server (Forbidden): admission webhook \"signet\" denied the request: %s\n", resp.Message)
		}
		if resp.Allowed != c.allow {
			*bad = append(*bad, "pod "+c.pod)
		}
	}
	stop()
	return <-done
}

type admitted struct {
	Allowed        bool
	Message        string
	Pinned, Digest string
}

func admit(client *http.Client, addr, uid, pod, image string) (*admitted, error) {
	review := map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": uid, "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace": "default", "name": pod, "operation": "CREATE",
			"userInfo": map[string]string{"username": "demo"},
			"object": map[string]any{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]string{"name": pod, "namespace": "default"},
				"spec":     map[string]any{"containers": []any{map[string]string{"name": pod, "image": image}}}},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, err
	}
	resp, err := client.Post("https://"+addr+"/mutate?timeout=10s", "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct {
		Response struct {
			Allowed bool   `json:"allowed"`
			Patch   []byte `json:"patch"`
			Status  struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("decoding the webhook's answer (HTTP %d): %w", resp.StatusCode, err)
	}
	a := &admitted{Allowed: out.Response.Allowed, Message: out.Response.Status.Message}
	var ops []struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(out.Response.Patch, &ops) == nil && len(ops) > 0 {
		a.Pinned = ops[0].Value
		if i := strings.LastIndexByte(a.Pinned, '@'); i >= 0 {
			a.Digest = a.Pinned[i+1:]
		}
	}
	return a, nil
}

// demoBuilder is the builder the demo's provenance condition asks for.
const demoBuilder = "https://ci.demo.example/builder"

// pushAttested pushes an image to ref, signs it with key and attaches a SLSA
// v1 provenance naming builder, signed with key, as cosign attest does.
func pushAttested(ref, builder string, key *signing.Key) error {
	img, err := pushImage(ref)
	if err != nil {
		return err
	}
	if err := signing.SignLegacy(img, key); err != nil {
		return err
	}
	const slsa1 = "https://slsa.dev/provenance/v1"
	provenance := map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          "https://ci.demo.example/build/v1",
			"externalParameters": map[string]any{"repository": "https://git.demo.example/app", "ref": "refs/heads/main"},
		},
		"runDetails": map[string]any{"builder": map[string]any{"id": builder}},
	}
	return signing.AppendAttestation(img, key, signing.StatementWith(img, slsa1, provenance), slsa1)
}

// pushImage pushes a one-layer image to ref ("host/repo:tag") and returns
// its digest reference. The layer (an uncompressed tar) holds one file
// naming ref, so every image has its own digest.
func pushImage(ref string) (name.Digest, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return name.Digest{}, err
	}
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	content := []byte("signet demo image " + ref + "\n")
	if err := tw.WriteHeader(&tar.Header{Name: "demo.txt", Mode: 0o644, Size: int64(len(content))}); err != nil {
		return name.Digest{}, err
	}
	if _, err := tw.Write(content); err != nil {
		return name.Digest{}, err
	}
	if err := tw.Close(); err != nil {
		return name.Digest{}, err
	}
	layer := static.NewLayer(tarball.Bytes(), types.OCIUncompressedLayer)
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		return name.Digest{}, err
	}
	if err := remote.Write(r, img); err != nil {
		return name.Digest{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		return name.Digest{}, err
	}
	return r.Context().Digest(d.String()), nil
}

func step(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "\n"+format+"\n", args...)
}

func indent(s string) string {
	return "     " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n     ")
}
