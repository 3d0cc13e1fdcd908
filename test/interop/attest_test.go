package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/harness"
)

// attestFormat is one way the real cosign CLIs store attestations, with the
// registry it is tested on.
type attestFormat struct {
	name     string
	registry func(testing.TB) *harness.Proc
	cosign   string // the tool: cosign2 or cosign3
	// source is how the verifier names where an attestation was found.
	source string
	// rewrites is whether the test may replace what cosign stored (the
	// .att tag, or referrers through the referrers API).
	rewrites bool
	// flags are added to every sign and attest.
	flags []string
}

var attestFormats = []attestFormat{
	{"cosign v2 attest, legacy .att tag", harness.StartDistribution, "cosign2", ".att#", true, nil},
	{"cosign v3 attest, bundle via the referrers API", harness.StartReferrersRegistry, "cosign3", "referrer sha256:", true, nil},
	{"cosign v3 attest, bundle via the referrers tag schema", harness.StartDistribution, "cosign3", "referrer sha256:", false, nil},
	{"cosign v2 attest --new-bundle-format, bundle via the referrers tag schema", harness.StartDistribution, "cosign2", "referrer sha256:", false, []string{"--new-bundle-format"}},
}

// attestor runs the real cosign of a format with keys, offline.
type attestor struct {
	f   attestFormat
	c   *harness.Cosign
	bin string
}

func newAttestor(t *testing.T, f attestFormat) *attestor {
	a := &attestor{f: f, c: harness.NewCosign(t), bin: harness.Tool(t, f.cosign)}
	if f.cosign == "cosign3" {
		a.c.Run(t, a.bin, "signing-config", "create", "--out", "empty-signing-config.json")
	}
	return a
}

// offline are the flags that keep cosign off any transparency log, on a
// plain-HTTP loopback registry.
func (a *attestor) offline() []string {
	f := append([]string{"--allow-insecure-registry", "--allow-http-registry"}, a.f.flags...)
	if a.f.cosign == "cosign3" {
		return append(f, "--signing-config", "empty-signing-config.json")
	}
	return append(f, "--tlog-upload=false")
}

func (a *attestor) sign(key string, img name.Digest) error {
	_, err := a.c.Try(a.bin, append(append([]string{"sign", "--key", key}, a.offline()...), img.String())...)
	return err
}

func (a *attestor) attest(key, predicate, typ string, img name.Digest) error {
	_, err := a.c.Try(a.bin, append(append([]string{"attest", "--key", key, "--predicate", predicate, "--type", typ}, a.offline()...), img.String())...)
	return err
}

// step is one cosign run on an image.
type step func() error

