package kube

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// basicAuth is a Docker config entry's auth field for user.
func basicAuth(user string) map[string]string {
	return map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":pw"))}
}

// pullSecret is a kubernetes.io/dockerconfigjson Secret with an auth entry
// for each registry key, its user the value.
func pullSecret(t *testing.T, name string, users map[string]string) corev1.Secret {
	t.Helper()
	auths := map[string]any{}
	for reg, u := range users {
		auths[reg] = basicAuth(u)
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	return corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: b},
	}
}

func TestPullSecretMatching(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		users map[string]string // registry key → user
		repo  string
		want  string // "" for anonymous
	}{
		{"host", map[string]string{"reg.example": "a"}, "reg.example/app", "a"},
		{"another host", map[string]string{"reg.example": "a"}, "other.example/app", ""},
		{"a host is not a suffix", map[string]string{"example": "a"}, "reg.example/app", ""},
		{"https scheme ignored", map[string]string{"https://reg.example": "a"}, "reg.example/app", "a"},
		{"http scheme ignored", map[string]string{"http://reg.example": "a"}, "reg.example/app", "a"},
		{"v2 API prefix ignored", map[string]string{"https://reg.example/v2/": "a"}, "reg.example/app", "a"},
		{"port", map[string]string{"reg.example:5000": "a"}, "reg.example:5000/app", "a"},
		{"port given, image without", map[string]string{"reg.example:5000": "a"}, "reg.example/app", ""},
		{"no port, image with one", map[string]string{"reg.example": "a"}, "reg.example:5000/app", ""},
		{"another port", map[string]string{"reg.example:5000": "a"}, "reg.example:5001/app", ""},
		{"localhost with port", map[string]string{"localhost:5000": "a"}, "localhost:5000/app", "a"},
		{"path prefix", map[string]string{"reg.example/team": "t"}, "reg.example/team/app", "t"},
		{"path prefix after v1 API prefix", map[string]string{"reg.example/v1/team": "t"}, "reg.example/team/app", "t"},
		{"path not a prefix", map[string]string{"reg.example/team": "t"}, "reg.example/other/app", ""},
		// As the kubelet: a string prefix, not a path-segment one.
		{"path prefix mid-segment", map[string]string{"reg.example/team": "t"}, "reg.example/teammate/app", "t"},
		{"path and port", map[string]string{"reg.example:5000/team": "t"}, "reg.example:5000/team/app", "t"},
		{"longer path first", map[string]string{"reg.example": "r", "reg.example/team": "t", "reg.example/team/app": "ta"}, "reg.example/team/app", "ta"},
		{"shorter path for the rest", map[string]string{"reg.example": "r", "reg.example/team": "t"}, "reg.example/other/app", "r"},
		{"glob label", map[string]string{"*.example.com": "g"}, "reg.example.com/app", "g"},
		{"glob matches one label only", map[string]string{"*.example.com": "g"}, "a.reg.example.com/app", ""},
		{"glob needs a label", map[string]string{"*.example.com": "g"}, "example.com/app", ""},
		{"glob in the middle", map[string]string{"reg.*.example": "g"}, "reg.eu.example/app", "g"},
		{"glob within a label", map[string]string{"reg-*.example": "g"}, "reg-eu.example/app", "g"},
		{"glob and port", map[string]string{"*.example:5000": "g"}, "reg.example:5000/app", "g"},
		{"exact host before glob", map[string]string{"*.example.com": "g", "reg.example.com": "r"}, "reg.example.com/app", "r"},
		{"docker login's key, short name", map[string]string{"https://index.docker.io/v1/": "hub"}, "ubuntu", "hub"},
		{"docker login's key, docker.io", map[string]string{"https://index.docker.io/v1/": "hub"}, "docker.io/library/ubuntu", "hub"},
		{"docker.io key", map[string]string{"docker.io": "hub"}, "library/ubuntu", "hub"},
		{"docker.io key, index.docker.io image", map[string]string{"docker.io": "hub"}, "index.docker.io/acme/app", "hub"},
		{"index.docker.io key", map[string]string{"index.docker.io": "hub"}, "acme/app", "hub"},
		{"docker.io key with a path", map[string]string{"docker.io/acme": "acme", "docker.io": "hub"}, "acme/app", "acme"},
		{"docker hub key, another registry", map[string]string{"docker.io": "hub"}, "ghcr.io/acme/app", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kc, err := newPullSecretKeychain([]corev1.Secret{pullSecret(t, "s", tc.users)})
			if err != nil {
				t.Fatal(err)
			}
			if got := user(t, kc, tc.repo); got != tc.want {
				t.Errorf("user for %s = %q, want %q", tc.repo, got, tc.want)
			}
		})
	}
}

