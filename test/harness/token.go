package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/signet-dev/signet/internal/fixture"
)

// StartTokenDistribution runs the distribution registry with bearer-token
// auth (as Docker Hub and most cloud registries do) and a token server on
// https://localhost:PORT/auth that issues ES256 JWTs (x5c header) to
// alice/s3cret. The registry serves TLS too (signet never sends a token
// over plain HTTP); CAPEM holds both servers' certificates.
func StartTokenDistribution(t testing.TB) *SecureRegistry {
	t.Helper()
	dir := t.TempDir()
	ts := StartTokenServer(t, dir)
	port, bundle := ts.Port, ts.Bundle
	regCert, regKey, err := fixture.ServingCert("127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "tls.crt"), regCert, 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), regKey, 0o600)
	certPEM := append(append([]byte{}, ts.CAPEM...), regCert...)
	addr := FreeAddr(t)
	cfg := filepath.Join(dir, "config.yml")
	os.WriteFile(cfg, []byte(`version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {inmemory: {}, delete: {enabled: true}}
auth: {token: {realm: "https://localhost:`+port+`/auth", service: registry-test, issuer: test-issuer, rootcertbundle: `+bundle+`}}
http: {addr: `+addr+`, secret: test, tls: {certificate: `+filepath.Join(dir, "tls.crt")+`, key: `+filepath.Join(dir, "tls.key")+`}}
`), 0o600)
	cmd := exec.Command(Tool(t, "registry"), "serve", cfg)
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none")
	p := Start(t, cmd)
	p.Host = addr
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	WaitStatus(t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, "https://"+addr+"/v2/", http.StatusUnauthorized)
	return &SecureRegistry{Proc: p, CAPEM: certPEM, User: "alice", Pass: "s3cret"}
}

// TokenServer is a distribution-style bearer-token server on
// https://localhost:Port/auth issuing ES256 JWTs (x5c header) to
// alice/s3cret for whatever scopes are asked.
type TokenServer struct {
	// Port is the server's port on localhost.
	Port string
	// Realm is https://localhost:Port/auth.
	Realm string
	// Bundle is the path of the token-signing certificate: the
	// rootcertbundle of the registry or Notary server trusting the tokens.
	Bundle string
	// CAPEM is the token server's TLS certificate (its own CA).
	CAPEM []byte
}

// StartTokenServer starts a TokenServer that stops with the test. Its
// signing certificate is written to dir. ggcr refuses bearer realms on
// loopback IP literals, hence localhost.
func StartTokenServer(t testing.TB, dir string) *TokenServer {
	t.Helper()
	// The key that signs tokens, and its certificate: the registry's
	// rootcertbundle.
	sigKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "test token issuer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	sigDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &sigKey.PublicKey, sigKey)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "token-signing.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sigDER}), 0o600)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: sigKey},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5c", []string{base64.StdEncoding.EncodeToString(sigDER)}))
	if err != nil {
		t.Fatal(err)
	}

	// The token server, over TLS on localhost.
	certPEM, keyPEM, err := fixture.ServingCert("localhost", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "alice" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="token"`)
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		var access []map[string]any
		for _, scope := range r.URL.Query()["scope"] {
			// type:name:actions, where a name may hold a port
			// (Notary GUNs: 127.0.0.1:5000/app).
			typ, rest, ok1 := strings.Cut(scope, ":")
			i := strings.LastIndexByte(rest, ':')
			if ok1 && i > 0 {
				access = append(access, map[string]any{"type": typ, "name": rest[:i], "actions": strings.Split(rest[i+1:], ",")})
			}
		}
		now := time.Now()
		claims, _ := json.Marshal(map[string]any{
			"iss": "test-issuer", "sub": "alice", "aud": r.URL.Query().Get("service"),
			"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
			"jti": base64.RawURLEncoding.EncodeToString(big.NewInt(now.UnixNano()).Bytes()), "access": access,
		})
		jws, err := signer.Sign(claims)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		tok, _ := jws.CompactSerialize()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300})
	})}
	go srv.Serve(ln) //nolint:errcheck // closed in cleanup
	t.Cleanup(func() { srv.Close() })

	return &TokenServer{Port: port, Realm: "https://localhost:" + port + "/auth", Bundle: bundle, CAPEM: certPEM}
}
