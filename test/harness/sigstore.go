package harness

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Sigstore is a private Sigstore deployment for keyless tests: MariaDB,
// Trillian (log server and signer), Rekor v1, a certificate-transparency
// log (Trillian's CT front end, ct_server, on a second Trillian tree),
// Fulcio with an ephemeral CA submitting every certificate to that CT log
// (so certificates carry embedded SCTs), an OIDC issuer Fulcio trusts, and
// an RFC 3161 timestamp authority. StartFulcioWithoutCT adds a Fulcio
// without a CT log. Every part listens on loopback; Rekor, Fulcio and the
// TSA also open metrics listeners on all interfaces (Rekor's and the TSA's
// are the fixed :2112), so run the tests that use it in a private network
// namespace (RunInNetNS), where one stack at a time fits.
type Sigstore struct {
	// FulcioURL and RekorURL are http://127.0.0.1:PORT.
	FulcioURL, RekorURL string
	// TSAURL is the timestamp authority's RFC 3161 endpoint
	// (http://127.0.0.1:PORT/api/v1/timestamp).
	TSAURL string
	// TSACertChainPEM is the TSA's certificate chain, leaf first (root
	// last: a Notation trust root's tsCert).
	TSACertChainPEM []byte
	// OIDC mints the ID tokens Fulcio accepts; OIDC.URL is the issuer.
	OIDC *OIDC
	// FulcioRootPEM is the ephemeral CA's certificate.
	FulcioRootPEM []byte
	// CTLogURL is the CT log's base URL (http://127.0.0.1:PORT/signet),
	// Fulcio's --ct-log-url.
	CTLogURL string
	// CTLogPublicKeyPEM is the key the CT log signs SCTs with (PKIX, PEM).
	CTLogPublicKeyPEM []byte
	// RekorPublicKeyPEM is the key Rekor signs entries and checkpoints with.
	RekorPublicKeyPEM []byte
	// Dir holds fulcio-root.pem, rekor.pub, ctlog.pub, tsa-chain.pem and
	// trusted-root.json.
	Dir string
	// TrustedRootFile is the Sigstore trusted_root.json describing this
	// deployment, CT log included (made by `cosign trusted-root create`):
	// what sigstore-go's root.NewTrustedRootFromPath reads and a policy's
	// trustedRootFile names.
	TrustedRootFile string
	// TrustedRoot is TrustedRootFile's content.
	TrustedRoot []byte
}

// SigstoreTools are the pinned tools StartSigstore runs; PrepareSigstore
// builds them.
var SigstoreTools = [][]string{{"sigstore", "trillian_log_server"}, {"sigstore", "trillian_log_signer"},
	{"sigstore", "createtree"}, {"sigstore", "rekor-server"}, {"sigstore", "fulcio"}, {"sigstore", "timestamp-server"}, {"cosign3"},
	{"ctfe", "ct_server"}}

// sigstorePackages are the Debian packages (command=package) the stack
// needs: MariaDB for Trillian's storage and Rekor's search index.
var sigstorePackages = []string{"mariadbd=mariadb-server", "mariadb-install-db=mariadb-server", "mariadb=mariadb-client"}

// PrepareSigstore installs and builds everything StartSigstore needs, while
// the network is still there: MariaDB (hack/apt.sh) and the pinned tools
// (hack/tool.sh). RunInNetNS calls it before entering the namespace.
func PrepareSigstore() error {
	cmd := exec.Command(filepath.Join(Root, "hack", "apt.sh"), sigstorePackages...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("installing MariaDB (hack/apt.sh): %v\n%s", err, out)
	}
	for _, tl := range SigstoreTools {
		if _, err := ToolPath(tl[0], tl[1:]...); err != nil {
			return err
		}
	}
	// Trillian's MySQL schema is read from its module inside the network
	// namespace, where the module proxy is out of reach: fetch it now (the
	// tools may come from a cache while the module cache is empty).
	dl := exec.Command("go", "mod", "download", "github.com/google/trillian")
	dl.Dir = filepath.Join(Root, "hack", "tools", "shared")
	if out, err := dl.CombinedOutput(); err != nil {
		return fmt.Errorf("downloading Trillian's module for its schema: %v\n%s", err, out)
	}
	return nil
}

