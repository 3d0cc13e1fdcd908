package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
)

// MaxPlatforms bounds the manifests of an image index signet verifies
// under with.platforms all or any-of: an index listing more is refused
// (failed) without verifying any. Each platform is a verification of its
// own (signatures, and attestations where required, fetched for its
// digest), all within one admission request's deadline. Released
// multi-platform images list a handful of platforms, twice as many entries
// with BuildKit's attestation manifests; 64 leaves room for them while
// keeping a hostile index of thousands from turning one admission into
// thousands of registry round trips. The entries are counted before they
// are decoded (registry.IndexManifests).
const MaxPlatforms = 64

// MaxPlatformsListed bounds the platforms one any-of lists.
const MaxPlatformsListed = 16

// PlatformConcurrency bounds the platform manifests of one image verified
// at once.
const PlatformConcurrency = 4

// PlatformIndex labels the index itself among the manifests verified
// (PlatformResult.Platform).
const PlatformIndex = "index"

// PlatformResult is the verification of one manifest of a multi-platform
// image under with.platforms all or any-of.
type PlatformResult struct {
	// Platform is os/arch[/variant] as the index lists it, PlatformIndex
	// for the index itself, "unknown" for a manifest the index gives no
	// platform.
	Platform string `json:"platform"`
	// Digest is the manifest's digest.
	Digest string `json:"digest"`
	// Outcome is verified, failed or inconclusive.
	Outcome verify.Outcome `json:"outcome"`
	// Reason says why when it is not verified.
	Reason string `json:"reason,omitempty"`
	// Signers, Attestations, Checks and Cached are the manifest's own.
	Signers      []string                   `json:"signers,omitempty"`
	Attestations []verify.AttestationResult `json:"attestations,omitempty"`
	Checks       []verify.Check             `json:"checks"`
	Cached       bool                       `json:"cached,omitempty"`
}

// MarshalJSON writes p as the policy does: a string, or {any-of: […]}.
func (p Platforms) MarshalJSON() ([]byte, error) {
	if p.Select != "" && p.AnyOf == nil {
		return json.Marshal(p.Select)
	}
	return json.Marshal(struct {
		AnyOf []string `json:"any-of"`
	}{p.AnyOf})
}

// UnmarshalJSON reads a string ("index", "all") or an object
// {any-of: […]}, strictly: an object with another field is an error.
func (p *Platforms) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) > 0 && b[0] == '"':
		*p = Platforms{}
		return json.Unmarshal(b, &p.Select)
	case len(b) > 0 && b[0] == '{':
		var o struct {
			AnyOf []string `json:"any-of"`
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&o); err != nil {
			return fmt.Errorf("decoding platforms: %w", err)
		}
		*p = Platforms{AnyOf: o.AnyOf}
		if p.AnyOf == nil {
			p.AnyOf = []string{}
		}
		return nil
	}
	return errors.New(`platforms must be a string ("index" or "all") or an object {any-of: [os/arch, …]}`)
}

// checkPlatformsShape is checkShape for with.platforms.
func checkPlatformsShape(v any, path string, p *problems) bool {
	switch x := v.(type) {
	case string:
		return true
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if k == "any-of" {
				continue
			}
			hint := ""
			if strings.EqualFold(strings.NewReplacer("-", "", "_", "").Replace(k), "anyof") {
				hint = ` (did you mean "any-of"?)`
			}
			p.addKey(join(path, k), "unknown field%s; platforms is \"index\", \"all\" or {any-of: [os/arch, …]}", hint)
			delete(x, k)
		}
		if l, ok := x["any-of"]; ok && !checkShape(l, reflect.TypeFor[[]string](), join(path, "any-of"), p) {
			delete(x, "any-of")
		}
		return true
	}
	p.add(path, `expected a string ("index" or "all") or an object {any-of: [os/arch, …]}, got %s`, jsonKind(v))
	return false
}

