package cli

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/kube"
)

// TestRegistryCredentials: the registry client of signet verify and signet
// serve (with or without pull secrets: the admission's keychains are
// asked before it) has signet's own credentials, the Docker config then
// the cloud keychains, and answers a Docker config registry with them.
func TestRegistryCredentials(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"auths": {"reg.example:5000": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("alice:pw")) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	c, err := newRegistry("")
	if err != nil {
		t.Fatal(err)
	}
	a, ok := c.Keychain().(*kube.Ambient)
	if !ok || a.Docker != authn.DefaultKeychain || a.Google == nil || a.ECR == nil || a.ACR == nil {
		t.Fatalf("registry keychain = %#v, want kube.AmbientKeychain()", c.Keychain())
	}
	repo, _ := name.NewRepository("reg.example:5000/app")
	auth, err := authn.Resolve(t.Context(), c.Keychain(), repo)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := auth.Authorization(); err != nil || got.Username != "alice" {
		t.Errorf("reg.example:5000: %+v, %v; want alice from the Docker config", got, err)
	}
}
