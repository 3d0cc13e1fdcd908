package policy

// APIVersion and Kind identify a policy document.
const (
	APIVersion = "signet.dev/v1alpha1"
	Kind       = "ImagePolicy"
)

// Validator types.
const (
	TypeStatic   = "static"
	TypeCosign   = "cosign"
	TypeNotation = "notation"
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

// DefaultName is the validator used by rules that name none, and the trust
// root used by rules that name none when a validator has several.
const DefaultName = "default"

// Document is an ImagePolicy as written by its author.
type Document struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata,omitempty"`
	// Mode is the default mode of every rule: enforce, warn or audit.
	// Default: enforce. It also applies to images no rule matches.
	Mode string `json:"mode,omitempty"`
	// Pinning says which objects get tags replaced by verified digests:
	// all, podsOnly or none. Default: all.
	Pinning    string      `json:"pinning,omitempty"`
	Validators []Validator `json:"validators"`
	Rules      []Rule      `json:"rules"`
}

// Metadata names a policy.
type Metadata struct {
	Name string `json:"name,omitempty"`
}

// Validator is a named way of checking images.
type Validator struct {
	Name string `json:"name"`
	// Type is "static", "cosign" or "notation".
	Type string `json:"type"`
	// Approve is the decision of a static validator.
	Approve *bool `json:"approve,omitempty"`
	// TrustRoots are the keys a cosign validator trusts.
	TrustRoots []TrustRoot `json:"trustRoots,omitempty"`
}

// TrustRoot is a named public key (cosign) or certificate authority
// (notation).
type TrustRoot struct {
	Name string `json:"name"`
	// Key is an inline PEM public key (cosign).
	Key string `json:"key,omitempty"`
	// Cert is one or more PEM CA certificates (notation).
	Cert string `json:"cert,omitempty"`
	// TSCert is one or more PEM timestamping-authority root certificates
	// (notation, optional).
	TSCert string `json:"tsCert,omitempty"`
}

// Rule binds images matching Pattern to a validator.
type Rule struct {
	Pattern   string `json:"pattern"`
	Validator string `json:"validator,omitempty"`
	// Validators lists several validators that must all pass (cosign AND
	// notation, say). Exclusive with Validator.
	Validators []string    `json:"validators,omitempty"`
	With       RuleOptions `json:"with,omitempty"`
}

// RuleOptions tune how a rule's validator is applied.
type RuleOptions struct {
	// TrustRoot is a trust root name, or "*" for all of them. Default: the
	// validator's only trust root, else the one named "default".
	TrustRoot string `json:"trustRoot,omitempty"`
	// Threshold is how many distinct trust roots must have signed. Default:
	// 1, or the number of Required roots when that is larger.
	Threshold *int `json:"threshold,omitempty"`
	// Required lists trust roots that must be among the signers.
	Required []string `json:"required,omitempty"`
	// Mode overrides the policy's mode for this rule.
	Mode string `json:"mode,omitempty"`
	// VerificationLevel is the Notation verification level: strict
	// (default), permissive or audit.
	VerificationLevel string `json:"verificationLevel,omitempty"`
	// VerifyTimestamp is the Notation timestamp option: always (default)
	// or afterCertExpiry.
	VerifyTimestamp string `json:"verifyTimestamp,omitempty"`
	// Mutate, when false, keeps images this rule matches as written
	// instead of pinning them to the verified digest. Default: true.
	Mutate *bool `json:"mutate,omitempty"`
}
