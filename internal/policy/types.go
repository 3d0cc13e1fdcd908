package policy

// APIVersion and Kind identify a policy document.
const (
	APIVersion = "signet.dev/v1alpha1"
	Kind       = "ImagePolicy"
	// KindCluster is the kind of the cluster-wide policy resource; a file
	// may say either: a file is always the cluster policy.
	KindCluster = "ClusterImagePolicy"
)

// Validator types.
const (
	TypeStatic   = "static"
	TypeCosign   = "cosign"
	TypeNotation = "notation"
	TypeNotaryV1 = "notaryv1"
)

// Modes say what happens to an image that is not verified.
const (
	// ModeEnforce denies it (the default).
	ModeEnforce = "enforce"
	// ModeWarn admits it with an admission warning.
	ModeWarn = "warn"
	// ModeAudit admits it and only logs the decision.
	ModeAudit = "audit"
)

// Pinning modes say which objects get tags replaced by verified digests.
const (
	// PinAll pins every workload kind (the default).
	PinAll = "all"
	// PinPodsOnly pins Pods only, so that GitOps controllers never see
	// their Deployments, StatefulSets… rewritten; the Pods they create are
	// pinned when admitted.
	PinPodsOnly = "podsOnly"
	// PinNone never rewrites images; signet only verifies.
	PinNone = "none"
)

// AllTrustRoots selects every trust root of a validator.
const AllTrustRoots = "*"

// ValidatorNamespace is the built-in validator of a ClusterImagePolicy rule
// that delegates the images it matches to the namespace: they are allowed
// only when an ImagePolicy in the workload's namespace has a matching rule
// that allows them (CompileSet). No validator may take its name.
const ValidatorNamespace = "namespace"

// DefaultName is the validator used by rules that name none, and the trust
// root used by rules that name none when a validator has several.
const DefaultName = "default"

// Document is a policy as written by its author: a file holds the Spec's
// fields at its top level, beside apiVersion, kind and metadata.
type Document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata,omitempty"`
	Spec       `json:",inline"`

	// src is the text Parse read, to locate Compile's problems in it.
	src *source
}

// Spec is the body of a policy: a policy file's fields besides apiVersion,
// kind and metadata, and the spec of the ClusterImagePolicy and ImagePolicy
// resources (package policy/v1alpha1). One schema, one compiler.
// +kubebuilder:object:generate=true
type Spec struct {
	// Mode is the default mode of every rule: enforce, warn or audit.
	// Default: enforce. It also applies to images no rule matches.
	// +kubebuilder:validation:Enum=enforce;warn;audit
	// +optional
	Mode string `json:"mode,omitempty"`
	// Pinning says which objects get tags replaced by verified digests:
	// all, podsOnly or none. Default: all.
	// +kubebuilder:validation:Enum=all;podsOnly;none
	// +optional
	Pinning string `json:"pinning,omitempty"`
	// Validators are the named ways of checking images that rules use.
	// +kubebuilder:validation:MinItems=1
	Validators []Validator `json:"validators"`
	// Rules bind image patterns to validators. The most specific matching
	// pattern governs an image; an image no rule matches is denied.
	// +kubebuilder:validation:MinItems=1
	Rules []Rule `json:"rules"`

	// InsecureRegistries lists the registries (host or host:port, exactly
	// as images name them) signet may reach over plain HTTP. Every other
	// registry is reached over HTTPS only. Credentials are never sent over
	// plain HTTP, even to these.
	// +optional
	InsecureRegistries []string `json:"insecureRegistries,omitempty"`

	// Resources declares kinds beyond the nine built-in ones (custom
	// resources: Argo Rollouts' Rollout, Tekton's Task…) and where their
	// images are. Their objects are verified and pinned like the built-in
	// kinds.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Resources []Resource `json:"resources,omitempty"`
}

// Metadata names a policy.
type Metadata struct {
	Name string `json:"name,omitempty"`
}

