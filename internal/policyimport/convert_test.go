package policyimport

import (
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

const testKey = `-----BEGIN PUBLIC KEY-----
        MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEOXYta5TgdCwXTCnLU09W5T4M4r9f
        QQrqJuADP6U7g5r9ICgPSmZuRHP/1AYUfOQW3baveKsT969EfELKj1lfCA==
        -----END PUBLIC KEY-----`

// TestConversions: each construct's signet form, and a note for what has
// no exact equivalent; every output lints.
func TestConversions(t *testing.T) {
	t.Parallel()
	cosign := "  - name: acme\n    type: cosign\n    trustRoots:\n    - name: a\n      key: |\n        " + testKey + "\n    - name: b\n      key: awskms:///alias/b\n"
	for _, tc := range []struct {
		name, tool, in string
		policy, notes  []string // substrings of the policy, of the notes
	}{{
		name: "detection mode, podsOnly, unknown fields", tool: "connaisseur",
		in:     "application:\n  features: {detectionMode: true, resourceValidationMode: podsOnly, shiny: 1}\n  validators: [{name: allow, type: static, approve: true, colour: red}]\n  policy: [{pattern: '*:*', validator: allow}]\nalerting: {clusterIdentifier: x}\n",
		policy: []string{"mode: warn", "pinning: podsOnly", "pattern: '**'"},
		notes:  []string{"features.shiny: not converted", "colour: not converted", "alerting: not converted", "detectionMode"},
	}, {
		name: "older top-level layout", tool: "connaisseur",
		in:     "validators: [{name: default, type: static, approve: false}]\npolicy: [{pattern: 'ghcr.io/*'}]\n",
		policy: []string{"pattern: ghcr.io/**", "validator: default"},
	}, {
		name: "trust roots: all, threshold, required, mode", tool: "connaisseur",
		in: "application:\n  validators:\n" + cosign + "  policy:\n" +
			"  - {pattern: 'a.io/*', validator: acme, with: {trustRoot: '*'}}\n" +
			"  - {pattern: 'b.io/*', validator: acme, with: {trustRoot: '*', required: [b]}}\n" +
			"  - {pattern: 'c.io/*', validator: acme, with: {trustRoot: a, threshold: 2, mode: insecureValidateOnly}}\n" +
			"  - {pattern: 'd.io/*', validator: acme, with: {trustRoot: a, required: [b]}}\n" +
			"  - {pattern: 'e.io/*', validator: nope}\n",
		policy: []string{
			"pattern: a.io/**\n    validator: acme\n    with:\n      trustRoot: '*'\n      threshold: 2\n",
			"pattern: b.io/**\n    validator: acme\n    with:\n      trustRoot: '*'\n      required:\n        - b\n",
			"pattern: c.io/**\n    validator: acme\n    with:\n      trustRoot: a\n      mutate: false\n",
			"pattern: d.io/**\n    validator: import-deny\n",
			"pattern: e.io/**\n    validator: import-deny\n",
		},
		notes: []string{"threshold 2 is ignored", `required trust root "b" is not among`, `validator "nope" does not exist`, "Rekor entry for key signatures"},
	}, {
		name: "names, auth, alternatives", tool: "connaisseur",
		in: "application:\n  validators:\n  - {name: 'my validator!', type: notaryv1, auth: {secretName: creds}, trustRoots: [{name: root, key: \"" + strings.ReplaceAll(testKey, "\n        ", "\\n") + "\"}]}\n" +
			"  - {name: acme, type: cosign, auth: {secretName: creds, useKeychain: true}, trustRoots: [{name: b, key: 'awskms:///alias/b'}]}\n" +
			"  policy: [{pattern: 'reg.io/{a,b}/*:*', validator: 'my validator!'}, {pattern: '*:*', validator: 'my validator!'}, {pattern: 'reg.io/acme/*', validator: acme}, {pattern: '*.acme.io/*', validator: acme}]\n",
		policy: []string{"name: my-validator\n    type: notaryv1\n    host: https://notary.docker.io", "secretName: creds\n      registries:\n        - reg.io", "pattern: reg.io/a/**", "pattern: reg.io/b/**"},
		notes:  []string{`is named "my-validator"`, "is 2 rules in signet", "offered to [reg.io] only", "Notary server's credentials", "useKeychain: not converted"},
	}, {
		name: "precedence as written", tool: "connaisseur",
		in: "application:\n  validators: [{name: allow, type: static, approve: true}, {name: deny, type: static, approve: false}]\n" +
			"  policy: [{pattern: 'docker.io/library/*:*', validator: deny}, {pattern: 'nginx:*', validator: allow}, {pattern: 'ghcr.io/a*', validator: deny}, {pattern: 'ghcr.io/app/x', validator: allow}, {pattern: 'ghcr.io/**', validator: allow}]\n",
		// Connaisseur never applies "nginx:*" where "docker.io/library/*:*"
		// matches: the rule takes the latter's validator. "ghcr.io/a*"
		// (ghcr.io/a** in signet) also matches ghcr.io/app/x, where both
		// prefer the rule of three components: no change.
		policy: []string{"pattern: nginx:*\n    validator: deny", "pattern: ghcr.io/app/x\n    validator: allow"},
		notes:  []string{`Connaisseur applied the rule for "docker.io/library/**" to every image`},
	}, {
		name: "a key that does not parse", tool: "connaisseur",
		in:     "application:\n  validators: [{name: default, type: cosign, trustRoots: [{name: a, key: 'not a key'}]}]\n  policy: [{pattern: '*:*'}]\n",
		policy: []string{"type: static\n    approve: false"},
		notes:  []string{`trust root "a" is not converted`},
	}, {
		name: "policy-controller: match, policy, warn, secretRef, source", tool: "policy-controller",
		in: "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  mode: warn\n  match: [{resource: pods}]\n  policy: {type: cue, data: x}\n  images: [{glob: 'ghcr.io/acme/*:*'}, {glob: 'ghcr.io/acme/app:v1'}]\n" +
			"  authorities:\n  - key: {secretRef: {name: sig-key}}\n    source: [{oci: other.io/sigs, signaturePullSecrets: [{name: pull}]}]\n---\nkind: ConfigMap\napiVersion: v1\n",
		policy: []string{"key: k8s://cosign-system/sig-key", "secretName: pull", "pattern: ghcr.io/acme/*\n", "pattern: ghcr.io/acme/app:v1", "mode: warn"},
		notes:  []string{"not converted: match", "not converted: the policy over the authorities", "source.oci", "v1 ConfigMap is not a ClusterImagePolicy", "a tag pattern applies"},
	}, {
		name: "policy-controller: static fail and partial overlap", tool: "policy-controller",
		in: "apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: deny-debug}\nspec:\n  images: [{glob: 'ghcr.io/*-debug*'}]\n  authorities: [{static: {action: fail}}]\n---\n" +
			"apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: apps}\nspec:\n  images: [{glob: 'ghcr.io/app*'}]\n  authorities: [{static: {action: pass}}]\n",
		// ghcr.io/app-debug matches both globs: deny-debug must fail it,
		// whichever rule is more specific in signet.
		policy: []string{"pattern: ghcr.io/*-debug*\n    validator: fail", "pattern: ghcr.io/app*\n    validator: fail"},
		notes:  []string{"match only part of these images"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Import(tc.tool, []Input{{Name: "in.yaml", Data: []byte(tc.in)}})
			if err != nil {
				t.Fatal(err)
			}
			if r := policy.Lint(res.Policy); !r.Valid() {
				t.Fatalf("lint: %v\n%s", r.Errors, res.Policy)
			}
			var lines []string
			for _, l := range strings.Split(string(res.Policy), "\n") {
				if !strings.HasPrefix(strings.TrimSpace(l), "#") {
					lines = append(lines, l)
				}
			}
			body := strings.Join(lines, "\n")
			for _, want := range tc.policy {
				if !strings.Contains(body, want) {
					t.Errorf("the policy lacks %q:\n%s", want, res.Policy)
				}
			}
			var notes string
			for _, n := range res.Notes {
				notes += n.Source + ": " + n.Message + "\n"
			}
			for _, want := range tc.notes {
				if !strings.Contains(notes, want) {
					t.Errorf("no note %q in %s", want, notes)
				}
			}
		})
	}
}