// platformRE is the spelling of a platform: os/arch[/variant], lower case
// as containerd and the OCI image spec write them.
var platformRE = regexp.MustCompile(`^[a-z0-9._-]+/[a-z0-9._-]+(/[a-z0-9._-]+)?$`)

// platformRule is a compiled with.platforms.
type platformRule struct {
	// all verifies the index and every platform manifest.
	all bool
	// anyOf are the platforms whose manifests must verify (normalised),
	// with their names as written.
	anyOf []v1.Platform
	names []string
}

// selects says whether the rule looks into an index: all or any-of.
func (r platformRule) selects() bool { return r.all || len(r.anyOf) > 0 }

// compilePlatforms checks with.platforms (f is the rule's field path).
func compilePlatforms(f string, w *Platforms, types []string, p *problems) (platformRule, bool) {
	var r platformRule
	if w == nil {
		return r, true
	}
	f += ".with.platforms"
	switch {
	case w.AnyOf == nil && w.Select == PlatformsIndex:
		return r, true
	case w.AnyOf == nil && w.Select == PlatformsAll:
		r.all = true
	case w.AnyOf == nil:
		p.add(f, `must be "index", "all" or {any-of: [os/arch, …]}, got %q`, w.Select)
		return r, false
	case len(w.AnyOf) == 0:
		p.add(f+".any-of", "lists no platform; name at least one (linux/amd64)")
		return r, false
	case len(w.AnyOf) > MaxPlatformsListed:
		p.add(f+".any-of", "lists %d platforms; at most %d (use \"all\" to verify every platform)", len(w.AnyOf), MaxPlatformsListed)
		return r, false
	}
	ok := true
	for k, s := range w.AnyOf {
		pf := fmt.Sprintf("%s.any-of[%d]", f, k)
		if !platformRE.MatchString(s) {
			p.add(pf, "%q is not a platform: os/arch or os/arch/variant in lower case (linux/amd64, linux/arm64, linux/arm/v7)", s)
			ok = false
			continue
		}
		pl, err := v1.ParsePlatform(s)
		if err != nil {
			p.add(pf, "%q is not a platform: %v", s, err)
			ok = false
			continue
		}
		n := normalisePlatform(*pl)
		if j := slices.IndexFunc(r.anyOf, func(o v1.Platform) bool { return o.Equals(n) }); j >= 0 {
			p.add(pf, "%q is the same platform as %q (any-of[%d])", s, r.names[j], j)
			ok = false
			continue
		}
		r.anyOf, r.names = append(r.anyOf, n), append(r.names, s)
	}
	for _, t := range types {
		if t != TypeCosign && t != TypeNotation {
			p.add(f, "applies to cosign and notation validators only: a %s validator does not verify platform manifests", t)
			return platformRule{}, false
		}
	}
	return r, ok
}

// normalisePlatform spells p as containerd compares platforms: arm64's
// variant v8 is its default and arm's v7 is, so linux/arm64/v8 is
// linux/arm64 and linux/arm is linux/arm/v7; amd64's v1 is its baseline.
func normalisePlatform(p v1.Platform) v1.Platform {
	switch {
	case p.Architecture == "arm64" && p.Variant == "v8",
		p.Architecture == "amd64" && p.Variant == "v1":
		p.Variant = ""
	case p.Architecture == "arm" && p.Variant == "":
		p.Variant = "v7"
	}
	return p
}

