package policy_test

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// refs returns the references of srcs, sorted, and fails when a Source is
// listed twice.
func refs(t *testing.T, srcs []*keysource.Source) []string {
	t.Helper()
	var out []string
	for i, s := range srcs {
		if slices.Contains(srcs[:i], s) {
			t.Errorf("%s listed twice", s)
		}
		out = append(out, s.String())
	}
	slices.Sort(out)
	return out
}

// TestKeySources: an engine lists the k8s:// and KMS keys of its rules'
// validators and of their attestation requirements, each reference once
// (trust roots naming the same key share its Source), and not the keys of
// validators no rule uses nor inline keys; CompileSet's engines list those
// of namespaced ImagePolicies too, and share one Source per reference
// across objects.
func TestKeySources(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	tests := []struct {
		name string
		objs []obj // one: Compile; several: CompileSet
		want []string
	}{
		{"Compile", []obj{cip("file", `validators:
- name: a
  type: cosign
  trustRoots:
  - {name: ci, key: "k8s://signet/a"}
  - {name: kms, key: "awskms:///alias/x"}
  - name: inline
    key: |
      `+testutil.Indent(key.PEM, 6)+`
- name: b
  type: cosign
  trustRoots: [{name: default, key: "k8s://signet/a"}]
- name: att
  type: cosign
  trustRoots: [{name: default, key: "hashivault://att"}]
- name: unused
  type: cosign
  trustRoots: [{name: default, key: "k8s://signet/unused"}]
- {name: allow, type: static, approve: true}
rules:
- {pattern: "a/**", validator: a, with: {trustRoot: "*"}}
- pattern: "b/**"
  validator: b
  with: {attestations: [{name: built, type: slsaprovenance1, validator: att}]}
- {pattern: "c/**", validator: allow}
`)}, []string{"awskms:///alias/x", "hashivault://att", "k8s://signet/a"}},
		{"CompileSet", []obj{
			cip("base", `validators: [{name: v, type: cosign, trustRoots: [{name: default, key: "k8s://signet/shared"}]}]
rules: [{pattern: "x/**", validator: v}, {pattern: "**", validator: namespace}]
`),
			cip("other", `validators: [{name: w, type: cosign, trustRoots: [{name: s, key: "k8s://signet/shared"}, {name: kms, key: "awskms:///alias/x"}]}]
rules: [{pattern: "y/**", validator: w, with: {trustRoot: "*"}}]
`),
			ip("team-a", "keys", `validators: [{name: default, type: cosign, trustRoots: [{name: k, key: "k8s://team-a/cosign"}]}]
rules: [{pattern: "**"}]
`),
			ip("team-b", "keys", `validators: [{name: default, type: cosign, trustRoots: [{name: k, key: "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k"}]}]
rules: [{pattern: "**"}]
`),
		}, []string{"awskms:///alias/x", "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", "k8s://signet/shared", "k8s://team-a/cosign"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var eng *policy.Engine
			if len(tc.objs) == 1 {
				doc, err := policy.Parse([]byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\n" + tc.objs[0].spec))
				if err != nil {
					t.Fatal(err)
				}
				if eng, err = policy.Compile(doc, registry.MustNew()); err != nil {
					t.Fatal(err)
				}
			} else {
				var errs []policy.ObjectError
				if eng, errs = compileSet(t, tc.objs); errs != nil {
					t.Fatal(errs)
				}
			}
			if diff := cmp.Diff(tc.want, refs(t, eng.KeySources())); diff != "" {
				t.Errorf("KeySources() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKeySourcesAssembled: units compiled apart each have their own
// Source of a key they both name; the engine lists both (keysource.Watch
// reads the key once for them).
func TestKeySourcesAssembled(t *testing.T) {
	t.Parallel()
	var units []*policy.Unit
	for _, o := range []obj{
		cip("one", `validators: [{name: v, type: cosign, trustRoots: [{name: default, key: "k8s://signet/shared"}]}]
rules: [{pattern: "x/**", validator: v}]
`),
		cip("two", `validators: [{name: v, type: cosign, trustRoots: [{name: default, key: "k8s://signet/shared"}]}]
rules: [{pattern: "y/**", validator: v}]
`),
	} {
		u, err := policy.CompileUnit(o.object(t), registry.MustNew())
		if err != nil {
			t.Fatal(err)
		}
		units = append(units, u)
	}
	got := refs(t, policy.Assemble(units, registry.MustNew()).KeySources())
	if diff := cmp.Diff([]string{"k8s://signet/shared", "k8s://signet/shared"}, got); diff != "" {
		t.Errorf("KeySources() (-want +got):\n%s", diff)
	}
}
