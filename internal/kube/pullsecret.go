package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	corev1 "k8s.io/api/core/v1"
)

// pullSecretKeychain holds the credentials of image pull secrets and
// matches them to an image as the kubelet does
// (k8s.io/kubernetes/pkg/credentialprovider, documented under "Images:
// config.json"):
//
//   - a registry key is a host, host:port or host/path prefix, with or
//     without a scheme (ignored) and a /v1/ or /v2/ API prefix (ignored);
//   - a key matches an image when its port is the image's (exactly: no
//     port matches only no port), its host has as many dot-separated labels
//     as the image's, each label matching as a glob (*.example.com), and
//     its path is a prefix of the image's repository path;
//   - matching keys are ordered by specificity, the reverse lexical order
//     of the keys, so reg.example/team comes before reg.example.
//
// The kubelet tries every matching credential in that order until a pull
// succeeds; a keychain answers with one, so, as go-containerregistry's
// k8schain did, the most specific one is used. With several Secrets, the
// same key's credentials are in the order of the Secrets.
//
// Docker Hub answers to index.docker.io and docker.io (and `docker login`
// writes https://index.docker.io/v1/): a key for either matches its images.
type pullSecretKeychain struct {
	patterns []registryPattern // most specific first
}

// registryPattern is one registry key of a pull secret.
type registryPattern struct {
	key    string   // host[:port][/path], as the kubelet indexes it
	labels []string // the host's dot-separated labels, each a glob
	port   string
	path   string
	creds  []authn.AuthConfig
}

// newPullSecretKeychain returns the keychain of secrets: those of type
// kubernetes.io/dockerconfigjson (key .dockerconfigjson) or
// kubernetes.io/dockercfg (key .dockercfg). Others are ignored, as the
// kubelet ignores them; a Secret of those types that does not parse is an
// error that names it and never quotes its content.
func newPullSecretKeychain(secrets []corev1.Secret) (*pullSecretKeychain, error) {
	byKey := map[string]*registryPattern{}
	for i := range secrets {
		s := &secrets[i]
		auths, err := dockerConfigAuths(s)
		if err != nil {
			return nil, fmt.Errorf("Secret %s/%s: reading its Docker config: %w", s.Namespace, s.Name, err)
		}
		// Sorted: keys that differ only in scheme or API prefix
		// (https://reg.example/v1/ and reg.example) share a pattern, in
		// the same order every time.
		for _, reg := range slices.Sorted(maps.Keys(auths)) {
			p, err := parseRegistryKey(reg)
			if err != nil {
				return nil, fmt.Errorf("Secret %s/%s: %w", s.Namespace, s.Name, err)
			}
			if byKey[p.key] == nil {
				byKey[p.key] = &p
			}
			byKey[p.key].creds = append(byKey[p.key].creds, auths[reg])
		}
	}
	kc := &pullSecretKeychain{}
	for _, key := range slices.Backward(slices.Sorted(maps.Keys(byKey))) {
		kc.patterns = append(kc.patterns, *byKey[key])
	}
	return kc, nil
}

// dockerConfigAuths returns the credentials of a pull secret by registry
// key; nil for a Secret of another type or without its data key.
func dockerConfigAuths(s *corev1.Secret) (map[string]authn.AuthConfig, error) {
	var raw map[string]json.RawMessage
	switch {
	case s.Type == corev1.SecretTypeDockerConfigJson && len(s.Data[corev1.DockerConfigJsonKey]) > 0:
		var doc struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if err := json.Unmarshal(s.Data[corev1.DockerConfigJsonKey], &doc); err != nil {
			return nil, fmt.Errorf("key %s: %w", corev1.DockerConfigJsonKey, jsonError(err))
		}
		raw = doc.Auths
	case s.Type == corev1.SecretTypeDockercfg && len(s.Data[corev1.DockerConfigKey]) > 0:
		if err := json.Unmarshal(s.Data[corev1.DockerConfigKey], &raw); err != nil {
			return nil, fmt.Errorf("key %s: %w", corev1.DockerConfigKey, jsonError(err))
		}
	default:
		return nil, nil
	}
	auths := make(map[string]authn.AuthConfig, len(raw))
	for reg, entry := range raw {
		// AuthConfig decodes "auth", base64(username:password), into
		// Username and Password, which it overrides, as the kubelet does.
		var a authn.AuthConfig
		if err := json.Unmarshal(entry, &a); err != nil {
			// The entry is valid JSON (the document parsed): either a
			// field has the wrong type, or auth does not decode.
			if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
				return nil, fmt.Errorf("registry %q: %w", reg, jsonError(err))
			}
			return nil, fmt.Errorf("registry %q: its auth is not base64(username:password)", reg)
		}
		// Username and Password say it: an Authorization with Auth set
		// as well would send that instead.
		a.Auth = ""
		auths[reg] = a
	}
	return auths, nil
}

// jsonError describes a JSON decoding error without quoting the document,
// which holds credentials: a syntax error's message quotes the offending
// character.
func jsonError(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fmt.Errorf("not valid JSON (at byte %d)", se.Offset)
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return fmt.Errorf("not a Docker config (an unexpected JSON %s at byte %d)", te.Value, te.Offset)
	}
	return errors.New("not a Docker config")
}

// parseRegistryKey parses a registry key as the kubelet does: a scheme,
// if any, is dropped, and so is a /v1/ or /v2/ API prefix of the path.
func parseRegistryKey(reg string) (registryPattern, error) {
	value := reg
	if !strings.HasPrefix(value, "https://") && !strings.HasPrefix(value, "http://") {
		value = "https://" + value
	}
	u, err := url.Parse(value)
	if err != nil {
		return registryPattern{}, fmt.Errorf("registry %q is not a host, host:port or host/path", reg)
	}
	p := u.Path
	if strings.HasPrefix(p, "/v1/") || strings.HasPrefix(p, "/v2/") {
		p = p[len("/v1"):]
	}
	if p == "/" {
		p = ""
	}
	labels, port := splitHost(u.Host)
	return registryPattern{key: u.Host + p, labels: labels, port: port, path: p}, nil
}

// splitHost splits host[:port] into the host's dot-separated labels and
// the port ("" when there is none).
func splitHost(hostport string) (labels []string, port string) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	return strings.Split(host, "."), port
}

// matches reports whether p matches the repository path repoPath (""
// or "/team/app") on the registry host[:port] whose labels and port are
// given.
func (p *registryPattern) matches(labels []string, port, repoPath string) bool {
	if p.port != port || len(p.labels) != len(labels) || !strings.HasPrefix(repoPath, p.path) {
		return false
	}
	for i, glob := range p.labels {
		// A malformed glob matches nothing, as in the kubelet (url.Parse
		// already rejects the characters that make one: [ and \).
		if ok, err := path.Match(glob, labels[i]); err != nil || !ok {
			return false
		}
	}
	return true
}

// Resolve implements authn.Keychain: the most specific matching
// credentials, or authn.Anonymous when none match, so that the keychains
// after this one are asked.
func (k *pullSecretKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	reg := target.RegistryStr()
	repoPath := strings.TrimPrefix(target.String(), reg)
	hosts := []string{reg}
	switch reg {
	case name.DefaultRegistry:
		hosts = append(hosts, "docker.io")
	case "docker.io":
		hosts = append(hosts, name.DefaultRegistry)
	}
	for i := range k.patterns {
		for _, h := range hosts {
			labels, port := splitHost(h)
			if k.patterns[i].matches(labels, port, repoPath) {
				return authn.FromConfig(k.patterns[i].creds[0]), nil
			}
		}
	}
	return authn.Anonymous, nil
}
