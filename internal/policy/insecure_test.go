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

func TestInsecureRegistriesValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		list string
		want []string // compiled, when valid
		err  string
	}{
		{list: `[]`, want: nil},
		{list: `[registry.internal, "registry.internal:5000", "10.0.0.7:5000", "[::1]:5000", Mixed.Case.Example]`,
			want: []string{"registry.internal", "registry.internal:5000", "10.0.0.7:5000", "[::1]:5000", "mixed.case.example"}},
		{list: `["http://registry.internal"]`, err: "insecureRegistries[0]: must be a registry host or host:port"},
		{list: `["registry.internal/team"]`, err: "insecureRegistries[0]"},
		{list: `["*.internal"]`, err: "insecureRegistries[0]"},
		{list: `["registry.internal:*"]`, err: "insecureRegistries[0]"},
		{list: `["registry.internal:0"]`, err: "port"},
		{list: `["registry.internal:65536"]`, err: "port"},
		{list: `["registry.internal:05000"]`, err: "port"},
		{list: `["user@registry.internal"]`, err: "insecureRegistries[0]"},
		{list: `["::1"]`, err: "brackets"},
		{list: `[""]`, err: "empty"},
		{list: `["-bad-.example"]`, err: "insecureRegistries[0]"},
		{list: `[a.example, b.example, A.example]`, err: `insecureRegistries[2]: "A.example" is listed twice (also insecureRegistries[0])`},
	}
	for _, tc := range tests {
		doc, err := policy.Parse([]byte(`apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
insecureRegistries: ` + tc.list + `
validators: [{name: allow, type: static, approve: true}]
rules: [{pattern: "**", validator: allow}]`))
		if err != nil {
			t.Fatalf("%s: %v", tc.list, err)
		}
		eng, err := policy.Compile(doc, registry.MustNew())
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: %v, want an error containing %q", tc.list, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.list, err)
			continue
		}
		if got := eng.InsecureRegistries(); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: InsecureRegistries() = %v, want %v", tc.list, got, tc.want)
		}
	}
}

// TestInsecureRegistriesPerPolicy: two engines sharing one registry client,
// as the policies before and after a reload do: each reaches the plain
// HTTP registry only if its own policy lists it.
func TestInsecureRegistriesPerPolicy(t *testing.T) {
	t.Parallel()
	key := testutil.NewKey(t)
	reg := testutil.NewRegistry(t, false)
	img := reg.PushImage(t, "demo/app:v1")
	testutil.SignLegacy(t, img, key)
	c := registry.MustNew()
	listed := compileWith(t, c, testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/**", validator: signed}`))
	unlisted := compileWith(t, c, testutil.Policy(key.PEM, `- {pattern: "**", validator: signed}`))
	for range 2 { // and back again: nothing about the scheme is remembered
		if d := unlisted.Evaluate(context.Background(), reg.Host+"/demo/app:v1"); d.Allowed || d.Outcome != verify.Inconclusive || !strings.Contains(d.Reason, "is not listed in the policy's insecureRegistries") {
			t.Errorf("policy without insecureRegistries: %s %s", d.Outcome, d.Reason)
		}
		if d := listed.Evaluate(context.Background(), reg.Host+"/demo/app:v1"); !d.Allowed {
			t.Errorf("policy listing %s: %s %s", reg.Host, d.Outcome, d.Reason)
		}
	}
}

func compileWith(t *testing.T, reg policy.Registry, y string) *policy.Engine {
	t.Helper()
	doc, err := policy.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, reg)
	if err != nil {
		t.Fatal(err)
	}
	return eng
}
