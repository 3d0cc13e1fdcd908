package cli_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/signet-dev/signet/internal/auditlog"
	"github.com/signet-dev/signet/internal/cli"
	"github.com/signet-dev/signet/internal/decisionlog"
)

// TestAuditVerify: signet audit verify exits 0 with the lines and time
// range of an intact log, 1 naming the altered line, 2 on usage errors
// and unreadable files.
func TestAuditVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pk, sk, _ := ed25519.GenerateKey(rand.Reader)
	privPEM, _ := cryptoutils.MarshalPrivateKeyToPEM(sk)
	pubPEM, _ := cryptoutils.MarshalPublicKeyToPEM(pk)
	priv, pub := filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	os.WriteFile(priv, privPEM, 0o600)
	os.WriteFile(pub, pubPEM, 0o600)
	s, id, err := auditlog.LoadSigner(context.Background(), priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "audit.jsonl")
	w, err := auditlog.Open(auditlog.Options{Path: log, Signer: s, KeyID: id, CheckpointLines: 10})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		w.Write(&decisionlog.Record{UID: fmt.Sprint(i), Decision: "allowed"})
	}
	w.Close(context.Background())
	altered := filepath.Join(dir, "altered.jsonl")
	b, _ := os.ReadFile(log)
	os.WriteFile(altered, bytes.Replace(b, []byte(`"uid":"3"`), []byte(`"uid":"4"`), 1), 0o600)

	for _, tc := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"--key", pub, log}, 0, "intact: 29 lines in 1 files", ""},
		{[]string{"--no-key", log}, 0, "checkpoints not verified", ""},
		{[]string{"--key", pub, altered}, 1, "", "altered.jsonl:5: line altered"},
		{[]string{"--key", priv, log}, 2, "", "audit.key"},
		{[]string{log}, 2, "", "--key"},
		{[]string{"--key", pub, filepath.Join(dir, "none.jsonl")}, 2, "", "none.jsonl"},
	} {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), append([]string{"audit", "verify"}, tc.args...), &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.out) || !strings.Contains(stderr.String(), tc.errOut) {
			t.Errorf("signet audit verify %v: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout.String(), stderr.String(), tc.code, tc.out, tc.errOut)
		}
	}
}

// TestServeAuditUsage: audit flags that cannot work exit 2 before serving.
func TestServeAuditUsage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "policy.yaml")
	checkServeUsage(t, dir, good, []usageCase{
		{[]string{"--audit-required"}, "need --audit-log"},
		{[]string{"--audit-log", "-", "--decision-log", "stdout"}, "share stdout"},
		{[]string{"--audit-log", filepath.Join(dir, "a.jsonl"), "--audit-log-max-files", "0"}, "must be positive"},
		{[]string{"--audit-log", filepath.Join(dir, "a.jsonl"), "--audit-key", filepath.Join(dir, "none.pem")}, "none.pem"},
		{[]string{"--audit-log", filepath.Join(dir, "a.jsonl"), "--audit-key", good}, "audit key"},
		{[]string{"--audit-log", filepath.Join(dir, "a.jsonl"), "--audit-key", "k8s://ns/name"}, "mount the Secret"},
	})
}

// usageCase is signet serve's extra arguments and what its usage error
// (exit 2) must say.
type usageCase struct {
	args []string
	want string
}

// checkServeUsage runs signet serve with a valid policy (written to good)
// and each case's arguments, and wants exit 2 with the case's message.
func checkServeUsage(t *testing.T, dir, good string, cases []usageCase) {
	t.Helper()
	os.WriteFile(good, []byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: s, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: s}]\n"), 0o600)
	base := []string{"serve", "-p", good, "--tls-cert", filepath.Join(dir, "c.pem"), "--tls-key", filepath.Join(dir, "k.pem"), "--metrics-addr", ""}
	for _, tc := range cases {
		var stdout, stderr bytes.Buffer
		code := cli.Execute(context.Background(), append(base, tc.args...), &stdout, &stderr)
		if code != cli.ExitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("signet serve %v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