// runImages runs each image's steps in order, the images concurrently
// (cosign rewrites an image's .att tag and referrers tag index in place, so
// one image's steps must not overlap).
func runImages(t *testing.T, images ...[]step) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(images))
	for i, steps := range images {
		wg.Go(func() {
			for _, s := range steps {
				if errs[i] = s(); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// requirement is one entry of with.attestations, as YAML flow mappings.
type requirement struct {
	name, typ, extra string
	conditions       [][2]string // expression, message
}

func (r requirement) yaml() string {
	var b strings.Builder
	fmt.Fprintf(&b, "    - name: %s\n      type: %q\n", r.name, r.typ)
	if r.extra != "" {
		fmt.Fprintf(&b, "      %s\n", r.extra)
	}
	if len(r.conditions) > 0 {
		b.WriteString("      conditions:\n")
		for _, c := range r.conditions {
			fmt.Fprintf(&b, "      - expression: %q\n", c[0])
			if c[1] != "" {
				fmt.Fprintf(&b, "        message: %q\n", c[1])
			}
		}
	}
	return b.String()
}

// attestationPolicy is a policy whose rule for pattern verifies signatures
// with key ci and requires reqs, signed by ci unless an entry says
// otherwise; extraRoots are more trust roots of the validator.
func attestationPolicy(pattern, ciPEM string, reqs ...requirement) string {
	var b strings.Builder
	b.WriteString(cosignPolicy(pattern, map[string]string{"ci": ciPEM}, ""))
	b.WriteString("  with:\n    trustRoot: ci\n    attestations:\n")
	for _, r := range reqs {
		b.WriteString(r.yaml())
	}
	return b.String()
}

// Requirements that hold for the fixtures of writePredicates, one per
// predicate kind.
var holding = []requirement{
	{name: "prov02", typ: "slsaprovenance02", conditions: [][2]string{
		{`predicate.builder.id == "` + ciBuilder + `"`, "built by the CI builder"},
		{`predicate.invocation.configSource.uri.startsWith("git+https://git.example/acme/")`, "built from an acme repository"},
	}},
	{name: "prov1", typ: "slsaprovenance1", conditions: [][2]string{
		{`predicate.runDetails.builder.id == "` + ciBuilder + `"`, "built by the CI builder"},
		{`url(predicate.buildDefinition.externalParameters.repository).getHost() == "git.example"`, "built from git.example"},
	}},
	{name: "sbom", typ: "cyclonedx", conditions: [][2]string{
		{`predicate.bomFormat == "CycloneDX" && predicate.metadata.component.name == "github.com/signet-dev/signet"`, "an SBOM of signet"},
		{`predicate.components.exists(c, c.name == "github.com/google/go-containerregistry")`, "lists go-containerregistry"},
		{`!predicate.components.exists(c, c.name.matches("^github.com/evil/"))`, "no evil modules"},
	}},
	{name: "spdx", typ: "spdxjson", conditions: [][2]string{
		{`predicate.spdxVersion == "SPDX-2.3" && predicate.packages.size() > 10`, "an SPDX 2.3 document"},
	}},
	{name: "scan", typ: "vuln", conditions: [][2]string{
		{`predicate.scanner.result.summary.critical == 0`, "no critical vulnerabilities"},
		{`timestamp(predicate.metadata.scanFinishedOn) > now - duration("168h")`, "scanned in the last 7 days"},
	}},
	{name: "vex", typ: "openvex", conditions: [][2]string{
		{`predicate.statements.all(s, s.status in ["not_affected", "fixed"])`, "nothing affected"},
	}},
	{name: "custom", typ: customType, conditions: [][2]string{
		{`predicate.approved == true && signer.trustRoot == "ci"`, "approved"},
		{`statement.subject.exists(s, "sha256:" + s.digest.sha256 == image.digest) && image.repository.startsWith("demo/")`, "about this image"},
	}},
}

// TestAttestations attaches attestations of every predicate kind with the
// real cosign v2 and v3 CLIs and keys, and checks what the built signet
// binary decides and reports.
func TestAttestations(t *testing.T) {
	t.Parallel()
	preds := writePredicates(t)
	for _, f := range attestFormats {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			testAttestFormat(t, f, preds)
		})
	}
}

func testAttestFormat(t *testing.T, f attestFormat, preds *predicates) {
	reg := f.registry(t)
	h := reg.Host
	a := newAttestor(t, f)
	ci, ciPub := a.c.GenKey(t, a.bin, "ci")
	rogue, _ := a.c.GenKey(t, a.bin, "rogue")
	push := func(tag string) name.Digest { return harness.Push(t, h, "demo/att:"+tag) }
	good, two, untrusted, tampered, copied := push("good"), push("two"), push("untrusted"), push("tampered"), push("copied")
	attestAll := []step{func() error { return a.sign(ci, good) }}
	for _, n := range []string{"prov02", "prov1", "sbom", "spdx", "vuln", "vex", "custom"} {
		attestAll = append(attestAll, func() error { return a.attest(ci, preds.path(n), cosignType(n), good) })
	}
	runImages(t, attestAll,
		[]step{
			func() error { return a.sign(ci, two) },
			func() error { return a.attest(ci, preds.path("vuln-critical"), "vuln", two) },
			func() error { return a.attest(ci, preds.path("vuln"), "vuln", two) },
		},
		[]step{
			func() error { return a.sign(ci, untrusted) },
			func() error { return a.attest(rogue, preds.path("prov1"), "slsaprovenance1", untrusted) },
		},
		[]step{
			func() error { return a.sign(ci, tampered) },
			func() error { return a.attest(ci, preds.path("prov1-other"), "slsaprovenance1", tampered) },
		},
		[]step{func() error { return a.sign(ci, copied) }},
	)
	// cosign v3 signs an image with a statement of its own type, which is
	// no attestation.
	stored := slices.DeleteFunc(storedStatements(t, good), func(s statement) bool { return s.PredicateType == "https://sigstore.dev/cosign/sign/v1" })
	if len(stored) != 7 {
		t.Fatalf("%s carries %d statements, want 7", good, len(stored))
	}
	pattern := h + "/demo/**"

	t.Run("every predicate kind, conditions hold", func(t *testing.T) {
		t.Parallel()
		code, ds, se := signet(t, attestationPolicy(pattern, ciPub, holding...), good.String())
		d := one(t, ds)
		expect(t, code, d, se, 0, verify.Verified, good.DigestStr())
		if len(d.Attestations) != len(holding) {
			t.Fatalf("%d attestation results, want %d: %+v", len(d.Attestations), len(holding), d.Attestations)
		}
		for i, r := range d.Attestations {
			if r.Name != holding[i].name || r.Outcome != verify.Verified || strings.Join(r.Signers, ",") != "ci" || !strings.Contains(r.Source, f.source) {
				t.Errorf("requirement %d: %+v", i, r)
			}
			// The statement named is the one cosign stored for the type.
			if !slices.ContainsFunc(stored, func(s statement) bool { return s.Digest == r.Statement && s.PredicateType == r.Type }) {
				t.Errorf("requirement %s: statement %s of type %s is none of the image's", r.Name, r.Statement, r.Type)
			}
		}
	})

	t.Run("conditions that fail name their message", func(t *testing.T) {
		t.Parallel()
		p := attestationPolicy(pattern, ciPub,
			requirement{name: "built-by-release", typ: "slsaprovenance1", conditions: [][2]string{{`predicate.runDetails.builder.id == "https://release.example/builder"`, "built by the release builder"}}},
			holding[4],
			requirement{name: "no-high", typ: "vuln", conditions: [][2]string{{`predicate.scanner.result.summary.critical == 0`, ""}, {`predicate.scanner.result.summary.high == 0`, ""}}},
		)
		code, ds, se := signet(t, p, good.String())
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, good.DigestStr())
		want := []struct {
			outcome verify.Outcome
			reason  string
		}{
			{verify.Failed, "built by the release builder"},
			{verify.Verified, `requirement "scan" met by vuln attestation`},
			// No message: the expression is quoted.
			{verify.Failed, "predicate.scanner.result.summary.high == 0"},
		}
		for i, w := range want {
			r := d.Attestations[i]
			if r.Outcome != w.outcome || !strings.Contains(r.Reason, w.reason) {
				t.Errorf("requirement %s: %s %q, want %s containing %q", r.Name, r.Outcome, r.Reason, w.outcome, w.reason)
			}
		}
		if !strings.Contains(d.Reason, "built by the release builder") || !strings.Contains(d.Reason, "no-high") || strings.Count(d.Reason, "built by the release builder") != 1 {
			t.Errorf("reason: %s", d.Reason)
		}
		// The text output lists each requirement with its outcome.
		code, out, _ := runSignetRaw(t, "verify", "--policy", writePolicy(t, p, good.String()), "--output", "text", good.String())
		for _, line := range []string{
			"✗ attestation built-by-release (https://slsa.dev/provenance/v1) failed: ",
			"✓ attestation scan (https://cosign.sigstore.dev/attestation/vuln/v1) verified: ",
			"✗ attestation no-high (https://cosign.sigstore.dev/attestation/vuln/v1) failed: ",
		} {
			if code != 1 || !strings.Contains(out, line) {
				t.Errorf("exit %d, text output lacks %q:\n%s", code, line, out)
			}
		}
	})

	t.Run("a predicate without the field a condition reads fails the condition", func(t *testing.T) {
		t.Parallel()
		code, ds, se := signet(t, attestationPolicy(pattern, ciPub, requirement{name: "finished", typ: "slsaprovenance1", conditions: [][2]string{
			{`predicate.runDetails.metadata.finishedOn != ""`, "records when the build finished"}}}), good.String())
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, good.DigestStr())
		if r := d.Attestations[0]; !strings.Contains(r.Reason, "records when the build finished") || !strings.Contains(r.Reason, "no such key") {
			t.Errorf("reason: %s", r.Reason)
		}
	})

	t.Run("two attestations of one type, only the second holds", func(t *testing.T) {
		t.Parallel()
		code, ds, se := signet(t, attestationPolicy(pattern, ciPub, holding[4]), two.String())
		d := one(t, ds)
		expect(t, code, d, se, 0, verify.Verified, two.DigestStr())
		var clean string
		for _, s := range storedStatements(t, two) {
			if s.PredicateType == d.Attestations[0].Type && s.Predicate["scanner"].(map[string]any)["result"].(map[string]any)["summary"].(map[string]any)["critical"] == 0.0 {
				clean = s.Digest
			}
		}
		if d.Attestations[0].Statement != clean || clean == "" {
			t.Errorf("satisfied by %s, want the clean scan %s", d.Attestations[0].Statement, clean)
		}
		// Neither meets a condition both fail: each is named with its
		// first failing condition.
		code, ds, se = signet(t, attestationPolicy(pattern, ciPub, requirement{name: "scan", typ: "vuln", conditions: [][2]string{
			{`predicate.scanner.result.summary.high == 0`, "no high vulnerabilities"}}}), two.String())
		d = one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, two.DigestStr())
		if r := d.Attestations[0].Reason; strings.Count(r, "no high vulnerabilities") != 2 {
			t.Errorf("reason does not name both attestations: %s", r)
		}
	})

	t.Run("an attestation signed by an untrusted key does not count", func(t *testing.T) {
		t.Parallel()
		code, ds, se := signet(t, attestationPolicy(pattern, ciPub, holding[1]), untrusted.String())
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, untrusted.DigestStr())
		if r := d.Attestations[0].Reason; !strings.Contains(r, `no slsaprovenance1 attestation of `+untrusted.DigestStr()+` signed by validator "signed" [ci]`) {
			t.Errorf("reason: %s", r)
		}
	})

	t.Run("a requirement whose key cannot be loaded is inconclusive", func(t *testing.T) {
		t.Parallel()
		// Signatures verify; the attestation's validator names a KMS key
		// that cannot be reached.
		p := attestationPolicy(pattern, ciPub, requirement{name: "prov1", typ: "slsaprovenance1", extra: "validator: kms"})
		p = strings.Replace(p, "rules:\n", "- name: kms\n  type: cosign\n  trustRoots: [{name: vault, key: \"hashivault://signet\"}]\nrules:\n", 1)
		cmd := exec.Command(harness.Bin(t, "signet"), "verify", "--policy", writePolicy(t, p, good.String()), "--output", "json", "--timeout", "5s", good.String())
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir(), "HOME="+t.TempDir(), "VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN=test")
		code, out, se := harness.ExitCode(t, cmd)
		if code != 3 || !strings.Contains(out, `"outcome": "inconclusive"`) || !strings.Contains(out, "hashivault://signet") {
			t.Errorf("exit %d, want 3 (inconclusive) naming the key\n%s\n%s", code, out, se)
		}
	})

	if !f.rewrites {
		return
	}
	t.Run("a tampered payload does not verify", func(t *testing.T) {
		t.Parallel()
		// The statement's builder is rewritten to the one the policy asks
		// for; the signature no longer verifies.
		tamperAttestations(t, tampered, func(p []byte) []byte {
			return []byte(strings.Replace(string(p), otherBuilder, ciBuilder, 1))
		})
		code, ds, se := signet(t, attestationPolicy(pattern, ciPub, holding[1]), tampered.String())
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, tampered.DigestStr())
		if r := d.Attestations[0].Reason; !strings.Contains(r, "no slsaprovenance1 attestation of") || !strings.Contains(r, "does not verify") {
			t.Errorf("reason: %s", r)
		}
		t.Log(d.Attestations[0].Reason)
	})

	t.Run("attestations copied from another image do not count", func(t *testing.T) {
		t.Parallel()
		copyAttestations(t, good, copied)
		code, ds, se := signet(t, attestationPolicy(pattern, ciPub, holding...), copied.String())
		d := one(t, ds)
		expect(t, code, d, se, 1, verify.Failed, copied.DigestStr())
		for _, r := range d.Attestations {
			if r.Outcome != verify.Failed || !strings.Contains(r.Reason, "attestation of "+copied.DigestStr()) {
				t.Errorf("requirement %s: %s %s", r.Name, r.Outcome, r.Reason)
			}
		}
		t.Log(d.Attestations[1].Reason)
	})
}

