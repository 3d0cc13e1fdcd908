package kube

import (
	"context"
	"io"
	"regexp"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	"github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/google"
)

// Ambient is signet's own registry credentials, asked in the order
// go-containerregistry's k8schain asks them: the Docker config, then the
// cloud keychains of signet's identity — Google (GCR, Artifact Registry),
// Amazon ECR and Azure ACR, each answering only for its own registries.
// It is the registry client's own keychain in signet verify and signet
// serve (with or without pull secrets): the keychains an admission or a
// validator carries are asked before it.
type Ambient struct {
	Docker, Google, ECR, ACR authn.Keychain
}

// AmbientKeychain returns signet's own credentials: the Docker config
// ($DOCKER_CONFIG/config.json), then GCR and Artifact Registry, ECR, and
// ACR (asked only for whole ACR login-server names).
func AmbientKeychain() *Ambient {
	return &Ambient{
		Docker: authn.DefaultKeychain,
		Google: google.Keychain,
		ECR:    authn.NewKeychainFromHelper(ecr.NewECRHelper(ecr.WithLogger(io.Discard))),
		ACR:    acrKeychain{authn.NewKeychainFromHelper(credhelper.NewACRCredentialsHelper())},
	}
}

func (a *Ambient) chain() authn.Keychain {
	return authn.NewMultiKeychain(a.Docker, a.Google, a.ECR, a.ACR)
}

// Resolve returns the first credentials a keychain of the chain has for r.
func (a *Ambient) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return a.chain().Resolve(r)
}

// ResolveContext is Resolve under ctx, for keychains that make requests.
func (a *Ambient) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	return authn.Resolve(ctx, a.chain(), r)
}

// acrHost is an Azure Container Registry login server, whole: one or more
// DNS labels, then azurecr.io or a sovereign cloud's azurecr domain, and
// nothing after it.
var acrHost = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+azurecr\.(io|cn|de|us)$`)

// acrKeychain asks the ACR credential helper only for ACR login servers.
// The helper's own check is an unanchored regular expression
// (GO-2026-6225, no fixed release): it would hand signet's Azure AD token
// to any registry whose name merely contains ".azurecr.io", such as
// evil.azurecr.io.attacker.example, and the registries signet contacts are
// named by whoever writes a Pod.
type acrKeychain struct{ helper authn.Keychain }

func (k acrKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if !acrHost.MatchString(r.RegistryStr()) {
		return authn.Anonymous, nil
	}
	return k.helper.Resolve(r)
}
