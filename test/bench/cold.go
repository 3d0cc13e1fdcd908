package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/signet-dev/signet/internal/fixture"
)

// The cold admission case: admissions of images signet has never seen,
// each in a repository of its own (as a cluster rolling out new workloads
// sees them), one at a time on one kept-alive HTTPS connection. Each
// variant is a set of images signed the same way; the attestation variant
// carries what cosign v2 `attest` writes for two predicates.

// coldVariant is one kind of signed image of the cold admission case.
type coldVariant struct {
	// id names the variant's repositories (cold/<id>/<n>/app) and rule.
	id string
	// what describes it in the report.
	what string
	// sign signs the pushed image.
	sign func(img name.Digest, key *fixture.Key, opts ...remote.Option) error
	// with is the variant's rule's `with:` block (YAML, indented under
	// it), and fallback the block used when signet rejects it (a build
	// without the fields it uses).
	with, fallback string
}

// Predicate types of the attestation variant, as cosign v2 `attest
// --type slsaprovenance1` and `--type vuln` write them.
const (
	slsaProvenance1 = "https://slsa.dev/provenance/v1"
	cosignVuln      = "https://cosign.sigstore.dev/attestation/vuln/v1"
	benchBuilder    = "https://ci.bench.example/builder"
)

func coldVariants() []coldVariant {
	star := "\n    trustRoot: \"*\""
	return []coldVariant{
		{id: "sig", what: "one key signature (legacy `.sig`)", sign: fixture.SignLegacy, with: star},
		{
			id: "bundle", what: "one key signature (cosign v3 bundle, OCI 1.1 referrer)", with: star,
			sign: func(img name.Digest, key *fixture.Key, _ ...remote.Option) error {
				_, err := fixture.AttachBundle(img, key, fixture.Statement(img, fixture.SignPredicateType))
				return err
			},
		},
		{
			id: "att", what: "one key signature (legacy `.sig`) and two attestations (legacy `.att`: SLSA provenance v1, vuln)",
			sign: func(img name.Digest, key *fixture.Key, _ ...remote.Option) error {
				if err := fixture.SignLegacy(img, key); err != nil {
					return err
				}
				return attestLegacy(img, key, map[string]any{
					slsaProvenance1: slsaPredicate(),
					cosignVuln:      vulnPredicate(),
				})
			},
			with: star + attestationRequirements, fallback: star,
		},
		{
			id: "bundle-att", what: "one key signature and two attestations (cosign v3 bundles, OCI 1.1 referrers: SLSA provenance v1, vuln)",
			sign: func(img name.Digest, key *fixture.Key, _ ...remote.Option) error {
				if _, err := fixture.AttachBundle(img, key, fixture.Statement(img, fixture.SignPredicateType)); err != nil {
					return err
				}
				return attestBundles(img, key, map[string]any{
					slsaProvenance1: slsaPredicate(),
					cosignVuln:      vulnPredicate(),
				})
			},
			with: star + attestationRequirements, fallback: star,
		},
	}
}

// attestationRequirements are the attestation variants' requirements
// (issue 15's spelling), a rule's `with:` fields.
const attestationRequirements = `
    attestations:
    - name: built-by-ci
      type: slsaprovenance1
      conditions:
      - expression: 'predicate.runDetails.builder.id == "` + benchBuilder + `"'
        message: built by the bench CI builder
    - name: no-criticals
      type: vuln
      conditions:
      - expression: 'predicate.scanner.result.summary.critical == 0'`

// coldRules returns the policy rules of the cold variants for registry
// host, each naming validator: with its attestation requirements when
// `signet policy lint` accepts them, else its fallback (the variant then
// measures what that build verifies). It also returns, per variant id,
// whether the fallback was used.
func coldRules(bin, dir, head, host, validator string) (string, map[string]bool, error) {
	var rules strings.Builder
	fellBack := map[string]bool{}
	for _, v := range coldVariants() {
		rule := func(with string) string {
			return fmt.Sprintf("- pattern: %q\n  validator: %s\n  with:%s\n", host+"/cold/"+v.id+"/**", validator, with)
		}
		r := rule(v.with)
		if v.fallback != "" {
			f := filepath.Join(dir, "lint-"+v.id+".yaml")
			if err := os.WriteFile(f, []byte(head+"rules:\n"+r), 0o600); err != nil {
				return "", nil, err
			}
			if out, err := exec.Command(bin, "policy", "lint", f).CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: this signet does not accept the variant's requirements, measuring without them: %s\n", v.id, strings.TrimSpace(string(out)))
				r, fellBack[v.id] = rule(v.fallback), true
			}
		}
		rules.WriteString(r)
	}
	return rules.String(), fellBack, nil
}

// coldImage is the reference of the n-th image of variant id.
func coldImage(host, id string, n int) string {
	return fmt.Sprintf("%s/cold/%s/%d/app:v1", host, id, n)
}

// pushCold pushes and signs n images of every variant.
func pushCold(host string, key *fixture.Key, n int) error {
	for _, v := range coldVariants() {
		for i := range n {
			d, err := fixture.PushImage(coldImage(host, v.id, i))
			if err != nil {
				return err
			}
			if err := v.sign(d, key); err != nil {
				return fmt.Errorf("signing %s (%s): %w", d, v.id, err)
			}
		}
	}
	return nil
}