// writePolicy writes a policy (with the loopback registries listed as
// insecure) to a file of the test's.
func writePolicy(t *testing.T, policyYAML string, images ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(p, []byte(harness.ListInsecure(policyYAML, images...)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAttestationPolicyErrors: a policy whose attestation requirements are
// wrong is refused at load, exit 2, naming the field.
func TestAttestationPolicyErrors(t *testing.T) {
	t.Parallel()
	key := strings.ReplaceAll(strings.TrimSpace(testutil.NewKey(t).PEM), "\n", "\n      ")
	base := validPrefix + "validators:\n- {name: allow, type: static, approve: true}\n- name: signed\n  type: cosign\n  trustRoots:\n  - name: ci\n    key: |\n      " + key + "\nrules:\n- pattern: \"**\"\n  validator: signed\n  with:\n    attestations:\n"
	ok := requirement{name: "ok", typ: "vuln", conditions: [][2]string{{"predicate.scanner.result.summary.critical == 0", ""}}}
	const second = "rules[0].with.attestations[1]"
	for _, tc := range []struct {
		name string
		req  requirement
		want string
	}{
		{"expensive expression", requirement{name: "x", typ: "cyclonedx", conditions: [][2]string{{
			"predicate.components.all(a, predicate.components.all(b, predicate.components.all(c, a.name != b.name || b.name == c.name)))", ""}}},
			"rules[0].with.attestations[0].conditions[0].expression: estimated cost"},
		{"syntax error", requirement{name: "x", typ: "vuln", conditions: [][2]string{{"predicate.scanner ==", ""}}}, second + ".conditions[0].expression: ERROR: <input>:1:21: Syntax error"},
		{"unknown variable", requirement{name: "x", typ: "vuln", conditions: [][2]string{{"true", ""}, {"scan.critical == 0", ""}}}, second + ".conditions[1].expression: ERROR: <input>:1:1: undeclared reference to 'scan'"},
		{"not a bool", requirement{name: "x", typ: "vuln", conditions: [][2]string{{`"critical"`, ""}}}, second + ".conditions[0].expression: must evaluate to a bool, not string"},
		{"unknown predicate type", requirement{name: "x", typ: "provenance"}, second + `.type: predicate type "provenance" is neither`},
		{"no name", requirement{typ: "vuln"}, second + ".name: is required"},
		{"duplicate name", requirement{name: "ok", typ: "vuln"}, second + `.name: duplicate requirement name "ok"`},
		{"static validator", requirement{name: "x", typ: "vuln", extra: "validator: allow"}, second + `.validator: validator "allow" is static`},
		{"unknown validator", requirement{name: "x", typ: "vuln", extra: "validator: nobody"}, second + `.validator: unknown validator "nobody"`},
		{"unknown trust root", requirement{name: "x", typ: "vuln", extra: "trustRoot: nobody"}, second + ".trustRoot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := filepath.Join(t.TempDir(), "policy.yaml")
			reqs := ok.yaml() + tc.req.yaml()
			if strings.Contains(tc.want, "attestations[0]") {
				reqs = tc.req.yaml()
			}
			os.WriteFile(p, []byte(base+reqs), 0o600)
			code, _, stderr := runSignet(t, "verify", "--policy", p, "registry.example/app:v1")
			if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "panic") {
				t.Errorf("exit %d, want 2 with %q; stderr: %s", code, tc.want, stderr)
			}
		})
	}
}