// StartSigstore brings up the stack, waits until each part is healthy and
// tears it all down when the test ends. It takes a few seconds once the
// tools are built.
func StartSigstore(t testing.TB) *Sigstore {
	t.Helper()
	start := time.Now()
	dir := t.TempDir()
	s := &Sigstore{Dir: dir}
	db := startMariaDB(t, filepath.Join(dir, "db"))
	trillian := startTrillian(t, dir, db)
	// The TSA before Rekor: both listen on :2112 for metrics, and only
	// Rekor shrugs off finding it taken.
	tsa := startTSA(t, dir)
	s.TSAURL = tsa + "/api/v1/timestamp"
	s.RekorURL = startRekor(t, dir, db, trillian)
	s.OIDC = StartOIDC(t)
	// Fulcio needs the CT log's URL at start and the CT log Fulcio's
	// (ephemeral) root: Fulcio first, on the CT log's address to be, as
	// it connects to the log only when it issues a certificate.
	ctAddr := FreeAddr(t)
	s.CTLogURL = "http://" + ctAddr + "/" + ctLogPrefix
	s.FulcioURL = startFulcio(t, dir, s.OIDC.URL, s.CTLogURL)

	s.FulcioRootPEM = httpGet(t, s.FulcioURL+"/api/v1/rootCert")
	s.RekorPublicKeyPEM = httpGet(t, s.RekorURL+"/api/v1/log/publicKey")
	fulcioRoot, rekorPub := filepath.Join(dir, "fulcio-root.pem"), filepath.Join(dir, "rekor.pub")
	s.TSACertChainPEM = httpGet(t, s.TSAURL+"/certchain")
	writeFile(t, fulcioRoot, s.FulcioRootPEM)
	writeFile(t, rekorPub, s.RekorPublicKeyPEM)
	writeFile(t, s.TSACertChainFile(), s.TSACertChainPEM)
	s.CTLogPublicKeyPEM = startCTLog(t, dir, ctAddr, trillian, fulcioRoot)
	writeFile(t, s.ctLogPublicKeyFile(), s.CTLogPublicKeyPEM)

	s.TrustedRootFile = filepath.Join(dir, "trusted-root.json")
	s.TrustedRoot = s.trustedRoot(t, s.TrustedRootFile, fulcioService{s.FulcioURL, fulcioRoot})
	t.Logf("local Sigstore up in %s: Fulcio %s, CT log %s, Rekor %s, TSA %s, OIDC issuer %s",
		time.Since(start).Round(time.Millisecond), s.FulcioURL, s.CTLogURL, s.RekorURL, s.TSAURL, s.OIDC.URL)
	return s
}

// fulcioService is a Fulcio for a trusted root: its URL and the file of
// its certificate chain.
type fulcioService struct{ url, chainFile string }