// unrunnable says whether an index entry is no platform's image: the
// attestation manifests BuildKit adds (platform unknown/unknown), which
// no runtime selects.
func unrunnable(d v1.Descriptor) bool {
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

// MaxIndexListings bounds the image indexes an engine remembers the
// manifests of (at most MaxPlatforms each, their digest and platform
// only: some 100 bytes apiece, so at most 2 MiB in all).
const MaxIndexListings = 256

// indexListings remembers what image indexes list, so that deciding on an
// index again (the next Pod of a Deployment) asks the registry nothing
// when the manifests' verifications are cached. A digest names its
// content forever, so an answer never goes stale; it is kept per
// credentials, like every registry answer, so a caller never learns an
// index through credentials that are not its own. A nil *indexListings
// remembers nothing.
type indexListings struct {
	lru *lru.Cache[string, []v1.Descriptor]
}

func newIndexListings() *indexListings {
	c, _ := lru.New[string, []v1.Descriptor](MaxIndexListings)
	return &indexListings{lru: c}
}

// manifests returns what fetch returns for index digest, remembered.
// Answers that are errors, and images (nil), are not remembered: an image
// costs nothing more than under with.platforms index.
func (l *indexListings) manifests(ctx context.Context, digest name.Digest, fetch func() ([]v1.Descriptor, error)) ([]v1.Descriptor, error) {
	if l == nil {
		return fetch()
	}
	key := digest.String() + "|" + registry.CredentialsID(ctx)
	if ms, ok := l.lru.Get(key); ok {
		return ms, nil
	}
	ms, err := fetch()
	if err != nil || ms == nil {
		return ms, err
	}
	kept := make([]v1.Descriptor, len(ms))
	for i, m := range ms {
		kept[i] = v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Platform: m.Platform}
	}
	l.lru.Add(key, kept)
	return kept, nil
}

// target is one manifest to verify.
type target struct {
	platform string
	digest   name.Digest
}

