package harness

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// LocalKMS is local-kms (github.com/nsmithuk/local-kms, pinned in
// hack/tools/local-kms), an implementation of the AWS KMS API, behind a TLS
// front on loopback: sigstore's awskms:// provider reaches an endpoint
// named in the key URI over https only, so the test serves it with a test
// CA that cosign and signet trust through AWS_CA_BUNDLE.
type LocalKMS struct {
	*Proc
	// Endpoint is the host:port of the TLS front, as awskms://ENDPOINT/….
	Endpoint string
	// CAFile is the PEM certificate the front serves (AWS_CA_BUNDLE).
	CAFile string
	client *http.Client
}

// Env is the AWS environment cosign and signet need to reach the KMS
// (local-kms checks no credentials; the SDK wants some).
func (k *LocalKMS) Env() []string {
	return []string{"AWS_CA_BUNDLE=" + k.CAFile, "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=test",
		"AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true"}
}

// StartLocalKMS runs local-kms (it listens on all interfaces, on a free
// port, storing keys in a temporary directory) and its TLS front.
func StartLocalKMS(t testing.TB) *LocalKMS {
	t.Helper()
	addr := FreeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(Tool(t, "local-kms"))
	cmd.Env = append(os.Environ(), "PORT="+port, "KMS_DATA_PATH="+t.TempDir(), "KMS_REGION=us-east-1", "KMS_ACCOUNT_ID=111122223333")
	k := &LocalKMS{Proc: Start(t, cmd)}
	waitTCP(t, addr)
	backend := &url.URL{Scheme: "http", Host: addr}
	front := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(backend))
	t.Cleanup(front.Close)
	k.Endpoint, k.Host, k.client = front.Listener.Addr().String(), front.Listener.Addr().String(), front.Client()
	k.CAFile = filepath.Join(t.TempDir(), "kms-ca.pem")
	if err := os.WriteFile(k.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// Call calls the KMS API action (CreateKey, UpdateAlias, …) with a JSON
// request and returns the decoded response, failing the test on an error.
func (k *LocalKMS) Call(t testing.TB, action string, req any) map[string]any {
	t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	r, err := http.NewRequest(http.MethodPost, "https://"+k.Endpoint+"/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "TrentService."+action)
	resp, err := k.client.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatal(fmt.Errorf("KMS %s: %s: %s %v", action, resp.Status, b, err))
	}
	out := map[string]any{}
	if len(b) > 0 { // UpdateAlias answers nothing
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(fmt.Errorf("KMS %s: decoding %s: %w", action, b, err))
		}
	}
	return out
}