// Validator is a named way of checking images.
// +kubebuilder:object:generate=true
// +kubebuilder:validation:XValidation:rule="self.type != 'static' || has(self.approve)",message="approve is required for a static validator (true to allow, false to deny)",fieldPath=".approve"
// +kubebuilder:validation:XValidation:rule="!has(self.approve) || self.type == 'static'",message="approve is only allowed for a static validator",fieldPath=".approve"
// +kubebuilder:validation:XValidation:rule="self.type != 'notaryv1' || (has(self.host) && size(self.host) > 0)",message="host is required for a notaryv1 validator (the Notary server URL)",fieldPath=".host"
// +kubebuilder:validation:XValidation:rule="(has(self.tuf) ? 1 : 0) + (has(self.trustedRoot) && size(self.trustedRoot) > 0 ? 1 : 0) + (has(self.trustedRootFile) && size(self.trustedRootFile) > 0 ? 1 : 0) <= 1",message="trustedRoot, trustedRootFile and tuf are exclusive"
type Validator struct {
	// Name is what rules call the validator: letters, digits, '.', '_',
	// '-'; at most 64.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`
	Name string `json:"name"`
	// Type is "static", "cosign", "notation" or "notaryv1".
	// +kubebuilder:validation:Enum=static;cosign;notation;notaryv1
	Type string `json:"type"`
	// Approve is the decision of a static validator.
	Approve *bool `json:"approve,omitempty"`
	// Host is the URL of a notaryv1 validator's Notary server.
	Host string `json:"host,omitempty"`
	// Cert is the PEM CA certificate(s) of a private Notary server
	// (notaryv1, optional; the system roots otherwise).
	Cert string `json:"cert,omitempty"`
	// TrustedRoot is a Sigstore trusted_root.json, inline, for cosign
	// keyless trust roots of a private Sigstore instance.
	TrustedRoot string `json:"trustedRoot,omitempty"`
	// TrustedRootFile is the path of a Sigstore trusted_root.json.
	TrustedRootFile string `json:"trustedRootFile,omitempty"`
	// TUF fetches the trusted root from a Sigstore TUF repository (the
	// public-good instance by default), lazily, on the first keyless
	// verification; nothing is fetched at start-up.
	TUF *TUF `json:"tuf,omitempty"`
	// Auth names credentials for the registry (or Notary server) this
	// validator reads signatures from.
	Auth *Auth `json:"auth,omitempty"`
	// TrustRoots are the keys, identities or CAs the validator trusts.
	TrustRoots []TrustRoot `json:"trustRoots,omitempty"`
	// TrustPolicyFile is the path of a notation trustpolicy.json used
	// verbatim instead of trustRoots (notation, with TrustStoreDir).
	TrustPolicyFile string `json:"trustPolicyFile,omitempty"`
	// TrustStoreDir is the path of a notation x509 trust store directory
	// ({ca,signingAuthority,tsa}/<name>/<certificate files>) the
	// trustPolicyFile's trustStores name.
	TrustStoreDir string `json:"trustStoreDir,omitempty"`
}

// TUF locates a Sigstore TUF repository.
// +kubebuilder:object:generate=true
type TUF struct {
	// Mirror is the repository URL. Default: the public-good instance,
	// https://tuf-repo-cdn.sigstore.dev.
	Mirror string `json:"mirror,omitempty"`
	// Root is the repository's initial root.json, inline. Default: the
	// public-good root embedded in signet.
	Root string `json:"root,omitempty"`
}

// Auth names registry credentials.
// +kubebuilder:object:generate=true
type Auth struct {
	// SecretName is a Secret in signet's namespace, of type
	// kubernetes.io/dockerconfigjson, or with username and password keys.
	SecretName string `json:"secretName,omitempty"`
	// Registries lists the registry hosts (host or host:port, exact) the
	// Secret's credentials are offered to; every other registry is read
	// without them. Default: the hosts named in the patterns of the rules
	// using this validator. Required when one of those patterns has a
	// wildcard host ("**", "*.example.com/**").
	Registries []string `json:"registries,omitempty"`
}

