package kube

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// askedKeychain records the registries it is asked about.
type askedKeychain struct{ asked []string }

func (k *askedKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	k.asked = append(k.asked, r.RegistryStr())
	return authn.FromConfig(authn.AuthConfig{RegistryToken: "aad-token"}), nil
}

// TestACRKeychainAnchored: signet's Azure token goes to ACR login servers
// only, never to a host that merely contains an ACR domain (GO-2026-6225).
func TestACRKeychainAnchored(t *testing.T) {
	for _, tc := range []struct {
		registry string
		asked    bool
	}{
		{"myregistry.azurecr.io", true},
		{"my-registry-abc123.azurecr.io", true},
		{"myregistry.azurecr.cn", true},
		{"myregistry.azurecr.us", true},
		{"myregistry.westeurope.data.azurecr.io", true},
		{"evil.azurecr.io.attacker.example", false},
		{"azurecr.io", false},
		{"evilazurecr.io", false},
		{"myregistry.azurecr.io:5000", false},
		{"myregistry.azurecr.io.", false},
		{"myregistry.azurecr.com", false},
		{"ghcr.io", false},
		{"index.docker.io", false},
	} {
		t.Run(tc.registry, func(t *testing.T) {
			inner := &askedKeychain{}
			reg, err := name.NewRegistry(tc.registry)
			if err != nil {
				t.Fatal(err)
			}
			auth, err := acrKeychain{inner}.Resolve(reg)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(inner.asked) > 0; got != tc.asked {
				t.Fatalf("helper asked = %v, want %v", got, tc.asked)
			}
			if !tc.asked && auth != authn.Anonymous {
				t.Fatalf("got %v for %s, want anonymous", auth, tc.registry)
			}
		})
	}
}

// fixedKeychain answers with its user for every registry, or anonymously
// when the user is empty, and counts the questions.
type fixedKeychain struct {
	user  string
	asked int
}

func (k *fixedKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	k.asked++
	if k.user == "" {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: "pw"}), nil
}

// TestAmbientOrder: signet's own credentials are asked in k8schain's order
// — Docker config, Google, ECR, ACR — and the first that answers wins.
func TestAmbientOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		users [4]string // Docker, Google, ECR, ACR
		want  string
		asked [4]int
	}{
		{[4]string{"docker", "google", "ecr", "acr"}, "docker", [4]int{1, 0, 0, 0}},
		{[4]string{"", "google", "ecr", "acr"}, "google", [4]int{1, 1, 0, 0}},
		{[4]string{"", "", "ecr", "acr"}, "ecr", [4]int{1, 1, 1, 0}},
		{[4]string{"", "", "", "acr"}, "acr", [4]int{1, 1, 1, 1}},
		{[4]string{"", "", "", ""}, "", [4]int{1, 1, 1, 1}},
	} {
		var k [4]*fixedKeychain
		for i, u := range tc.users {
			k[i] = &fixedKeychain{user: u}
		}
		a := &Ambient{Docker: k[0], Google: k[1], ECR: k[2], ACR: k[3]}
		if got := user(t, a, "reg.example/app"); got != tc.want {
			t.Errorf("%v: user %q, want %q", tc.users, got, tc.want)
		}
		for i := range k {
			if k[i].asked != tc.asked[i] {
				t.Errorf("%v: keychain %d asked %d times, want %d", tc.users, i, k[i].asked, tc.asked[i])
			}
		}
	}
}

// TestAmbientKeychainDockerConfig: the real chain answers a registry of the
// Docker config with its credentials, and gives nothing to a host that
// only looks like a cloud registry. No cloud is contacted.
func TestAmbientKeychainDockerConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := `{"auths": {"reg.example:5000": {"auth": "` + base64.StdEncoding.EncodeToString([]byte("alice:pw")) + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	a := AmbientKeychain()
	if a.Docker != authn.DefaultKeychain || a.Google == nil || a.ECR == nil || a.ACR == nil {
		t.Fatalf("AmbientKeychain() = %+v, want the Docker config and three cloud keychains", a)
	}
	for host, want := range map[string]string{
		"reg.example:5000":                 "alice",
		"evil.azurecr.io.attacker.example": "",
		"other.example":                    "",
	} {
		if got := user(t, a, host+"/app"); got != want {
			t.Errorf("%s: user %q, want %q", host, got, want)
		}
	}
}
