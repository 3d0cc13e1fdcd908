package interop

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/keysource"
	_ "github.com/signet-dev/signet/internal/keysource/kmsproviders" // awskms:// and the others, as in the signet command
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/verify/cosign"
	"github.com/signet-dev/signet/test/harness"
)

// TestKMSAWS: a key in a real implementation of the AWS KMS API
// (local-kms, built from its Go module) signs with the real cosign
// (--key awskms://ENDPOINT/alias/signet); signet resolves the public key
// from the same KMS (keysource: sigstore's awskms provider) and allows the
// image. When the alias is pointed at a new key (how an asymmetric AWS KMS
// key is rotated), keysource.Watch picks up the new public key: the old
// signature no longer verifies, one made with the new key does.
//
// Not parallel: sigstore's awskms provider reads the AWS environment of
// the process.
func TestKMSAWS(t *testing.T) {
	kms := harness.StartLocalKMS(t)
	for _, kv := range kms.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ref := "awskms://" + kms.Endpoint + "/alias/signet"
	c := harness.NewCosign(t)
	c.Env = kms.Env()
	cosign2 := harness.Tool(t, "cosign2")
	// cosign creates the key in the KMS (CreateKey ECC_NIST_P256
	// SIGN_VERIFY, then CreateAlias alias/signet).
	c.Run(t, cosign2, "generate-key-pair", "--kms", ref)

	reg := harness.StartDistribution(t)
	img := harness.Push(t, reg.Host, "demo/kms:v1")
	c.SignV2(t, ref, img)

	p := filepath.Join(t.TempDir(), "policy.yaml")
	y := "apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators:\n- name: default\n  type: cosign\n  trustRoots: [{name: kms, key: \"" + ref + "\"}]\nrules: [{pattern: \"**\"}]\n"
	if err := os.WriteFile(p, []byte(harness.ListInsecure(y, img.String())), 0o600); err != nil {
		t.Fatal(err)
	}
	signet := func(t *testing.T, want int, outcome verify.Outcome) {
		t.Helper()
		cmd := exec.Command(harness.Bin(t, "signet"), "verify", "--policy", p, "--output", "json", img.String())
		cmd.Env = append(append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir()), kms.Env()...)
		code, stdout, stderr := harness.ExitCode(t, cmd)
		var ds []policy.Decision
		if err := json.Unmarshal([]byte(stdout), &ds); err != nil || code != want || len(ds) != 1 || ds[0].Outcome != outcome {
			t.Fatalf("exit %d, want %d and outcome %s (%v)\n%s\n%s", code, want, outcome, err, stdout, stderr)
		}
	}

	// The key resolved from the KMS verifies the signature.
	src, err := keysource.New(ref, nil, cosign.ParsePublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	before, err := src.Fingerprint(ctx)
	if err != nil {
		t.Fatalf("resolving %s: %v", ref, err)
	}
	signet(t, 0, verify.Verified)

	// Rotate: a new key, and the alias pointed at it. Watch finds the new
	// public key.
	key := kms.Call(t, "CreateKey", map[string]string{"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"})
	id, _ := key["KeyMetadata"].(map[string]any)["KeyId"].(string)
	kms.Call(t, "UpdateAlias", map[string]string{"AliasName": "alias/signet", "TargetKeyId": id})
	changed := make(chan *keysource.Source, 1)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	go keysource.Watch(wctx, func() []*keysource.Source { return []*keysource.Source{src} }, keysource.WatchOptions{
		Interval: 200 * time.Millisecond,
		Changed: func(s *keysource.Source) {
			select {
			case changed <- s:
			default:
			}
		},
	})
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("Watch did not report the rotated key")
	}
	stop()
	after, err := src.Fingerprint(ctx)
	if err != nil || after == before {
		t.Fatalf("fingerprint after rotation %q (%v), before %q: want a new key", after, err, before)
	}
	// The signature by the old key no longer verifies; one by the new key
	// (cosign signs with the key the alias names) does.
	signet(t, 1, verify.Failed)
	c.SignV2(t, ref, img)
	signet(t, 0, verify.Verified)
}