// targets returns the manifests rule verifies for digest: digest itself
// for an image (a single manifest); for an index, the index and every
// platform manifest (all) or the manifests of the listed platforms
// (any-of). A manifest the index gives no platform for is verified under
// both: a runtime may select it after reading its configuration. Nested
// indexes are verified by their digest, not looked into.
func (e *Engine) targets(ctx context.Context, rule *compiledRule, digest name.Digest) ([]target, error) {
	self := []target{{platform: "", digest: digest}}
	if !rule.platforms.selects() {
		return self, nil
	}
	ms, err := e.indexes.manifests(ctx, digest, func() ([]v1.Descriptor, error) {
		return registry.IndexManifests(ctx, digest, MaxPlatforms, e.reg.Options(ctx))
	})
	if tm, ok := errors.AsType[*registry.TooManyManifestsError](err); ok {
		return nil, &verify.FailedError{Reason: fmt.Sprintf("image index %s lists %d manifests; with.platforms verifies at most %d (MaxPlatforms): an index this large is refused", tm.Index, tm.Count, tm.Max), Err: tm}
	}
	if err != nil {
		return nil, registry.Classify(ctx, err, "reading the manifest of "+digest.String())
	}
	if ms == nil {
		return self, nil // an image: every choice is the manifest itself
	}
	var out []target
	if rule.platforms.all {
		out = append(out, target{platform: PlatformIndex, digest: digest})
	}
	entry := func(m v1.Descriptor) target {
		label := "unknown"
		if m.Platform != nil {
			label = m.Platform.String()
		}
		return target{platform: label, digest: digest.Context().Digest(m.Digest.String())}
	}
	var missing, have []string
	for i, want := range rule.platforms.anyOf {
		found := false
		for _, m := range ms {
			if m.Platform != nil && normalisePlatform(*m.Platform).Satisfies(want) {
				out, found = append(out, entry(m)), true
			}
		}
		if !found {
			missing = append(missing, rule.platforms.names[i])
		}
	}
	for _, m := range ms {
		switch {
		case unrunnable(m):
		case m.Platform == nil:
			out = append(out, entry(m))
		case rule.platforms.all:
			out = append(out, entry(m))
		}
		if m.Platform != nil && !unrunnable(m) {
			have = append(have, m.Platform.String())
		}
	}
	if len(missing) > 0 {
		return nil, &verify.FailedError{Reason: fmt.Sprintf("image index %s has no manifest for platform %s (it has %s)", digest.DigestStr(), strings.Join(missing, ", "), orNone(have))}
	}
	// A manifest listed twice (two platforms, or listed and without a
	// platform) is verified once.
	slices.SortStableFunc(out, func(a, b target) int { return strings.Compare(a.digest.DigestStr(), b.digest.DigestStr()) })
	out = slices.CompactFunc(out, func(a, b target) bool { return a.digest == b.digest })
	slices.SortStableFunc(out, func(a, b target) int {
		if (a.platform == PlatformIndex) != (b.platform == PlatformIndex) {
			if a.platform == PlatformIndex {
				return -1
			}
			return 1
		}
		return strings.Compare(a.platform, b.platform)
	})
	if len(out) == 0 {
		return nil, &verify.FailedError{Reason: fmt.Sprintf("image index %s lists no platform manifest", digest.DigestStr())}
	}
	return out, nil
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// verifyPlatforms verifies every target with rule's verifier, at most
// PlatformConcurrency at once, within ctx's deadline, and combines them:
// verified when all are; failed, naming each platform that failed, when
// any is; inconclusive otherwise. The result merges the targets' signers,
// checks and attestations; each target's own are in the PlatformResults.
func verifyPlatforms(ctx context.Context, rule *compiledRule, targets []target, tag string) (*verify.Result, []PlatformResult, error) {
	prs := make([]PlatformResult, len(targets))
	sem := make(chan struct{}, PlatformConcurrency)
	var wg sync.WaitGroup
	for i, tg := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr := &prs[i]
			pr.Platform, pr.Digest, pr.Checks = tg.platform, tg.digest.DigestStr(), []verify.Check{}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				pr.Outcome = verify.Inconclusive
				pr.Reason = "not verified before the deadline"
				return
			}
			defer func() { <-sem }()
			res, err := verifyOne(ctx, rule.verifier, verify.Image{Ref: tg.digest, Tag: tag})
			if res != nil {
				pr.Signers, pr.Attestations, pr.Cached = res.Signers, res.Attestations, res.Cached
				if res.Checks != nil {
					pr.Checks = res.Checks
				}
			}
			pr.Outcome = verify.Classify(err)
			if ctx.Err() != nil && pr.Outcome != verify.Verified {
				pr.Outcome = verify.Inconclusive
			}
			if err != nil {
				pr.Reason = err.Error()
			}
		}()
	}
	wg.Wait()
	res := &verify.Result{Cached: true}
	var failed, inconclusive []string
	for _, pr := range prs {
		for _, s := range pr.Signers {
			if !slices.Contains(res.Signers, s) {
				res.Signers = append(res.Signers, s)
			}
		}
		res.Checks = append(res.Checks, pr.Checks...)
		res.Attestations = append(res.Attestations, pr.Attestations...)
		res.Cached = res.Cached && pr.Cached
		what := fmt.Sprintf("platform %s (%s): %s", pr.Platform, pr.Digest, pr.Reason)
		if pr.Platform == PlatformIndex {
			what = fmt.Sprintf("the index (%s): %s", pr.Digest, pr.Reason)
		}
		switch pr.Outcome {
		case verify.Failed:
			failed = append(failed, what)
		case verify.Inconclusive:
			inconclusive = append(inconclusive, what)
		}
	}
	switch {
	case len(failed) > 0:
		return res, prs, &verify.FailedError{Reason: strings.Join(failed, "; ")}
	case len(inconclusive) > 0:
		return res, prs, &verify.InconclusiveError{Reason: strings.Join(inconclusive, "; ")}
	}
	return res, prs, nil
}

// verifyOne is v.Verify, a panic becoming an inconclusive error (the
// goroutines of verifyPlatforms are beyond Evaluate's recover).
func verifyOne(ctx context.Context, v verify.Verifier, img verify.Image) (res *verify.Result, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, &verify.InconclusiveError{Reason: fmt.Sprintf("internal error while verifying %s: %v", img.Ref, r)}
		}
	}()
	return v.Verify(ctx, img)
}

// platformNames lists the platforms verified, for reasons.
func platformNames(prs []PlatformResult) string {
	names := make([]string, len(prs))
	for i, pr := range prs {
		names[i] = pr.Platform
	}
	return strings.Join(names, ", ")
}