// Keyless is the certificate identity a cosign keyless signature must
// carry: its OIDC issuer and subject (the certificate's SAN), each exact or
// a regular expression.
// +kubebuilder:object:generate=true
type Keyless struct {
	Issuer       string `json:"issuer,omitempty"`
	IssuerRegex  string `json:"issuerRegex,omitempty"`
	Subject      string `json:"subject,omitempty"`
	SubjectRegex string `json:"subjectRegex,omitempty"`
}

// TrustRoot is a named public key (cosign) or certificate authority
// (notation).
// +kubebuilder:object:generate=true
// +kubebuilder:validation:XValidation:rule="!(has(self.key) && size(self.key) > 0 && has(self.keyless))",message="key and keyless are exclusive"
type TrustRoot struct {
	// Name is what rules call the trust root: letters, digits, '.', '_',
	// '-'; at most 64.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`
	Name string `json:"name"`
	// Key is a public key (cosign: inline PEM, k8s://namespace/secret or a
	// KMS URI; notaryv1: the pinned root key, inline PEM).
	Key string `json:"key,omitempty"`
	// Keyless is a cosign keyless identity (exclusive with Key).
	Keyless *Keyless `json:"keyless,omitempty"`
	// Cert is one or more PEM CA certificates (notation).
	Cert string `json:"cert,omitempty"`
	// TSCert is one or more PEM timestamping-authority root certificates
	// (notation, optional).
	TSCert string `json:"tsCert,omitempty"`
	// TrustedIdentities are the signing certificates this notation trust
	// root accepts, in the Notary Project trust policy's syntax and
	// matching rules: "x509.subject: C=US, ST=WA, O=Acme, CN=release"
	// (C, ST and O at least; matched as a subset of the certificate's
	// subject), or "*" alone for any certificate the CAs issued.
	// Default: ["*"].
	// +kubebuilder:validation:MaxItems=64
	TrustedIdentities []string `json:"trustedIdentities,omitempty"`
	// TrustStore is the kind of notation trust store Cert is:
	// signingService (default; notation's "ca" store, for signatures made
	// with the notary.x509 signing scheme, as the notation CLI and its
	// signing-service plugins make) or signingAuthority (notation's
	// "signingAuthority" store, for the notary.x509.signingAuthority
	// scheme).
	// +kubebuilder:validation:Enum=signingService;signingAuthority
	TrustStore string `json:"trustStore,omitempty"`
}

// Rule binds images matching Pattern to a validator.
// +kubebuilder:object:generate=true
// +kubebuilder:validation:XValidation:rule="!(has(self.validator) && size(self.validator) > 0 && has(self.validators) && size(self.validators) > 0)",message="validator and validators are exclusive; list them all in validators"
type Rule struct {
	// Pattern is a glob over normalised image references ("*" within a
	// path component, "**" across them), anchored at both ends.
	// +kubebuilder:validation:MinLength=1
	Pattern string `json:"pattern"`
	// Validator names the validator images matching Pattern must pass.
	// Default: the one named "default".
	Validator string `json:"validator,omitempty"`
	// Validators lists several validators that must all pass (cosign AND
	// notation, say). Exclusive with Validator.
	Validators []string    `json:"validators,omitempty"`
	With       RuleOptions `json:"with,omitempty"`
}

