package crds

import (
	"testing"
)

// TestPlatformsSchema: with.platforms, a string or an object, has the
// schema of hack/platforms-schema.yaml: untyped (kept by the API server),
// each keyword constraining one kind of value. test/e2e (TestCRDs) shows
// the API server accepting "index", "all" and {any-of: […]} and refusing
// everything else.
func TestPlatformsSchema(t *testing.T) {
	t.Parallel()
	for _, file := range []string{"signet.dev_clusterimagepolicies.yaml", "signet.dev_imagepolicies.yaml"} {
		crd := load(t, file)
		with := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"].Properties["rules"].Items.Schema.Properties["with"]
		s, ok := with.Properties["platforms"]
		if !ok {
			t.Fatalf("%s: no with.platforms", file)
		}
		anyOf := s.Properties["any-of"]
		switch {
		case s.Type != "" || s.XPreserveUnknownFields == nil || !*s.XPreserveUnknownFields:
			t.Errorf("%s: with.platforms type %q, x-kubernetes-preserve-unknown-fields %v: want untyped and kept", file, s.Type, s.XPreserveUnknownFields)
		case s.Pattern != "^(index|all)$":
			t.Errorf("%s: with.platforms pattern %q", file, s.Pattern)
		case len(s.Required) != 1 || s.Required[0] != "any-of" || s.MaxProperties == nil || *s.MaxProperties != 1:
			t.Errorf("%s: with.platforms required %v, maxProperties %v", file, s.Required, s.MaxProperties)
		case anyOf.Type != "array" || anyOf.Items == nil || anyOf.Items.Schema.Type != "string" || anyOf.Items.Schema.Pattern == "":
			t.Errorf("%s: with.platforms.any-of %+v", file, anyOf)
		case s.Minimum == nil || s.Maximum == nil || *s.Minimum <= *s.Maximum || s.MinItems == nil || s.MaxItems == nil || *s.MinItems <= *s.MaxItems:
			t.Errorf("%s: with.platforms leaves numbers or lists valid", file)
		case s.Not == nil || len(s.Not.Enum) != 2:
			t.Errorf("%s: with.platforms leaves true and false valid", file)
		case s.Description == "":
			t.Errorf("%s: with.platforms has no description", file)
		}
	}
}