// trustedRoot writes to path, with `cosign trusted-root create`, the
// trusted root of this deployment trusting the Fulcios given, and returns
// its content.
func (s *Sigstore) trustedRoot(t testing.TB, path string, fulcios ...fulcioService) []byte {
	t.Helper()
	const since = ",start-time=2020-01-01T00:00:00Z"
	args := []string{"trusted-root", "create"}
	for _, f := range fulcios {
		args = append(args, "--fulcio=url="+f.url+",certificate-chain="+f.chainFile)
	}
	run(t, exec.Command(Tool(t, "cosign3"), append(args,
		"--rekor=url="+s.RekorURL+",public-key="+filepath.Join(s.Dir, "rekor.pub")+since,
		"--ctfe=url="+s.CTLogURL+",public-key="+s.ctLogPublicKeyFile()+since,
		"--tsa=url="+s.TSAURL+",certificate-chain="+s.TSACertChainFile(),
		"--out", path)...))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FulcioWithoutCT is a second Fulcio of a Sigstore stack, started by
// StartFulcioWithoutCT: its own ephemeral CA and no CT log, so the
// certificates it issues carry no SCT.
type FulcioWithoutCT struct {
	// URL is http://127.0.0.1:PORT.
	URL string
	// RootFile holds its CA certificate.
	RootFile string
	// TrustedRootFile is the stack's trusted root with this Fulcio's CA
	// added: its certificates chain to a trusted root, and lack an SCT
	// only.
	TrustedRootFile string
}

// StartFulcioWithoutCT starts a Fulcio as the stack ran before it had a CT
// log: the same OIDC issuer, no --ct-log-url. It stops when the test ends.
func (s *Sigstore) StartFulcioWithoutCT(t testing.TB) *FulcioWithoutCT {
	t.Helper()
	dir := t.TempDir()
	f := &FulcioWithoutCT{URL: startFulcio(t, dir, s.OIDC.URL, ""), RootFile: filepath.Join(dir, "fulcio-root.pem"),
		TrustedRootFile: filepath.Join(dir, "trusted-root.json")}
	writeFile(t, f.RootFile, httpGet(t, f.URL+"/api/v1/rootCert"))
	s.trustedRoot(t, f.TrustedRootFile, fulcioService{s.FulcioURL, filepath.Join(s.Dir, "fulcio-root.pem")},
		fulcioService{f.URL, f.RootFile})
	return f
}

// Token mints an ID token for email from the stack's OIDC issuer.
func (s *Sigstore) Token(t testing.TB, email string) string { return s.OIDC.Token(t, email) }

// Issuer is the OIDC issuer URL keyless certificates name.
func (s *Sigstore) Issuer() string { return s.OIDC.URL }

// TSACertChainFile is the path of TSACertChainPEM (cosign's
// --timestamp-certificate-chain).
func (s *Sigstore) TSACertChainFile() string { return filepath.Join(s.Dir, "tsa-chain.pem") }

// ctLogPublicKeyFile is the path of CTLogPublicKeyPEM.
func (s *Sigstore) ctLogPublicKeyFile() string { return filepath.Join(s.Dir, "ctlog.pub") }

// CosignEnv is the environment cosign needs to trust this deployment
// instead of the public-good one (whose TUF repository is unreachable):
// Fulcio's root, Rekor's key and the CT log's key.
func (s *Sigstore) CosignEnv() []string {
	return []string{"SIGSTORE_ROOT_FILE=" + filepath.Join(s.Dir, "fulcio-root.pem"),
		"SIGSTORE_REKOR_PUBLIC_KEY=" + filepath.Join(s.Dir, "rekor.pub"),
		"SIGSTORE_CT_LOG_PUBLIC_KEY_FILE=" + s.ctLogPublicKeyFile()}
}

// SigningConfig writes a cosign v3 signing config naming this deployment's
// Fulcio and OIDC issuer, its Rekor when withRekor and its TSA when
// withTSA, in a directory of the test's, and returns its path.
func (s *Sigstore) SigningConfig(t testing.TB, withRekor, withTSA bool) string {
	t.Helper()
	const since = ",api-version=1,start-time=2020-01-01T00:00:00Z,operator=signet.test"
	name := fmt.Sprintf("signing-config-rekor=%t-tsa=%t.json", withRekor, withTSA)
	args := []string{"signing-config", "create", "--fulcio=url=" + s.FulcioURL + since,
		"--oidc-provider=url=" + s.OIDC.URL + since}
	if withRekor {
		args = append(args, "--rekor=url="+s.RekorURL+since, "--rekor-config=ANY")
	}
	if withTSA {
		args = append(args, "--tsa=url="+s.TSAURL+since, "--tsa-config=ANY")
	}
	out := filepath.Join(t.TempDir(), name) // parallel tests each get their own
	run(t, exec.Command(Tool(t, "cosign3"), append(args, "--out", out)...))
	return out
}

// mariaDB is a running MariaDB with a database "test" for user test.
type mariaDB struct {
	addr, socket string
}

// dsn is the go-sql-driver/mysql DSN Trillian and Rekor use.
func (m mariaDB) dsn() string { return "test:test@tcp(" + m.addr + ")/test" }

func startMariaDB(t testing.TB, dir string) mariaDB {
	t.Helper()
	data, socket := filepath.Join(dir, "data"), filepath.Join(dir, "mysql.sock")
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	run(t, exec.Command("mariadb-install-db", "--no-defaults", "--datadir="+data, "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"))
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	startLogged(t, dir, "mariadbd", exec.Command("mariadbd", "--no-defaults", "--datadir="+data, "--socket="+socket,
		"--pid-file="+filepath.Join(dir, "mariadb.pid"), "--port="+port, "--bind-address=127.0.0.1", "--user=root",
		"--skip-name-resolve", "--innodb-flush-log-at-trx-commit=0", "--innodb-buffer-pool-size=32M"))
	m := mariaDB{addr: addr, socket: socket}
	waitFor(t, "MariaDB on "+socket, dir, "mariadbd", func() error {
		return exec.Command("mariadb", "--no-defaults", "-S", socket, "-uroot", "-e", "SELECT 1").Run()
	})
	m.sql(t, "CREATE DATABASE test; CREATE USER 'test'@'127.0.0.1' IDENTIFIED BY 'test'; GRANT ALL ON test.* TO 'test'@'127.0.0.1';")
	// Trillian's schema, from the pinned module.
	list := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/google/trillian")
	list.Dir = filepath.Join(Root, "hack", "tools", "shared")
	mod := strings.TrimSpace(string(run(t, list)))
	schema, err := os.ReadFile(filepath.Join(mod, "storage", "mysql", "schema", "storage.sql"))
	if err != nil {
		t.Fatalf("reading Trillian's MySQL schema: %v", err)
	}
	cmd := exec.Command("mariadb", "--no-defaults", "-S", socket, "-uroot", "test")
	cmd.Stdin = bytes.NewReader(schema)
	run(t, cmd)
	return m
}

func (m mariaDB) sql(t testing.TB, stmt string) {
	t.Helper()
	run(t, exec.Command("mariadb", "--no-defaults", "-S", m.socket, "-uroot", "-e", stmt))
}

// trillianLog is a Trillian log: the log server's gRPC address and the
// tree ID.
type trillianLog struct{ addr, tree string }

// startTrillian runs the log server and the log signer and creates a log
// tree; it returns the server's gRPC address and the tree ID.
func startTrillian(t testing.TB, dir string, db mariaDB) (tr trillianLog) {
	t.Helper()
	storage := []string{"--storage_system=mysql", "--quota_system=mysql", "--mysql_uri=" + db.dsn()}
	addrs := FreeAddrs(t, 4)
	rpc, web, signerRPC, signerWeb := addrs[0], addrs[1], addrs[2], addrs[3]
	startLogged(t, dir, "trillian_log_server", exec.Command(Tool(t, "sigstore", "trillian_log_server"),
		append(storage, "--rpc_endpoint="+rpc, "--http_endpoint="+web)...))
	startLogged(t, dir, "trillian_log_signer", exec.Command(Tool(t, "sigstore", "trillian_log_signer"),
		append(storage, "--force_master", "--rpc_endpoint="+signerRPC, "--http_endpoint="+signerWeb)...))
	waitFor(t, "the Trillian log server on "+web, dir, "trillian_log_server", httpOK("http://"+web+"/healthz"))
	waitFor(t, "the Trillian log signer on "+signerWeb, dir, "trillian_log_signer", httpOK("http://"+signerWeb+"/healthz"))
	return trillianLog{addr: rpc, tree: createTree(t, rpc, "signet-test")}
}

// createTree creates a log tree on the Trillian server at addr and returns
// its ID.
func createTree(t testing.TB, addr, name string) string {
	t.Helper()
	out := run(t, exec.Command(Tool(t, "sigstore", "createtree"), "--admin_server="+addr, "--display_name="+name))
	tree := strings.TrimSpace(string(out))
	if _, err := strconv.ParseInt(tree, 10, 64); err != nil {
		t.Fatalf("createtree printed %q, want a tree ID", out)
	}
	return tree
}

// ctLogPrefix is the CT log's path under its address (ct_server serves
// /PREFIX/ct/v1/...).
const ctLogPrefix = "signet"

// startCTLog runs Trillian's CT front end on addr, on a new tree of tr's
// log server, accepting chains to the roots in rootsFile (Fulcio's) with
// the code-signing usage Fulcio's certificates have, and signing with a
// fresh ECDSA P-256 key; it returns that key's public half (PKIX, PEM).
func startCTLog(t testing.TB, dir, addr string, tr trillianLog, rootsFile string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	// A LogConfigSet in protobuf text format; the key inline as DER (a
	// PEM key file would have to be encrypted).
	var der strings.Builder
	for _, b := range priv {
		fmt.Fprintf(&der, "\\%03o", b)
	}
	cfg := filepath.Join(dir, "ctlog.textproto")
	writeFile(t, cfg, fmt.Appendf(nil, `config {
  log_id: %s
  prefix: %q
  roots_pem_file: %q
  private_key {
    [type.googleapis.com/keyspb.PrivateKey] { der: "%s" }
  }
  ext_key_usages: "CodeSigning"
}
`, createTree(t, tr.addr, "signet-ct"), ctLogPrefix, rootsFile, der.String()))
	startLogged(t, dir, "ct_server", exec.Command(Tool(t, "ctfe", "ct_server"), "--log_config="+cfg,
		"--log_rpc_server="+tr.addr, "--http_endpoint="+addr, "--quota_remote=false", "--quota_intermediate=false",
		"--get_sth_interval=0"))
	// get-sth answers once the signer has signed the new tree's first head.
	waitFor(t, "the CT log on "+addr, dir, "ct_server", httpOK("http://"+addr+"/"+ctLogPrefix+"/ct/v1/get-sth"))
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})
}