func TestPullSecretEntries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		entry string // the Docker config entry of reg.example
		want  authn.AuthConfig
	}{
		{"auth", `{"auth":"` + base64.StdEncoding.EncodeToString([]byte("alice:pw:with:colons")) + `"}`,
			authn.AuthConfig{Username: "alice", Password: "pw:with:colons"}},
		{"auth without padding", `{"auth":"` + base64.RawStdEncoding.EncodeToString([]byte("bob:p")) + `"}`,
			authn.AuthConfig{Username: "bob", Password: "p"}},
		{"username and password", `{"username":"carol","password":"pw","email":"c@example"}`,
			authn.AuthConfig{Username: "carol", Password: "pw"}},
		{"auth overrides username and password", `{"auth":"` + base64.StdEncoding.EncodeToString([]byte("dave:pw")) + `","username":"eve","password":"x"}`,
			authn.AuthConfig{Username: "dave", Password: "pw"}},
		{"identity token", `{"username":"<token>","identitytoken":"refresh"}`,
			authn.AuthConfig{Username: "<token>", IdentityToken: "refresh"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := corev1.Secret{Type: corev1.SecretTypeDockerConfigJson,
				Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"reg.example":` + tc.entry + `}}`)}}
			kc, err := newPullSecretKeychain([]corev1.Secret{s})
			if err != nil {
				t.Fatal(err)
			}
			a, err := kc.Resolve(name.MustParseReference("reg.example/app").Context())
			if err != nil {
				t.Fatal(err)
			}
			got, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if *got != tc.want {
				t.Errorf("credentials = %+v, want %+v", *got, tc.want)
			}
		})
	}
}

func TestPullSecretKinds(t *testing.T) {
	t.Parallel()
	auth := `{"auth":"` + base64.StdEncoding.EncodeToString([]byte("cfg-user:pw")) + `"}`
	dockercfg := corev1.Secret{Type: corev1.SecretTypeDockercfg,
		Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"https://reg.example":` + auth + `}`)}}
	tests := []struct {
		name    string
		secrets []corev1.Secret
		want    string
	}{
		{"dockercfg", []corev1.Secret{dockercfg}, "cfg-user"},
		{"Opaque with a Docker config is ignored", []corev1.Secret{{Type: corev1.SecretTypeOpaque,
			Data: pullSecret(t, "s", map[string]string{"reg.example": "a"}).Data}}, ""},
		{"dockerconfigjson with the dockercfg key is ignored", []corev1.Secret{{Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigKey: dockercfg.Data[corev1.DockerConfigKey]}}}, ""},
		{"dockercfg with the dockerconfigjson key is ignored", []corev1.Secret{{Type: corev1.SecretTypeDockercfg,
			Data: pullSecret(t, "s", map[string]string{"reg.example": "a"}).Data}}, ""},
		{"no auths", []corev1.Secret{{Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{}`)}}}, ""},
		{"the same key in two Secrets: the first's", []corev1.Secret{
			pullSecret(t, "pod", map[string]string{"reg.example": "first"}),
			pullSecret(t, "account", map[string]string{"https://reg.example/v1/": "second"})}, "first"},
		{"a more specific key in a later Secret wins", []corev1.Secret{
			pullSecret(t, "pod", map[string]string{"reg.example": "host"}),
			pullSecret(t, "account", map[string]string{"reg.example/app": "path"})}, "path"},
		{"a Secret matching nothing, then one matching", []corev1.Secret{
			pullSecret(t, "pod", map[string]string{"other.example": "other"}), dockercfg}, "cfg-user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kc, err := newPullSecretKeychain(tc.secrets)
			if err != nil {
				t.Fatal(err)
			}
			if got := user(t, kc, "reg.example/app"); got != tc.want {
				t.Errorf("user = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPullSecretAnonymousWhenNoneMatch(t *testing.T) {
	t.Parallel()
	kc, err := newPullSecretKeychain([]corev1.Secret{pullSecret(t, "s", map[string]string{"reg.example": "a"})})
	if err != nil {
		t.Fatal(err)
	}
	// authn.Anonymous itself, so that a MultiKeychain asks the next one.
	if a, err := kc.Resolve(name.MustParseReference("other.example/app").Context()); err != nil || a != authn.Anonymous {
		t.Errorf("Resolve = %v, %v; want authn.Anonymous", a, err)
	}
	// A registry, not a repository, matches keys without a path.
	if a, err := kc.Resolve(name.MustParseReference("reg.example/app").Context().Registry); err != nil || a == authn.Anonymous {
		t.Errorf("Resolve(registry) = %v, %v; want credentials", a, err)
	}
}

func TestPullSecretErrors(t *testing.T) {
	t.Parallel()
	const secret = "hunter2"
	tests := []struct {
		name string
		typ  corev1.SecretType
		key  string
		data string
		err  string
	}{
		{"not JSON", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths": ` + secret,
			`Secret team/s: reading its Docker config: key .dockerconfigjson: not valid JSON (at byte 11)`},
		{"dockercfg not JSON", corev1.SecretTypeDockercfg, corev1.DockerConfigKey, secret,
			`Secret team/s: reading its Docker config: key .dockercfg: not valid JSON`},
		{"auths not an object", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths": ["` + secret + `"]}`,
			`key .dockerconfigjson: not a Docker config (an unexpected JSON array at byte`},
		{"entry not an object", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths": {"reg.example": "` + secret + `"}}`,
			`registry "reg.example": not a Docker config (an unexpected JSON string`},
		{"password not a string", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths": {"reg.example": {"username": "u", "password": 1234}}}`,
			`registry "reg.example": not a Docker config (an unexpected JSON number`},
		{"auth not base64", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths": {"reg.example": {"auth": "` + secret + `!"}}}`,
			`Secret team/s: reading its Docker config: registry "reg.example": its auth is not base64(username:password)`},
		{"auth without a colon", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
			`{"auths": {"reg.example": {"auth": "` + base64.StdEncoding.EncodeToString([]byte(secret)) + `"}}}`,
			`registry "reg.example": its auth is not base64(username:password)`},
		{"registry key not a URL", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths": {"reg.example/%zz": {"username": "u", "password": "` + secret + `"}}}`,
			`Secret team/s: registry "reg.example/%zz" is not a host, host:port or host/path`},
		{"registry key a malformed glob", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, `{"auths": {"[.example": {"username": "u", "password": "` + secret + `"}}}`,
			`Secret team/s: registry "[.example" is not a host, host:port or host/path`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "s"}, Type: tc.typ,
				Data: map[string][]byte{tc.key: []byte(tc.data)}}
			_, err := newPullSecretKeychain([]corev1.Secret{s})
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v, want %q", err, tc.err)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "hunter") {
				t.Errorf("error reveals the Secret's content: %v", err)
			}
		})
	}
}

// FuzzPullSecret: pull secrets are written by namespace users, so no
// Secret and no image may make signet panic, and a Secret that parses
// answers every image.
func FuzzPullSecret(f *testing.F) {
	f.Add(`{"auths":{"*.example.com:5000/team":{"auth":"dTpw"}}}`, "reg.example.com:5000/team/app")
	f.Add(`{"auths":{"https://index.docker.io/v1/":{"username":"u","password":"p"}}}`, "ubuntu")
	f.Add(`{"auths":{"[::1]:5000":{"auth":"dTpw"},"docker.io/acme":{"identitytoken":"t"}}}`, "[::1]:5000/app")
	f.Add(`{"auths":{"reg.example/v2/":{"auth":"!"}}}`, "reg.example/app")
	f.Fuzz(func(t *testing.T, config, repo string) {
		kc, err := newPullSecretKeychain([]corev1.Secret{{Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(config)}}})
		if err != nil {
			return
		}
		r, err := name.NewRepository(repo)
		if err != nil {
			return
		}
		for _, res := range []authn.Resource{r, r.Registry} {
			if _, err := kc.Resolve(res); err != nil {
				t.Fatalf("Resolve(%s): %v", res, err)
			}
		}
	})
}
