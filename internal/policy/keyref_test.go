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

type secretMap map[string]map[string][]byte

func (m secretMap) Get(_ context.Context, ns, name string) (map[string][]byte, error) {
	return m[ns+"/"+name], nil
}

// TestKeyReferences: trust roots whose keys live in a Secret or a KMS are
// resolved at verification time; one that cannot be resolved makes the
// verification inconclusive, and the policy still loads.
func TestKeyReferences(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	testutil.SignLegacy(t, img, key)
	y := func(ref string) string {
		return `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: [` + reg.Host + `]
validators:
- name: default
  type: cosign
  trustRoots: [{name: ci, key: "` + ref + `"}]
rules: [{pattern: "**"}]
`
	}
	secrets := secretMap{"signet/cosign": {"cosign.pub": []byte(key.PEM)}}
	tests := []struct {
		ref    string
		opts   []policy.CompileOption
		want   verify.Outcome
		wantIn string
	}{
		{ref: "k8s://signet/cosign", opts: []policy.CompileOption{policy.WithKeySecrets(secrets)}, want: verify.Verified},
		{ref: "k8s://signet/cosign", want: verify.Inconclusive, wantIn: "--kubeconfig"},
		{ref: "hashivault://signet", want: verify.Inconclusive, wantIn: "no KMS provider"},
	}
	for _, tc := range tests {
		doc, err := policy.Parse([]byte(y(tc.ref)))
		if err != nil {
			t.Fatal(err)
		}
		eng, err := policy.Compile(doc, registry.MustNew(), tc.opts...)
		if err != nil {
			t.Fatal(err)
		}
		d := eng.Evaluate(context.Background(), img.String())
		if d.Outcome != tc.want || !strings.Contains(d.Reason, tc.wantIn) {
			t.Errorf("%s: outcome %s (%s), want %s with %q", tc.ref, d.Outcome, d.Reason, tc.want, tc.wantIn)
		}
	}
}