func startRekor(t testing.TB, dir string, db mariaDB, tr trillianLog) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(FreeAddr(t))
	thost, tport, _ := net.SplitHostPort(tr.addr)
	cmd := exec.Command(Tool(t, "sigstore", "rekor-server"), "serve", "--log_type=prod",
		"--rekor_server.address="+host, "--port="+port, "--rekor_server.hostname=rekor.signet.test",
		"--rekor_server.signer=memory", "--trillian_log_server.address="+thost, "--trillian_log_server.port="+tport,
		"--trillian_log_server.tlog_id="+tr.tree, "--search_index.storage_provider=mysql",
		"--search_index.mysql.dsn="+db.dsn())
	cmd.Env = append(os.Environ(), "HOME="+dir) // it reads $HOME/.rekor-server.yaml
	startLogged(t, dir, "rekor", cmd)
	url := "http://" + net.JoinHostPort(host, port)
	waitFor(t, "Rekor on "+url, dir, "rekor", httpOK(url+"/api/v1/log"))
	return url
}

// startFulcio runs Fulcio with an ephemeral CA, trusting issuer, and
// submitting the certificates it issues to the CT log at ctLogURL (none
// when empty); it returns its base URL.
func startFulcio(t testing.TB, dir, issuer, ctLogURL string) string {
	t.Helper()
	cfg, err := json.Marshal(map[string]any{"OIDCIssuers": map[string]any{
		issuer: map[string]string{"IssuerURL": issuer, "ClientID": OIDCClientID, "Type": "email"}}})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "fulcio.json")
	writeFile(t, cfgPath, cfg)
	addrs := FreeAddrs(t, 3) // HTTP, gRPC, metrics
	host, port, _ := net.SplitHostPort(addrs[0])
	ghost, gport, _ := net.SplitHostPort(addrs[1])
	_, mport, _ := net.SplitHostPort(addrs[2])
	cmd := exec.Command(Tool(t, "sigstore", "fulcio"), "serve", "--log_type=prod", "--ca=ephemeralca", "--config-path="+cfgPath,
		"--ct-log-url="+ctLogURL, "--host="+host, "--port="+port, "--grpc-host="+ghost, "--grpc-port="+gport,
		"--metrics-port="+mport, "--legacy-unix-domain-socket="+filepath.Join(dir, "fulcio-legacy.sock"))
	cmd.Env = append(os.Environ(), "HOME="+dir)
	startLogged(t, dir, "fulcio", cmd)
	url := "http://" + net.JoinHostPort(host, port)
	waitFor(t, "Fulcio on "+url, dir, "fulcio", httpOK(url+"/api/v1/rootCert"))
	return url
}

