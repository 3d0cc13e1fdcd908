package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Notary is a real notary-server with its notary-signer (Debian's notary
// 0.7.0 packages): TLS with a private CA, bearer-token auth from a
// TokenServer, memory storage, and ECDSA timestamp (and server-managed
// snapshot) keys held by the signer, as on Docker Hub.
type Notary struct {
	// URL is https://127.0.0.1:PORT.
	URL string
	// Host is 127.0.0.1:PORT.
	Host string
	// CAPEM holds the CAs of the server's and the token server's TLS
	// certificates.
	CAPEM []byte
	// User and Pass are the token server's credentials.
	User, Pass string
	dir        string
	realm      string
}

// StartNotary starts notary-signer and notary-server, installing Debian's
// notary package through hack/apt.sh when the commands are missing (the
// test fails with what to do when that is impossible).
func StartNotary(t testing.TB) *Notary {
	t.Helper()
	NeedApt(t, "notary-server=notary", "notary-signer=notary", "notary=notary")
	dir := t.TempDir()
	ca, crt, key := notaryTLS(t, dir)
	ts := StartTokenServer(t, dir)

	signerAddr, serverAddr := FreeAddr(t), FreeAddr(t)
	_, signerPort, _ := net.SplitHostPort(signerAddr)
	signerCfg := filepath.Join(dir, "signer.json")
	os.WriteFile(signerCfg, []byte(fmt.Sprintf(`{"server":{"grpc_addr":%q,"tls_cert_file":%q,"tls_key_file":%q,"client_ca_file":%q},
"logging":{"level":"error"},"storage":{"backend":"memory"}}`, signerAddr, crt, key, ca)), 0o600)
	signer := exec.Command("notary-signer", "-config", signerCfg)
	signer.Env = append(os.Environ(), "NOTARY_SIGNER_DEFAULT_ALIAS=alias", "NOTARY_SIGNER_ALIAS=signet-test-passphrase")
	Start(t, signer)
	waitTCP(t, signerAddr)

	serverCfg := filepath.Join(dir, "server.json")
	os.WriteFile(serverCfg, []byte(fmt.Sprintf(`{"server":{"http_addr":%q,"tls_cert_file":%q,"tls_key_file":%q},
"trust_service":{"type":"remote","hostname":"127.0.0.1","port":%q,"tls_ca_file":%q,"key_algorithm":"ecdsa","tls_client_cert":%q,"tls_client_key":%q},
"auth":{"type":"token","options":{"realm":%q,"service":"notary-test","issuer":"test-issuer","rootcertbundle":%q}},
"logging":{"level":"error"},"storage":{"backend":"memory"}}`,
		serverAddr, crt, key, signerPort, ca, crt, key, ts.Realm, ts.Bundle)), 0o600)
	Start(t, exec.Command("notary-server", "-config", serverCfg))
	caPEM, _ := os.ReadFile(ca)
	caPEM = append(caPEM, ts.CAPEM...) // the token server's, too: clients fetch tokens from it
	n := &Notary{URL: "https://" + serverAddr, Host: serverAddr, CAPEM: caPEM, User: "alice", Pass: "s3cret", dir: dir, realm: ts.Realm}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	WaitHTTP(t, client, n.URL+"/_notary_server/health")
	return n
}

// TrustData returns the current trust data files of gun as the server
// serves them (role → content), read with a pull token.
func (n *Notary) TrustData(t testing.TB, gun string, roles ...string) map[string][]byte {
	t.Helper()
	tok := n.token(t, gun, "pull")
	out := map[string][]byte{}
	for _, role := range roles {
		out[role] = n.do(t, http.MethodGet, "/v2/"+gun+"/_trust/tuf/"+role+".json", tok, "", nil)
	}
	return out
}

// TimestampKey returns the public key (TUF JSON) the server signs gun's
// timestamps with, made on first request: what the notary client puts in
// a new root.json before publishing.
func (n *Notary) TimestampKey(t testing.TB, gun string) []byte {
	t.Helper()
	return n.do(t, http.MethodGet, "/v2/"+gun+"/_trust/tuf/timestamp.key", n.token(t, gun, "push,pull"), "", nil)
}

// Publish uploads trust data files (role → content) for gun, as `notary
// publish` does, whatever they hold: the server validates them as it
// validates any client's upload (a new GUN's root is trusted on first use)
// and serves them, with a timestamp it signs.
func (n *Notary) Publish(t testing.TB, gun string, files map[string][]byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for role, b := range files {
		w, err := mw.CreateFormFile("files", role)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	mw.Close()
	n.do(t, http.MethodPost, "/v2/"+gun+"/_trust/tuf/", n.token(t, gun, "push,pull"), mw.FormDataContentType(), &body)
}

// token returns a bearer token for gun from the token server.
func (n *Notary) token(t testing.TB, gun, actions string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, n.realm+"?service=notary-test&scope=repository:"+gun+":"+actions, nil)
	req.SetBasicAuth(n.User, n.Pass)
	resp, err := n.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil {
		t.Fatalf("token for %s: %v", gun, err)
	}
	return tok.Token
}

// do sends one request to the server with a bearer token and returns the
// body of a 200 answer; anything else fails the test.
func (n *Notary) do(t testing.TB, method, path, token, contentType string, body io.Reader) []byte {
	t.Helper()
	req, _ := http.NewRequest(method, n.URL+path, body)
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := n.httpClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, req.URL, resp.Status, b)
	}
	return b
}

