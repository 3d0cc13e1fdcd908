// Package static decides by policy alone: a static validator approves or
// denies every image its rules match, without touching the network. It is
// the allow-list for images signet cannot or need not verify, and the
// explicit deny-list for everything else.
package static

import (
	"context"

	"github.com/signet-dev/signet/internal/verify"
)

// Verifier approves or denies unconditionally.
type Verifier struct{ approve bool }

// New returns a Verifier that approves when approve is true.
func New(approve bool) *Verifier { return &Verifier{approve: approve} }

// Approves reports whether the verifier approves.
func (v *Verifier) Approves() bool { return v.approve }

// Verify implements verify.Verifier.
func (v *Verifier) Verify(context.Context, verify.Image) (*verify.Result, error) {
	if v.approve {
		return &verify.Result{}, nil
	}
	return &verify.Result{}, verify.Failf("denied by a static deny rule")
}
