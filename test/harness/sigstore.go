package harness

import (
	"bytes"
	"encoding/json"
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
// Trillian (log server and signer), Rekor v1, Fulcio with an ephemeral CA
// and no CT log, an OIDC issuer Fulcio trusts, and an RFC 3161 timestamp
// authority. Every part listens on loopback; Rekor, Fulcio and the TSA also
// open metrics listeners on all interfaces (Rekor's and the TSA's are the
// fixed :2112), so run the tests that use it in a private network
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
	// RekorPublicKeyPEM is the key Rekor signs entries and checkpoints with.
	RekorPublicKeyPEM []byte
	// Dir holds fulcio-root.pem, rekor.pub, tsa-chain.pem and
	// trusted-root.json.
	Dir string
	// TrustedRootFile is the Sigstore trusted_root.json describing this
	// deployment (made by `cosign trusted-root create`): what sigstore-go's
	// root.NewTrustedRootFromPath reads and a policy's trustedRootFile names.
	TrustedRootFile string
	// TrustedRoot is TrustedRootFile's content.
	TrustedRoot []byte
}

// SigstoreTools are the pinned tools StartSigstore runs; PrepareSigstore
// builds them.
var SigstoreTools = [][]string{{"sigstore", "trillian_log_server"}, {"sigstore", "trillian_log_signer"},
	{"sigstore", "createtree"}, {"sigstore", "rekor-server"}, {"sigstore", "fulcio"}, {"sigstore", "timestamp-server"}, {"cosign3"}}

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
	s.FulcioURL = startFulcio(t, dir, s.OIDC.URL)

	s.FulcioRootPEM = httpGet(t, s.FulcioURL+"/api/v1/rootCert")
	s.RekorPublicKeyPEM = httpGet(t, s.RekorURL+"/api/v1/log/publicKey")
	fulcioRoot, rekorPub := filepath.Join(dir, "fulcio-root.pem"), filepath.Join(dir, "rekor.pub")
	s.TSACertChainPEM = httpGet(t, s.TSAURL+"/certchain")
	tsaChain := filepath.Join(dir, "tsa-chain.pem")
	writeFile(t, fulcioRoot, s.FulcioRootPEM)
	writeFile(t, rekorPub, s.RekorPublicKeyPEM)
	writeFile(t, tsaChain, s.TSACertChainPEM)

	s.TrustedRootFile = filepath.Join(dir, "trusted-root.json")
	run(t, exec.Command(Tool(t, "cosign3"), "trusted-root", "create",
		"--fulcio=url="+s.FulcioURL+",certificate-chain="+fulcioRoot,
		"--rekor=url="+s.RekorURL+",public-key="+rekorPub+",start-time=2020-01-01T00:00:00Z",
		"--tsa=url="+s.TSAURL+",certificate-chain="+tsaChain,
		"--out", s.TrustedRootFile))
	var err error
	if s.TrustedRoot, err = os.ReadFile(s.TrustedRootFile); err != nil {
		t.Fatal(err)
	}
	t.Logf("local Sigstore up in %s: Fulcio %s, Rekor %s, TSA %s, OIDC issuer %s",
		time.Since(start).Round(time.Millisecond), s.FulcioURL, s.RekorURL, s.TSAURL, s.OIDC.URL)
	return s
}

// Token mints an ID token for email from the stack's OIDC issuer.
func (s *Sigstore) Token(t testing.TB, email string) string { return s.OIDC.Token(t, email) }

// Issuer is the OIDC issuer URL keyless certificates name.
func (s *Sigstore) Issuer() string { return s.OIDC.URL }

// TSACertChainFile is the path of TSACertChainPEM (cosign's
// --timestamp-certificate-chain).
func (s *Sigstore) TSACertChainFile() string { return filepath.Join(s.Dir, "tsa-chain.pem") }

// CosignEnv is the environment cosign needs to trust this deployment
// instead of the public-good one (whose TUF repository is unreachable):
// Fulcio's root and Rekor's key.
func (s *Sigstore) CosignEnv() []string {
	return []string{"SIGSTORE_ROOT_FILE=" + filepath.Join(s.Dir, "fulcio-root.pem"),
		"SIGSTORE_REKOR_PUBLIC_KEY=" + filepath.Join(s.Dir, "rekor.pub")}
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
	out := run(t, exec.Command(Tool(t, "sigstore", "createtree"), "--admin_server="+rpc, "--display_name=signet-test"))
	tr.addr, tr.tree = rpc, strings.TrimSpace(string(out))
	if _, err := strconv.ParseInt(tr.tree, 10, 64); err != nil {
		t.Fatalf("createtree printed %q, want a tree ID", out)
	}
	return tr
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

func startFulcio(t testing.TB, dir, issuer string) string {
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
		"--ct-log-url=", "--host="+host, "--port="+port, "--grpc-host="+ghost, "--grpc-port="+gport,
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