// startTSA runs sigstore's timestamp authority with an in-memory signer
// (a fresh certificate chain each run) and returns its base URL.
func startTSA(t testing.TB, dir string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(FreeAddr(t))
	cmd := exec.Command(Tool(t, "sigstore", "timestamp-server"), "serve", "--log-type=prod", "--host="+host, "--port="+port,
		"--timestamp-signer=memory", "--disable-ntp-monitoring", "--include-chain-in-response")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	startLogged(t, dir, "tsa", cmd)
	url := "http://" + net.JoinHostPort(host, port)
	waitFor(t, "the timestamp authority on "+url, dir, "tsa", httpOK(url+"/ping"))
	return url
}

// startLogged starts a service with its output in dir/NAME.log and kills
// it (and, should the test binary die first, the kernel kills it) when the
// test ends.
func startLogged(t testing.TB, dir, name string, cmd *exec.Cmd) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	Start(t, cmd)
}

// waitFor polls ready for up to 60 s (the stack starts in seconds; the
// margin is for loaded CI machines) and fails with the service's log.
func waitFor(t testing.TB, what, dir, name string, ready func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = ready(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, name+".log"))
	if len(log) > 4000 {
		log = log[len(log)-4000:]
	}
	t.Fatalf("%s is not ready after 60s: %v\n%s.log (tail):\n%s", what, err, name, log)
}

func httpOK(url string) func() error {
	client := &http.Client{Timeout: 2 * time.Second}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

func httpGet(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b.Bytes())
	}
	return b.Bytes()
}

// run runs cmd to completion and returns its stdout; it fails the test
// with the command's output on error.
func run(t testing.TB, cmd *exec.Cmd) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

func writeFile(t testing.TB, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