// RuleOptions tune how a rule's validator is applied.
// +kubebuilder:object:generate=true
type RuleOptions struct {
	// TrustRoot is a trust root name, or "*" for all of them. Default: the
	// validator's only trust root, else the one named "default".
	TrustRoot string `json:"trustRoot,omitempty"`
	// Threshold is how many distinct trust roots must have signed. Default:
	// 1, or the number of Required roots when that is larger.
	// +kubebuilder:validation:Minimum=1
	Threshold *int `json:"threshold,omitempty"`
	// Required lists trust roots that must be among the signers.
	Required []string `json:"required,omitempty"`
	// Mode overrides the policy's mode for this rule.
	// +kubebuilder:validation:Enum=enforce;warn;audit
	Mode string `json:"mode,omitempty"`
	// VerificationLevel is the Notation verification level: strict
	// (default), permissive or audit.
	// +kubebuilder:validation:Enum=strict;permissive;audit
	VerificationLevel string `json:"verificationLevel,omitempty"`
	// VerifyTimestamp is the Notation timestamp option: always (default)
	// or afterCertExpiry.
	// +kubebuilder:validation:Enum=always;afterCertExpiry
	VerifyTimestamp string `json:"verifyTimestamp,omitempty"`
	// VerifyInTransparencyLog requires cosign signatures to be in a
	// transparency log (keyless trust roots). Default: true.
	VerifyInTransparencyLog *bool `json:"verifyInTransparencyLog,omitempty"`
	// VerifySCT requires keyless certificates to carry a signed
	// certificate timestamp from a CT log. Default: true.
	VerifySCT *bool `json:"verifySCT,omitempty"`
	// VerifyReference requires cosign signatures to name the image's
	// repository (normalised): a legacy signature's docker-reference, a
	// bundle's in-toto subject name. Default: false.
	VerifyReference bool `json:"verifyReference,omitempty"`
	// AcceptedReferences are repository patterns whose signatures are
	// accepted too under verifyReference (a mirror's upstream names).
	AcceptedReferences []string `json:"acceptedReferences,omitempty"`
	// VerifyRevocation checks Notation signing and timestamping
	// certificates with the OCSP responders and CRLs they name (strict and
	// permissive levels). Default: false, nothing is fetched.
	VerifyRevocation bool `json:"verifyRevocation,omitempty"`
	// RevocationValidations is the Notation trust policy's revocation
	// action: enforce (a revoked or unknown status denies), log (checked,
	// recorded in the reason, not enforced) or skip (nothing fetched).
	// Default: enforce when verifyRevocation is true, else skip.
	// verifyRevocation: true with another value is an error.
	// +kubebuilder:validation:Enum=enforce;log;skip
	RevocationValidations string `json:"revocationValidations,omitempty"`
	// VerificationOverride is the Notation trust policy's
	// signatureVerification.override: authenticTimestamp and expiry may be
	// enforce, log or skip; authenticity only enforce; integrity cannot be
	// overridden and revocation is revocationValidations.
	// +kubebuilder:validation:MaxProperties=4
	VerificationOverride map[string]string `json:"verificationOverride,omitempty"`
	// Delegations lists Notary v1 delegation roles (targets/releases, …)
	// that must have signed the tag (notaryv1).
	Delegations []string `json:"delegations,omitempty"`
	// Mutate, when false, keeps images this rule matches as written
	// instead of pinning them to the verified digest. Default: true.
	Mutate *bool `json:"mutate,omitempty"`
	// Attestations are in-toto attestations the image must carry, each
	// signed by trust roots of a cosign validator and satisfying CEL
	// conditions. Every entry must be met.
	// +kubebuilder:validation:MaxItems=16
	Attestations []Attestation `json:"attestations,omitempty"`
	// Platforms says which manifests of a multi-platform image (an image
	// index) must verify: "index" (the digest the reference resolves to;
	// the default), "all" (that digest and every platform manifest of the
	// index), or {any-of: [linux/amd64, linux/arm64]} (those platforms'
	// manifests; the index itself need not be signed). For an image that
	// is a single manifest every choice verifies that manifest.
	// +kubebuilder:validation:Schemaless
	// +optional
	Platforms *Platforms `json:"platforms,omitempty"`
}

// Platform choices of with.platforms, as a string.
const (
	// PlatformsIndex verifies the digest the reference resolves to.
	PlatformsIndex = "index"
	// PlatformsAll verifies that digest and every platform manifest.
	PlatformsAll = "all"
)