// coldAdmission is the result of one variant.
type coldAdmission struct {
	variant  coldVariant
	fellBack bool
	stats    stats
	requests []int64
}

// measureCold admits the n images of every variant one after another
// (the variants in turn, so that the host's drift weighs on each alike)
// and records each admission's latency and the requests the registry
// served for it.
func measureCold(cl *client, reg *countingRegistry, n int, fellBack map[string]bool) ([]coldAdmission, error) {
	vs := coldVariants()
	lat := make([][]time.Duration, len(vs))
	reqs := make([][]int64, len(vs))
	for i := range n {
		for j, v := range vs {
			before := reg.requests.Load()
			d, ok, err := cl.admit(context.Background(), cl.review(coldImage(reg.host, v.id, i)))
			if err != nil || !ok {
				return nil, fmt.Errorf("cold admission (%s #%d): allowed=%v err=%v", v.id, i, ok, err)
			}
			lat[j] = append(lat[j], d)
			reqs[j] = append(reqs[j], reg.requests.Load()-before)
		}
	}
	out := make([]coldAdmission, len(vs))
	for j, v := range vs {
		out[j] = coldAdmission{variant: v, fellBack: fellBack[v.id], stats: summarise(lat[j], 0, 0, 0), requests: reqs[j]}
	}
	return out, nil
}

// keySigner signs DSSE envelopes with a fixture key (ECDSA P-256 over
// SHA-256, as cosign does with its own keys).
type keySigner struct{ key *fixture.Key }

func (s keySigner) Sign(_ context.Context, data []byte) ([]byte, error) { return s.key.Sign(data) }
func (s keySigner) KeyID() (string, error)                              { return "", nil }

// attestLegacy writes what cosign v2 `attest --key` writes for each
// predicate: an in-toto Statement about img in a DSSE envelope signed by
// key, one layer each of img's `sha256-<hex>.att` manifest, annotated
// with its predicateType.
func attestLegacy(img name.Digest, key *fixture.Key, predicates map[string]any) error {
	signer, err := dsse.NewEnvelopeSigner(keySigner{key})
	if err != nil {
		return err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	for pt, pred := range predicates {
		st, err := statement(img, pt, pred)
		if err != nil {
			return err
		}
		env, err := signer.SignPayload(context.Background(), "application/vnd.in-toto+json", st)
		if err != nil {
			return err
		}
		layer, err := json.Marshal(env)
		if err != nil {
			return err
		}
		if base, err = mutate.Append(base, mutate.Addendum{
			Layer:       static.NewLayer(layer, "application/vnd.dsse.envelope.v1+json"),
			Annotations: map[string]string{"dev.cosignproject.cosign/signature": "", "predicateType": pt},
		}); err != nil {
			return err
		}
	}
	tag := img.Context().Tag(strings.Replace(img.DigestStr(), ":", "-", 1) + ".att")
	return remote.Write(tag, base)
}

// statement is an in-toto Statement of predicate pred (of type pt) about
// img, as cosign writes it.
func statement(img name.Digest, pt string, pred any) ([]byte, error) {
	h, err := v1.NewHash(img.DigestStr())
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": pt,
		"subject":       []any{map[string]any{"name": img.Context().Name(), "digest": map[string]string{h.Algorithm: h.Hex}}},
		"predicate":     pred,
	})
}

// attestBundles attaches each predicate as cosign v3 `attest --key` does:
// an in-toto Statement about img in a DSSE envelope signed by key, in a
// Sigstore bundle attached as an OCI 1.1 referrer.
func attestBundles(img name.Digest, key *fixture.Key, predicates map[string]any) error {
	for pt, pred := range predicates {
		st, err := statement(img, pt, pred)
		if err != nil {
			return err
		}
		if _, err := fixture.AttachBundle(img, key, st); err != nil {
			return err
		}
	}
	return nil
}

func slsaPredicate() map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType":          "https://ci.bench.example/buildtypes/container@v1",
			"externalParameters": map[string]any{"repository": "https://git.bench.example/acme/app", "ref": "refs/heads/main"},
			"resolvedDependencies": []any{map[string]any{
				"uri": "git+https://git.bench.example/acme/app@refs/heads/main", "digest": map[string]string{"gitCommit": strings.Repeat("ab", 20)},
			}},
		},
		"runDetails": map[string]any{
			"builder":  map[string]any{"id": benchBuilder},
			"metadata": map[string]any{"invocationId": "bench-1", "startedOn": "2026-12-04T00:00:00Z", "finishedOn": "2026-12-04T00:05:00Z"},
		},
	}
}

func vulnPredicate() map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	return map[string]any{
		"invocation": map[string]any{"uri": "https://ci.bench.example/scan/1", "event_id": "1", "builder.id": benchBuilder},
		"scanner": map[string]any{
			"uri": "pkg:github/aquasecurity/trivy@0.58.0", "version": "0.58.0",
			"db":     map[string]any{"uri": "pkg:github/aquasecurity/trivy-db", "version": "2"},
			"result": map[string]any{"summary": map[string]int{"critical": 0, "high": 1, "medium": 3, "low": 7}},
		},
		"metadata": map[string]any{"scanStartedOn": now, "scanFinishedOn": now},
	}
}
