package cosign

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// keyFingerprinter is a KeySource that names the key it resolves now
// (keysource.Source).
type keyFingerprinter interface {
	Fingerprint(ctx context.Context) (string, error)
}

// MaterialFingerprint implements verify.MaterialFingerprinter: the
// fingerprints of the keys resolved at verification time (Secrets, KMS)
// and of the Sigstore trusted root in use when it can change (a file, TUF),
// "" when everything the verifier trusts is in the policy. A key or trusted
// root that cannot be had now is an error.
func (v *Verifier) MaterialFingerprint(ctx context.Context) (string, error) {
	var parts []string
	keyless := false
	for _, r := range v.roots {
		switch {
		case r.Identity != nil:
			keyless = true
		case r.KeyRef != nil:
			fp, err := keyRefFingerprint(ctx, r.KeyRef)
			if err != nil {
				return "", fmt.Errorf("trust root %q: key %s: %w", r.Name, r.KeyRef, err)
			}
			parts = append(parts, r.Name+"="+fp)
		}
	}
	if f, ok := v.opts.Material.(fingerprinted); ok && keyless {
		fp, err := f.Fingerprint(ctx)
		if err != nil {
			return "", err
		}
		parts = append(parts, "sigstore="+fp)
	}
	return strings.Join(parts, ","), nil
}

// keyRefFingerprint names the key ks resolves now. A KeySource that cannot
// name its key gets no cached results (an error), never stale ones.
func keyRefFingerprint(ctx context.Context, ks KeySource) (string, error) {
	f, ok := ks.(keyFingerprinter)
	if !ok {
		return "", errors.New("the key cannot be fingerprinted")
	}
	return f.Fingerprint(ctx)
}