func (n *Notary) httpClient() *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(n.CAPEM)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// NeedApt makes sure each command CMD of CMD=PKG is installed, through
// hack/apt.sh, and fails the test with its explanation otherwise.
func NeedApt(t testing.TB, specs ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(Root, "hack", "apt.sh"), specs...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing %s with hack/apt.sh: %v\n%s", strings.Join(specs, " "), err, out)
	}
}

// waitTCP waits until addr accepts connections.
func waitTCP(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// notaryTLS writes a CA and one leaf for 127.0.0.1 and localhost, valid for
// serving and as a client (notary-server authenticates to notary-signer
// with it), and returns their paths.
func notaryTLS(t testing.TB, dir string) (ca, crt, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "notary test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(leafKey)
	ca, crt, key = filepath.Join(dir, "ca.crt"), filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600)
	os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return ca, crt, key
}

// DockerConfig writes a Docker config directory holding the token server's
// credentials for the Notary server and returns it (for $DOCKER_CONFIG).
func (n *Notary) DockerConfig(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(n.User + ":" + n.Pass))
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"auths":{"`+n.Host+`":{"auth":"`+auth+`"}}}`), 0o600)
	return dir
}

// NotaryClient is the real notary CLI with a trust directory of its own.
type NotaryClient struct {
	// Dir is the trust directory (what docker keeps in ~/.docker/trust).
	Dir string
	n   *Notary
	ca  string
}

// Client returns a notary CLI with a fresh trust directory.
func (n *Notary) Client(t testing.TB) *NotaryClient {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "server-ca.crt")
	os.WriteFile(ca, n.CAPEM, 0o600)
	return &NotaryClient{Dir: filepath.Join(dir, "trust"), n: n, ca: ca}
}

// Run runs `notary -s URL --tlscacert CA -d DIR args...` with the token
// server's credentials and passphrases in the environment; it fails the
// test on error.
func (c *NotaryClient) Run(t testing.TB, args ...string) string {
	t.Helper()
	full := append([]string{"-s", c.n.URL, "--tlscacert", c.ca, "-d", c.Dir}, args...)
	cmd := exec.Command("notary", full...)
	cmd.Env = append(os.Environ(), "HOME="+filepath.Dir(c.Dir), "SSL_CERT_FILE="+c.ca,
		"NOTARY_AUTH="+base64.StdEncoding.EncodeToString([]byte(c.n.User+":"+c.n.Pass)),
		"NOTARY_ROOT_PASSPHRASE=root-pass", "NOTARY_TARGETS_PASSPHRASE=targets-pass",
		"NOTARY_SNAPSHOT_PASSPHRASE=snapshot-pass", "NOTARY_DELEGATION_PASSPHRASE=delegation-pass")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("notary %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// RootJSON returns the root.json the client published for gun, from its
// own trust directory: where a signer finds the root key to pin.
func (c *NotaryClient) RootJSON(t testing.TB, gun string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.Dir, "tuf", gun, "metadata", "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// DelegationKey makes an ECDSA key and a certificate for it (what
// `docker trust key generate` makes), imports the key into the client for
// role, and returns the certificate's path for `notary delegation add`.
func (c *NotaryClient) DelegationKey(t testing.TB, role, name string) string {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(k)
	dir := filepath.Dir(c.Dir)
	crt, key := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	c.Run(t, "key", "import", key, "--role", role)
	return crt
}
