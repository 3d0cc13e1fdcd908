package policy

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/signet-dev/signet/internal/verify"
)

// distinctRoots reports a trust root that holds what another trust root
// of the same validator already holds: one signer under two names would
// count twice toward a threshold. The quorum counts one signer once
// whatever the policy says (verify.Quorum); a policy that says otherwise is
// rejected, so that its author learns it. Keys are compared by their PKIX
// DER encoding, however they were written; keys held elsewhere (k8s://,
// KMS) by their reference, as their content is known only when a
// verification loads them.
type distinctRoots struct {
	f    string         // the validator's field path
	seen map[string]int // what a trust root holds → its index
}

func newDistinctRoots(f string) *distinctRoots {
	return &distinctRoots{f: f, seen: map[string]int{}}
}

// check reports trust root j, at field, when it holds what an earlier
// root holds; what describes it for the message.
func (d *distinctRoots) check(j int, field, what, holds string, p *problems) {
	if k, dup := d.seen[holds]; dup {
		p.add(fmt.Sprintf("%s.trustRoots[%d].%s", d.f, j, field),
			"%s as %s.trustRoots[%d]: one signer under two names would count twice toward a threshold (give each signer one trust root)", what, d.f, k)
		return
	}
	d.seen[holds] = j
}

// key checks an inline public key.
func (d *distinctRoots) key(j int, pub crypto.PublicKey, p *problems) {
	if id, err := verify.KeySigner(pub); err == nil {
		d.check(j, "key", "the same public key", id, p)
	}
}

// keyRef checks a key held elsewhere, by its reference.
func (d *distinctRoots) keyRef(j int, ref string, p *problems) {
	d.check(j, "key", "the same key reference", "ref "+ref, p)
}

// keyless checks a keyless identity.
func (d *distinctRoots) keyless(j int, k *Keyless, p *problems) {
	d.check(j, "keyless", "the same keyless identity",
		fmt.Sprintf("keyless %q %q %q %q", k.Issuer, k.IssuerRegex, k.Subject, k.SubjectRegex), p)
}

// cas checks a set of CA certificates (order and repetition aside).
func (d *distinctRoots) cas(j int, certs []*x509.Certificate, p *problems) {
	var sums []string
	for _, c := range certs {
		s := sha256.Sum256(c.Raw)
		sums = append(sums, hex.EncodeToString(s[:]))
	}
	slices.Sort(sums)
	d.check(j, "cert", "the same CA certificates", "cas "+strings.Join(slices.Compact(sums), ","), p)
}
