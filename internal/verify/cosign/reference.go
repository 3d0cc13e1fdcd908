package cosign

import (
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/verify"
)

// ReferenceCheck requires a signature to name the repository of the image
// it verifies: a signature made for registry.example/dev/debug-shell does
// not admit registry.example/prod/app at the same digest. Repositories are
// compared in signet's normalised form (imageref), so every spelling of a
// repository the runtime pulls identically compares equal.
//
// What a signature names:
//   - a legacy signature: the simple-signing payload's
//     critical.identity.docker-reference (cosign writes the repository it
//     signed; `cosign sign --sign-container-identity` overrides it);
//   - a Sigstore bundle: the name of the in-toto statement's subject that
//     carries the image digest. cosign's own bundles (v2
//     --new-bundle-format, v3) name no subject, so they cannot satisfy the
//     check.
type ReferenceCheck struct {
	// Accept, when set, accepts signatures naming another repository (a
	// mirror's upstream): it is given the normalised repository the
	// signature names.
	Accept func(repository string) bool
}

// accepts says why a signature naming the repositories signed (as
// written) does not verify repo, or "" when one of them is accepted.
func (c *ReferenceCheck) accepts(repo string, signed []string) string {
	if len(signed) == 0 {
		return "signature names no repository (cosign's bundle format signs the digest only; sign with --new-bundle-format=false, or drop verifyReference for this rule)"
	}
	var names []string
	for _, s := range signed {
		n, err := repositoryOf(s)
		if err == nil && (n == repo || c.Accept != nil && c.Accept(n)) {
			return ""
		}
		switch {
		case len(names) == maxNamed:
			names = append(names, fmt.Sprintf("… (%d names)", len(signed)))
		case len(names) > maxNamed:
		case err != nil:
			names = append(names, fmt.Sprintf("%q (%v)", truncate(s), err))
		default:
			names = append(names, n)
		}
	}
	return fmt.Sprintf("signature was made for %s, not %s (verifyReference)", strings.Join(names, ", "), repo)
}

// repositoryOf normalises a signed reference (repository, repository:tag
// or repository@digest) to its repository.
func repositoryOf(s string) (string, error) {
	r, err := imageref.Parse(s)
	if err != nil {
		return "", err
	}
	return r.Name(), nil
}

// Bounds on what a reason quotes of the names a signature carries: at
// most maxNamed names, and maxNamedLen bytes of an unparseable one.
const (
	maxNamed    = 4
	maxNamedLen = 256
)

func truncate(s string) string {
	if len(s) > maxNamedLen {
		return s[:maxNamedLen] + "…"
	}
	return s
}

// legacyReference is the repository a legacy signature's payload names.
func legacyReference(s legacySig) ([]string, error) {
	raw, err := s.sig.Payload()
	if err != nil {
		return nil, err
	}
	var p payload.SimpleContainerImage
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("payload is not a simple-signing document: %w", err)
	}
	if p.Critical.Identity.DockerReference == "" {
		return nil, nil
	}
	return []string{p.Critical.Identity.DockerReference}, nil
}

// bundleReferences are the names of a bundle's in-toto subjects that carry
// the image digest. The statement is read before the bundle is verified:
// a mismatch only ever rejects, and an accepted bundle is verified next.
func bundleReferences(b referrerBundle, hash v1.Hash) ([]string, error) {
	env, err := b.bundle.Envelope()
	if err != nil {
		return nil, fmt.Errorf("bundle carries no DSSE envelope: %w", err)
	}
	st, err := env.Statement()
	if err != nil {
		return nil, fmt.Errorf("bundle carries no in-toto statement: %w", err)
	}
	var out []string
	for _, s := range st.GetSubject() {
		if s.GetDigest()[hash.Algorithm] == hash.Hex && s.GetName() != "" {
			out = append(out, s.GetName())
		}
	}
	return out, nil
}

// legacyForRepository keeps the legacy signatures that name img's
// repository (or an accepted one) when the rule requires it, recording a
// failed check for each of the others.
func (v *Verifier) legacyForRepository(res *verify.Result, img verify.Image, sigs []legacySig) []legacySig {
	return forRepository(v.opts.Reference, res, img, sigs, func(s legacySig) (string, bool, []string, error) {
		if s.sig == nil {
			return s.source, false, nil, nil // reported as malformed
		}
		signed, err := legacyReference(s)
		return s.source, true, signed, err
	})
}

// bundlesForRepository is legacyForRepository for Sigstore bundles.
func (v *Verifier) bundlesForRepository(res *verify.Result, img verify.Image, hash v1.Hash, bundles []referrerBundle) []referrerBundle {
	return forRepository(v.opts.Reference, res, img, bundles, func(b referrerBundle) (string, bool, []string, error) {
		if b.bundle == nil {
			return b.source, false, nil, nil // reported as unreadable
		}
		signed, err := bundleReferences(b, hash)
		return b.source, true, signed, err
	})
}

// forRepository filters signatures by the repositories they name: names
// returns a signature's source, whether it is to be checked, and the
// repositories it names.
func forRepository[T any](c *ReferenceCheck, res *verify.Result, img verify.Image, sigs []T, names func(T) (string, bool, []string, error)) []T {
	if c == nil {
		return sigs
	}
	repo := imageRepository(img)
	out := sigs[:0:0]
	for _, s := range sigs {
		source, check, signed, err := names(s)
		reason := ""
		switch {
		case !check:
		case err != nil:
			reason = err.Error()
		default:
			reason = c.accepts(repo, signed)
		}
		if reason != "" {
			res.Add(verify.Check{Signature: source, Reason: reason})
			continue
		}
		out = append(out, s)
	}
	return out
}

// imageRepository is the normalised repository of the image verified.
func imageRepository(img verify.Image) string {
	if r, err := imageref.Parse(img.Ref.Context().Name()); err == nil {
		return r.Name()
	}
	return img.Ref.Context().Name()
}