// Platforms is with.platforms: a string, PlatformsIndex or PlatformsAll,
// or an object {any-of: [os/arch[/variant], …]}. Exactly one of Select and
// AnyOf is set in a valid policy. Its CRD schema, which no marker can
// spell, is hack/platforms-schema.yaml.
// +kubebuilder:object:generate=true
type Platforms struct {
	// Select is PlatformsIndex or PlatformsAll, written as a string.
	Select string `json:"-"`
	// AnyOf lists the platforms whose manifests must verify.
	AnyOf []string `json:"any-of,omitempty"`
}

// Attestation is an attestation requirement: at least one attestation of
// Type, attached to the verified digest and signed by a quorum of the
// named trust roots, for which every condition holds.
// +kubebuilder:object:generate=true
type Attestation struct {
	// Name identifies the requirement in messages; unique within the rule.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([A-Za-z0-9._-]{0,62}[A-Za-z0-9])?$`
	Name string `json:"name"`
	// Type is the predicate type: one of cosign's short names
	// (slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson,
	// cyclonedx, vuln, openvex, link, custom) or a predicate type URI.
	Type string `json:"type"`
	// Validator is the cosign validator whose trust roots must have
	// signed the attestation. Default: the rule's validator.
	Validator string `json:"validator,omitempty"`
	// TrustRoot, Threshold and Required select the validator's trust roots
	// as the rule's with.trustRoot, with.threshold and with.required do.
	// Default: the rule's own when Validator is the rule's validator and
	// none of the three is set, else the validator's only trust root or
	// the one named "default".
	TrustRoot string `json:"trustRoot,omitempty"`
	// +kubebuilder:validation:Minimum=1
	Threshold *int     `json:"threshold,omitempty"`
	Required  []string `json:"required,omitempty"`
	// Conditions are CEL expressions that must all hold for one
	// attestation. None: any trusted attestation of the type will do.
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is a CEL expression over the attestation (predicate,
// statement), the image, the signer and now.
// +kubebuilder:object:generate=true
type Condition struct {
	Expression string `json:"expression"`
	// Message says what the condition requires; a denial quotes it (the
	// expression when empty).
	Message string `json:"message,omitempty"`
}

// Resource is a kind whose objects carry images, and where they are.
// +kubebuilder:object:generate=true
type Resource struct {
	// Group is the kind's API group (argoproj.io).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Group string `json:"group"`
	// Version is the API version the webhook reads (v1alpha1).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Version string `json:"version"`
	// Kind is the kind (Rollout).
	// +kubebuilder:validation:Pattern=`^[A-Z][A-Za-z0-9]{0,62}$`
	Kind string `json:"kind"`
	// Images say where the object's images are; every entry is read.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	Images []ResourceImages `json:"images"`
}

// ResourceImages is one place of a resource's images: a CEL expression
// returning the JSON pointers of image fields, or the pointer of a
// PodTemplateSpec.
// +kubebuilder:object:generate=true
// +kubebuilder:validation:XValidation:rule="(has(self.expression) && size(self.expression) > 0) != (has(self.podTemplate) && size(self.podTemplate) > 0)",message="exactly one of expression and podTemplate is required"
type ResourceImages struct {
	// Expression is a CEL expression over object (the resource as JSON)
	// returning a list of JSON pointers (RFC 6901) of image fields:
	// "/spec/steps/0/image". Each must name a string.
	// +kubebuilder:validation:MaxLength=10000
	Expression string `json:"expression,omitempty"`
	// PodTemplate is the JSON pointer (RFC 6901) of a PodTemplateSpec in
	// the object ("/spec/template"): its images are found as in a
	// Deployment's (containers, initContainers, ephemeralContainers, image
	// volumes).
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/`
	PodTemplate string `json:"podTemplate,omitempty"`
}
