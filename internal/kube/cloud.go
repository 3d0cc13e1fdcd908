package kube

import (
	"io"
	"regexp"

	ecr "github.com/awslabs/amazon-ecr-credential-helper/ecr-login"
	"github.com/chrismellard/docker-credential-acr-env/pkg/credhelper"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/google"
)

// ambientKeychain is signet's own credentials, asked after a workload's
// pull secrets, in the order go-containerregistry's k8schain asks them:
// the Docker config, then the cloud keychains of signet's identity —
// Google (GCR, Artifact Registry), Amazon ECR and Azure ACR, each
// answering only for its own registries.
func ambientKeychain() authn.Keychain {
	return authn.NewMultiKeychain(
		authn.DefaultKeychain,
		google.Keychain,
		authn.NewKeychainFromHelper(ecr.NewECRHelper(ecr.WithLogger(io.Discard))),
		acrKeychain{authn.NewKeychainFromHelper(credhelper.NewACRCredentialsHelper())},
	)
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
