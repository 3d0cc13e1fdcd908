package notaryv1

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
)

func TestGUN(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"nginx:1.25": "docker.io/library/nginx",
		"index.docker.io/acme/app@sha256:" + strings.Repeat("a", 64): "docker.io/acme/app",
		"127.0.0.1:5000/demo/app:v1":                                 "127.0.0.1:5000/demo/app",
		"GHCR.IO/acme/app:v1":                                        "ghcr.io/acme/app",
	} {
		ref, err := imageref.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := GUN(ref); got != want {
			t.Errorf("GUN(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		host string
		err  string
	}{
		{"https://notary.docker.io", ""},
		{"https://127.0.0.1:4443/", ""},
		{"http://notary.docker.io", "must start with https://"},
		{"notary.docker.io", "must start with https://"},
		{"https://", "has no host"},
		{"https://notary.example/v2", "https://host[:port] only"},
		{"https://u:p@notary.example", "https://host[:port] only"},
		{"https://notary.example?x=1", "https://host[:port] only"},
	}
	for _, tc := range tests {
		err := CheckHost(tc.host)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("CheckHost(%q) = %v, want %q", tc.host, err, tc.err)
		}
	}
}

func TestDelegationRole(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"releases", "targets/releases"},
		{"targets/releases", "targets/releases"},
		{"targets/team/alice", "targets/team/alice"},
		{"targets", ""},
		{"root", "targets/root"},
		{"targets/", ""},
		{"targets/../x", ""},
		{"", ""},
	}
	for _, tc := range tests {
		got, err := DelegationRole(tc.in)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("DelegationRole(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// selfSigned returns a PEM certificate and the PEM public key it holds.
func selfSigned(t *testing.T) (certPEM, pubPEM string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "docker.io/acme/app"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}))
}

func TestParsePublicKey(t *testing.T) {
	t.Parallel()
	cert, pub := selfSigned(t)
	tests := []struct {
		name, pem, err string
	}{
		{"public key", pub, ""},
		{"certificate", cert, ""},
		{"not PEM", "hello", "no PEM block"},
		{"two keys", pub + pub, "more than one PEM block"},
		{"PEM headers", strings.Replace(cert, "-----\n", "-----\nComment: x\n\n", 1), "PEM headers"},
		{"private key", "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n", "want a PUBLIC KEY or CERTIFICATE"},
		{"garbage key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "parsing PEM root key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParsePublicKey([]byte(tc.pem))
			if tc.err == "" {
				if err != nil || k == nil {
					t.Fatalf("ParsePublicKey: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
	a, _ := ParsePublicKey([]byte(cert))
	ca, _ := pem.Decode([]byte(cert))
	c, _ := x509.ParseCertificate(ca.Bytes)
	if !c.PublicKey.(*ecdsa.PublicKey).Equal(a) {
		t.Error("a certificate pins its public key")
	}
}

// TestFetchOutcomes: how each answer of a Notary server classifies. Only
// a missing GUN is a verdict; the rest says nothing about the image.
func TestFetchOutcomes(t *testing.T) {
	t.Parallel()
	_, pub := selfSigned(t)
	key, _ := ParsePublicKey([]byte(pub))
	tests := []struct {
		name   string
		status int
		body   string
		want   verify.Outcome
		reason string
	}{
		{"no trust data", http.StatusNotFound, "", verify.Failed, "not found"},
		{"refused", http.StatusForbidden, "", verify.Inconclusive, "refused access (HTTP 403)"},
		{"rate limited", http.StatusTooManyRequests, "", verify.Inconclusive, "HTTP 429"},
		{"server error", http.StatusBadGateway, "", verify.Inconclusive, "Notary server error (HTTP 502)"},
		{"teapot", http.StatusTeapot, "", verify.Inconclusive, "unexpected answer"},
		{"too large", http.StatusOK, strings.Repeat("x", maxRootSize+1), verify.Failed, "too large"},
		{"not TUF", http.StatusOK, "{}", verify.Failed, "root.json of"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v2/" {
					return
				}
				if r.URL.Path != "/v2/docker.io/acme/app/_trust/tuf/root.json" {
					t.Errorf("unexpected request %s", r.URL.Path)
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			v, err := New(srv.URL, []TrustRoot{{Name: "k", Key: key}}, verify.Quorum{Roots: []string{"k"}, Threshold: 1},
				WithTransport(srv.Client().Transport), WithKeychain(authn.NewMultiKeychain()))
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := imageref.Parse("acme/app:v1")
			_, err = v.ResolveTag(context.Background(), ref)
			if got := verify.Classify(err); got != tc.want {
				t.Fatalf("outcome %s (%v), want %s", got, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.reason) || !strings.Contains(err.Error(), "docker.io/acme/app") {
				t.Errorf("reason %q lacks %q or the GUN", err, tc.reason)
			}
		})
	}
}

func TestPlainHTTPRefused(t *testing.T) {
	t.Parallel()
	_, err := httpsOnly{http.DefaultTransport}.RoundTrip(httptest.NewRequest(http.MethodGet, "http://127.0.0.1:1/v2/", nil))
	if err == nil || !strings.Contains(err.Error(), "only read over HTTPS") {
		t.Fatalf("plain HTTP: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	_, pub := selfSigned(t)
	key, _ := ParsePublicKey([]byte(pub))
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	v, err := New(url, []TrustRoot{{Name: "k", Key: key}}, verify.Quorum{Roots: []string{"k"}, Threshold: 1}, WithKeychain(authn.NewMultiKeychain()))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := imageref.Parse("acme/app:v1")
	_, err = v.ResolveTag(context.Background(), ref)
	var ie *verify.InconclusiveError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), strings.TrimPrefix(url, "https://")) {
		t.Fatalf("unreachable: %v", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	_, pub := selfSigned(t)
	key, _ := ParsePublicKey([]byte(pub))
	roots := []TrustRoot{{Name: "k", Key: key}}
	q := verify.Quorum{Roots: []string{"k"}, Threshold: 1}
	if _, err := New("https://n.example", roots, verify.Quorum{Roots: []string{"x"}}); err == nil {
		t.Error("no selected trust roots: no error")
	}
	if _, err := New("https://n.example", roots, q, WithCABundle([]byte("no pem"))); err == nil {
		t.Error("bad CA: no error")
	}
	if _, err := New("https://n.example", roots, q, WithDelegations("targets")); err == nil {
		t.Error("bad delegation: no error")
	}
	v, err := New("https://n.example", roots, q, WithDelegations("releases"))
	if err != nil || v.delegations[0] != "targets/releases" {
		t.Errorf("New: %v %v", v, err)
	}
	var _ verify.TagResolver = v
}
