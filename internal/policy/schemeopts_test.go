package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestSchemeOptionErrors: verifyReference, acceptedReferences and
// verifyRevocation are refused where they cannot mean what they say.
func TestSchemeOptionErrors(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	tests := []struct {
		name, rules string
		want        string
	}{
		{"verifyReference on a static validator", `- {pattern: "**", validator: allow, with: {verifyReference: true}}`,
			`rules[0].with.verifyReference: applies to cosign validators only (validator "allow" is static`},
		{"acceptedReferences without verifyReference", `- {pattern: "**", validator: signed, with: {acceptedReferences: ["ghcr.io/acme/*"]}}`,
			`rules[0].with.acceptedReferences: needs verifyReference: true`},
		{"acceptedReferences with a tag", `- {pattern: "**", validator: signed, with: {verifyReference: true, acceptedReferences: ["ghcr.io/acme/app:v1"]}}`,
			`rules[0].with.acceptedReferences[0]: "ghcr.io/acme/app:v1": a repository pattern has no tag or digest`},
		{"acceptedReferences with a digest", `- {pattern: "**", validator: signed, with: {verifyReference: true, acceptedReferences: ["ghcr.io/acme/app@sha256:abc"]}}`,
			`a repository pattern has no tag or digest`},
		{"acceptedReferences not a pattern", `- {pattern: "**", validator: signed, with: {verifyReference: true, acceptedReferences: ["ghcr.io//app"]}}`,
			`rules[0].with.acceptedReferences[0]: path components must not be empty`},
		{"acceptedReferences accepting everything", `- {pattern: "**", validator: signed, with: {verifyReference: true, acceptedReferences: ["**"]}}`,
			`rules[0].with.acceptedReferences[0]: "**" accepts a signature made for any repository`},
		{"verifyRevocation on a cosign validator", `- {pattern: "**", validator: signed, with: {verifyRevocation: true}}`,
			`rules[0].with.verifyRevocation: applies to notation validators only (validator "signed" is cosign)`},
		{"verifyReference on a notation validator", `- {pattern: "**", validator: nt, with: {verifyReference: true}}`,
			`rules[0].with.verifyReference: applies to cosign validators only (validator "nt" is notation: a Notation signature signs the image's descriptor only`},
		{"verifyRevocation at the audit level", `- {pattern: "**", validator: nt, with: {verifyRevocation: true, verificationLevel: audit}}`,
			`rules[0].with.verifyRevocation: needs verificationLevel "strict" or "permissive"`},
		{"revocationValidations on a cosign validator", `- {pattern: "**", validator: signed, with: {revocationValidations: log}}`,
			`rules[0].with.revocationValidations: applies to notation validators only (validator "signed" is cosign)`},
		{"verificationOverride on a cosign validator", `- {pattern: "**", validator: signed, with: {verificationOverride: {expiry: log}}}`,
			`rules[0].with.verificationOverride: applies to notation validators only`},
		{"revocationValidations at the audit level", `- {pattern: "**", validator: nt, with: {revocationValidations: log, verificationLevel: audit}}`,
			`rules[0].with.revocationValidations: "log" needs verificationLevel "strict" or "permissive"`},
		{"revocationValidations contradicting verifyRevocation", `- {pattern: "**", validator: nt, with: {revocationValidations: skip, verifyRevocation: true}}`,
			`rules[0].with.revocationValidations: "skip" contradicts verifyRevocation: true`},
		{"revocationValidations unknown", `- {pattern: "**", validator: nt, with: {revocationValidations: warn}}`,
			`rules[0].with.revocationValidations: must be "enforce", "log" or "skip", got "warn"`},
		{"verificationOverride of integrity", `- {pattern: "**", validator: nt, with: {verificationOverride: {integrity: skip}}}`,
			`rules[0].with.verificationOverride: integrity: integrity cannot be overridden`},
		{"verificationOverride of revocation", `- {pattern: "**", validator: nt, with: {verificationOverride: {revocation: log}}}`,
			`rules[0].with.verificationOverride: revocation: set revocationValidations instead`},
		{"verificationOverride logging authenticity", `- {pattern: "**", validator: nt, with: {verificationOverride: {authenticity: log}}}`,
			`rules[0].with.verificationOverride: authenticity: only "enforce"`},
		{"trustedIdentities with a bad DN", `- {pattern: "**", validator: nt2}`,
			`validators[4].trustRoots[0].trustedIdentities: has trusted identity "x509.subject: C=US, O=Acme, CN=release" with invalid identity value`},
		{"trustedIdentities with the wildcard and a subject", `- {pattern: "**", validator: nt3}`,
			`validators[5].trustRoots[0].trustedIdentities: uses a wildcard trusted identity '*', a wildcard identity cannot be used in conjunction with other values`},
		{"trustStore unknown", `- {pattern: "**", validator: nt3}`,
			`validators[5].trustRoots[1].trustStore: must be "signingService" or "signingAuthority", got "tsa"`},
		{"trustedIdentities on a cosign trust root", `- {pattern: "**", validator: signed}`,
			`validators[6].trustRoots[0]: cert, tsCert, trustedIdentities and trustStore are for notation validators`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			y := strings.Replace(testutil.Policy(key.PEM, tc.rules), "\nrules:\n", "\n- {name: nt, type: notation, trustRoots: [{name: a, cert: x}]}"+
				"\n- {name: nt2, type: notation, trustRoots: [{name: a, cert: x, trustedIdentities: [\"x509.subject: C=US, O=Acme, CN=release\"]}]}"+
				"\n- {name: nt3, type: notation, trustRoots: [{name: a, cert: x, trustedIdentities: [\"*\", \"x509.subject: C=US, ST=WA, O=Acme, CN=release\"]}, {name: b, cert: x, trustStore: tsa}]}"+
				"\n- {name: cs, type: cosign, trustRoots: [{name: a, key: x, trustedIdentities: [\"*\"]}]}\nrules:\n", 1)
			doc, err := policy.Parse([]byte(y))
			if err != nil {
				t.Fatal(err)
			}
			_, err = policy.Compile(doc, registry.MustNew())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestVerifyReference: a signature made for one repository, copied to
// another at the same digest (as `cosign copy` does), is denied there under
// verifyReference, and accepted when its repository is an accepted one.
func TestVerifyReference(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	h := reg.Host
	dev := reg.PushImage(t, "dev/debug-shell:v1")
	testutil.SignLegacy(t, dev, key)
	for _, repo := range []string{"prod/app", "mirror/dev/debug-shell"} {
		testutil.CopyWithSignatures(t, dev, h+"/"+repo)
	}
	eng := engine(t, key, `
- {pattern: "`+h+`/dev/**", validator: signed, with: {verifyReference: true}}
- {pattern: "`+h+`/prod/**", validator: signed, with: {verifyReference: true}}
- {pattern: "`+h+`/mirror/**", validator: signed, with: {verifyReference: true, acceptedReferences: ["`+h+`/dev/*"]}}
- {pattern: "`+h+`/legacy/**", validator: signed}
`)
	testutil.CopyWithSignatures(t, dev, h+"/legacy/app")
	tests := []struct {
		image     string
		outcome   verify.Outcome
		reasonHas string
	}{
		{image: h + "/dev/debug-shell:v1", outcome: verify.Verified},
		{image: h + "/dev/debug-shell@" + dev.DigestStr(), outcome: verify.Verified},
		{image: h + "/prod/app@" + dev.DigestStr(), outcome: verify.Failed, reasonHas: "1 signature(s) found"},
		{image: h + "/mirror/dev/debug-shell@" + dev.DigestStr(), outcome: verify.Verified},
		{image: h + "/legacy/app@" + dev.DigestStr(), outcome: verify.Verified}, // cosign's default: not checked
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			t.Parallel()
			d := eng.Evaluate(context.Background(), tc.image)
			if d.Outcome != tc.outcome {
				t.Fatalf("outcome=%s, want %s; reason: %s; checks: %+v", d.Outcome, tc.outcome, d.Reason, d.Checks)
			}
			if tc.reasonHas != "" && !strings.Contains(d.Reason, tc.reasonHas) {
				t.Errorf("reason %q does not contain %q", d.Reason, tc.reasonHas)
			}
			if tc.outcome == verify.Failed {
				found := false
				for _, c := range d.Checks {
					found = found || strings.Contains(c.Reason, "/dev/debug-shell, not "+h+"/prod/app (verifyReference)")
				}
				if !found {
					t.Errorf("no check names the signed repository: %+v", d.Checks)
				}
			}
		})
	}
}
