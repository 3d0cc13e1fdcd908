package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

func indent(s string) string { return testutil.Indent(s, 8) }

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	key := indent(testutil.NewKey(t).PEM)
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"empty", ``, []string{"policy is empty"}},
		{"broken yaml", "validators: [", []string{"not valid YAML"}},
		{"duplicate key", "apiVersion: a\napiVersion: b\n", []string{"not valid YAML", "apiVersion"}},
		{"not an object", "- a\n- b\n", []string{"expected an object"}},
		{"two documents", "kind: ImagePolicy\n---\nkind: ImagePolicy\n", []string{"holds 2 YAML documents"}},
		{"unknown top-level field", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validatorz: []`, []string{`validatorz: unknown field`}},
		{"unknown nested field with hint", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators: [{name: a, type: static, approve: true}]
rules:
- pattern: "**"
  validator: a
  with: {trustroot: x}`, []string{`rules[0].with.trustroot: unknown field (did you mean "trustRoot"?)`}},
		{"wrong types", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators: [{name: a, type: static, approve: "yes"}]
rules: [{pattern: "**", validator: a, with: {threshold: 1.5}}]`, []string{
			`validators[0].approve: expected true or false, got the string "yes"`,
			`rules[0].with.threshold: expected a whole number`}},
		{"wrong version and kind", `
apiVersion: v1
kind: Pod
validators: [{name: a, type: static, approve: true}]
rules: [{pattern: "**", validator: a}]`, []string{`apiVersion: must be "signet.dev/v1alpha1"`, `kind: must be "ImagePolicy"`}},
		{"semantic errors all reported", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- {name: a, type: static, approve: true}
- {name: a, type: static, approve: false}
- {name: c, type: cosign}
- {name: d, type: notary}
- name: e
  type: cosign
  trustRoots:
  - {name: k, key: "not a pem"}
  - {name: k, key: ""}
rules:
- {pattern: "**", validator: x}
- {pattern: "a//b", validator: a}
- {pattern: "**", validator: a}
- {pattern: "ghcr.io/**"}`, []string{
			`validators[1].name: duplicate validator name "a" (also validators[0])`,
			`validators[2].trustRoots: at least one trust root is required`,
			`validators[3].type: unknown validator type "notary"`,
			`validators[4].trustRoots[0].key: parsing PEM public key`,
			`validators[4].trustRoots[1].name: duplicate trust root name "k"`,
			`validators[4].trustRoots[1].key: is required`,
			`rules[0].validator: unknown validator "x"`,
			`rules[1].pattern: path components must not be empty`,
			`rules[2].pattern: duplicate pattern "**" (also rules[0])`,
			`rules[3].validator: is required (no validator is named "default")`}},
		{"quorum errors", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: c
  type: cosign
  trustRoots:
  - name: k1
    key: |
        ` + key + `
  - name: k2
    key: |
        ` + key + `
- {name: s, type: static, approve: true}
rules:
- {pattern: "a/*", validator: c}
- {pattern: "b/*", validator: c, with: {trustRoot: k9}}
- {pattern: "c/*", validator: c, with: {trustRoot: "*", threshold: 3}}
- {pattern: "d/*", validator: c, with: {trustRoot: k1, required: [k2]}}
- {pattern: "e/*", validator: c, with: {trustRoot: "*", threshold: 0}}
- {pattern: "f/*", validator: s, with: {threshold: 1}}`, []string{
			`rules[0].with.trustRoot: is required: validator "c" has 2 trust roots`,
			`rules[1].with.trustRoot: validator "c" has no trust root "k9"`,
			`rules[2].with.threshold: 3 exceeds the 2 trust root(s)`,
			`rules[3].with.required[0]: trust root "k2" is not among the rule's trust roots [k1]`,
			`rules[4].with.threshold: must be at least 1`,
			`rules[5].with: trustRoot, threshold, required, verificationLevel and verifyTimestamp do not apply to static validator "s"`}},
		{"notation trust policy file errors", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- {name: nofile, type: notation, trustPolicyFile: /nonexistent/trustpolicy.json, trustStoreDir: /nonexistent/x509}
- {name: nodir, type: notation, trustPolicyFile: /nonexistent/trustpolicy.json}
- {name: both, type: notation, trustPolicyFile: /a, trustStoreDir: /b, trustRoots: [{name: a, cert: x}]}
- {name: cs, type: cosign, trustPolicyFile: /a, trustRoots: [{name: a, key: x}]}
rules:
- {pattern: "a/*", validator: nofile, with: {verificationLevel: audit, threshold: 1}}`, []string{
			`validators[0].trustPolicyFile: reading trust policy: open /nonexistent/trustpolicy.json`,
			`validators[1].trustStoreDir: is required with trustPolicyFile`,
			`validators[2].trustRoots: not allowed with trustPolicyFile`,
			`validators[3].trustPolicyFile: not allowed for a cosign validator (only notation)`,
			`rules[0].with: trustRoot, threshold and required do not apply to validator "nofile"`,
			`rules[0].with: verificationLevel, verifyTimestamp and verificationOverride do not apply to validator "nofile"`}},
		{"validator lists", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators: [{name: a, type: static, approve: true}]
rules:
- {pattern: "x/*", validator: a, validators: [a]}
- {pattern: "y/*", validators: [a, zz]}
- {pattern: "z/*", validators: [a, a]}`, []string{
			`rules[0]: validator and validators are exclusive`,
			`rules[1].validators[1]: unknown validator "zz"`,
			`rules[2].validators[1]: duplicate validator "a"`}},
		{"keyless errors", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: kl
  type: cosign
  trustRoots:
  - {name: a, keyless: {issuer: "https://i"}}
  - {name: b, keyless: {issuer: "https://i", issuerRegex: "x", subject: s}}
  - {name: c, keyless: {issuer: "https://i", subjectRegex: "("}}
- name: tr
  type: cosign
  trustedRoot: "{}"
  trustRoots: [{name: a, keyless: {issuer: "https://i", subject: s}}]
- name: both
  type: cosign
  trustedRootFile: /nonexistent/trusted-root.json
  tuf: {}
  trustRoots: [{name: a, keyless: {issuer: "https://i", subject: s}}]
- name: file
  type: cosign
  trustedRootFile: /nonexistent/trusted-root.json
  trustRoots: [{name: a, keyless: {issuer: "https://i", subject: s}}]
- name: mirror
  type: cosign
  tuf: {mirror: "ftp://x"}
  trustRoots: [{name: a, keyless: {issuer: "https://i", subject: s}}]
- {name: st, type: static, approve: true}
- {name: nt, type: notation, tuf: {}, trustRoots: [{name: a, cert: x}]}
rules:
- {pattern: "a/*", validator: kl, with: {trustRoot: a}}
- {pattern: "b/*", validator: st, with: {verifySCT: false}}`, []string{
			`validators[0]: keyless trust roots need Sigstore trusted material`,
			`validators[0].trustRoots[0].keyless: subject or subjectRegex is required`,
			`validators[0].trustRoots[1].keyless: issuer and issuerRegex are exclusive`,
			`validators[0].trustRoots[2].keyless.subjectRegex: invalid regular expression`,
			`validators[1].trustedRoot: parsing Sigstore trusted root`,
			`validators[2]: trustedRoot, trustedRootFile and tuf are exclusive`,
			`validators[3].trustedRootFile: open /nonexistent/trusted-root.json`,
			`validators[4].tuf.mirror: must be an http(s) URL`,
			`validators[6].tuf: not allowed for a notation validator`,
			`rules[1].with: verifyInTransparencyLog and verifySCT apply to cosign validators only`}},
		{"notaryv1 errors", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- {name: n1, type: notaryv1, approve: true}
- name: n2
  type: notaryv1
  host: http://notary.example
  cert: not a pem
  trustRoots:
  - {name: r, key: "not a pem"}
  - {name: s}
  - {name: t, key: "x", cert: "y"}
- name: n3
  type: notaryv1
  host: https://notary.example/path
  trustRoots:
  - name: r
    key: |
        ` + key + `
- name: c
  type: cosign
  host: https://notary.example
  trustRoots:
  - name: k
    key: |
        ` + key + `
rules:
- {pattern: "a/*", validator: n3, with: {delegations: [targets, releases, targets/releases]}}
- {pattern: "b/*", validator: c, with: {delegations: [releases]}}
- {pattern: "c/*", validator: n3, with: {verificationLevel: strict}}
- {pattern: "d/*", validator: n3, with: {threshold: 2}}`, []string{
			`validators[0].approve: only allowed for a static validator`,
			`validators[0].host: is required for a notaryv1 validator`,
			`validators[0].trustRoots: at least one trust root is required`,
			`validators[1].host: Notary server URL "http://notary.example" must start with https://`,
			`validators[1].cert: holds no PEM certificate`,
			`validators[1].trustRoots[0].key: parsing PEM root key: no PEM block found`,
			`validators[1].trustRoots[1].key: is required (the repository's root public key`,
			`validators[1].trustRoots[2]: cert, tsCert and keyless do not apply to a notaryv1 trust root`,
			`validators[2].host: Notary server URL "https://notary.example/path" must be https://host[:port] only`,
			`validators[3].host: not allowed for a cosign validator (only notaryv1)`,
			`rules[0].with.delegations[0]: "targets" is the base targets role, not a delegation`,
			`rules[0].with.delegations[2]: duplicate delegation "targets/releases"`,
			`rules[1].with.delegations: applies to notaryv1 validators only (validator "c" is cosign)`,
			`rules[2].with: verificationLevel and verifyTimestamp apply to notation validators only (validator "n3" is notaryv1)`,
			`rules[3].with.threshold: 2 exceeds the 1 trust root(s)`}},
		{"no rules", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators: [{name: a, type: static, approve: true}]`, []string{`rules: at least one rule is required`}},
		{"bad key type", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: c
  type: cosign
  trustRoots:
  - name: k
    key: |
        -----BEGIN CERTIFICATE-----
        MIIBszCCAVmgAwIBAgIUAAAA
        -----END CERTIFICATE-----
rules: [{pattern: "**", validator: c}]`, []string{`validators[0].trustRoots[0].key:`}},
		{"auth", `
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators:
- name: c
  type: cosign
  auth: {secretName: regcred}
  trustRoots:
  - name: k
    key: |
        ` + key + `
- {name: s, type: static, approve: true, auth: {secretName: x}}
- name: nosecret
  type: cosign
  auth: {}
  trustRoots:
  - name: k
    key: |
        ` + key + `
- name: bad
  type: notation
  auth: {secretName: "Not_A_Name"}
  trustRoots: [{name: k, cert: x}]
rules: [{pattern: "**", validator: c}]`, []string{
			`validators[0].auth.secretName: Secret "regcred" can only be read through the Kubernetes API: use signet serve, or signet verify --kubeconfig`,
			`validators[1].auth: not allowed for a static validator`,
			`validators[2].auth.secretName: is required`,
			`validators[3].auth.secretName: "Not_A_Name" is not a valid Secret name`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc, err := policy.Parse([]byte(tc.yaml))
			if err == nil {
				_, err = policy.Compile(doc, registry.MustNew())
			}
			if err == nil {
				t.Fatal("no error")
			}
			var ie *policy.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not *policy.InvalidError: %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	key := indent(testutil.NewKey(t).PEM)
	doc, err := policy.Parse([]byte(`
apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
metadata: {name: prod}
validators:
- name: default
  type: cosign
  trustRoots:
  - name: ci
    key: |
        ` + key + `
- {name: allow, type: static, approve: true}
- name: dct
  type: notaryv1
  host: https://notary.docker.io
  trustRoots:
  - name: official
    key: |
        ` + key + `
rules:
- pattern: "**"
- pattern: "registry.k8s.io/**"
  validator: allow
- pattern: "docker.io/library/*"
  validator: dct
  with: {delegations: [releases]}
- pattern: "docker.io/acme/*"
  validators: [default, dct]
`))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	if eng.Name() != "prod" {
		t.Errorf("Name() = %q", eng.Name())
	}
}
