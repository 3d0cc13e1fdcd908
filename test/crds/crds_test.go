package crds

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// root is the repository root: go test runs a package's tests in its
// directory, two levels below.
func root() string {
	r, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		panic(err)
	}
	return r
}

// generated are the files hack/generate.sh writes, relative to the
// repository.
var generated = []string{
	"deploy/crds/signet.dev_clusterimagepolicies.yaml",
	"deploy/crds/signet.dev_imagepolicies.yaml",
	"deploy/helm/signet/files/crds/signet.dev_clusterimagepolicies.yaml",
	"deploy/helm/signet/files/crds/signet.dev_imagepolicies.yaml",
	"internal/policy/zz_generated.deepcopy.go",
	"internal/policy/v1alpha1/zz_generated.deepcopy.go",
}

// TestGeneratedUpToDate regenerates into a temporary directory and
// compares: a change to the policy types or their markers without
// make generate fails here.
func TestGeneratedUpToDate(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root(), "hack", "generate.sh"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("hack/generate.sh: %v\n%s", err, b)
	}
	for _, f := range generated {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatalf("hack/generate.sh did not write %s: %v", f, err)
		}
		got, err := os.ReadFile(filepath.Join(root(), f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is out of date (%v): run make generate", f, err)
		}
	}
	for _, dir := range []string{"deploy/crds", "deploy/helm/signet/files/crds"} {
		entries, err := os.ReadDir(filepath.Join(root(), dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !slices.Contains(generated, dir+"/"+e.Name()) {
				t.Errorf("%s/%s is not generated: remove it", dir, e.Name())
			}
		}
	}
}

func load(t *testing.T, name string) *apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), "deploy", "crds", name))
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(b, &crd); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &crd
}

// TestSchemas: the two kinds, their scope, short names, status subresource
// and printer columns, and the schema of their common spec.
func TestSchemas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, kind, short string
		scope             apiextensionsv1.ResourceScope
	}{
		{"signet.dev_clusterimagepolicies.yaml", "ClusterImagePolicy", "cip", apiextensionsv1.ClusterScoped},
		{"signet.dev_imagepolicies.yaml", "ImagePolicy", "ip", apiextensionsv1.NamespaceScoped},
	} {
		crd := load(t, tc.file)
		if crd.Spec.Group != "signet.dev" || crd.Spec.Names.Kind != tc.kind || crd.Spec.Scope != tc.scope || !slices.Equal(crd.Spec.Names.ShortNames, []string{tc.short}) {
			t.Errorf("%s: group %s kind %s scope %s short names %v", tc.file, crd.Spec.Group, crd.Spec.Names.Kind, crd.Spec.Scope, crd.Spec.Names.ShortNames)
		}
		if len(crd.Spec.Versions) != 1 {
			t.Fatalf("%s: versions %d", tc.file, len(crd.Spec.Versions))
		}
		v := crd.Spec.Versions[0]
		if v.Name != "v1alpha1" || !v.Served || !v.Storage || v.Subresources == nil || v.Subresources.Status == nil {
			t.Errorf("%s: version %s served %v storage %v subresources %+v", tc.file, v.Name, v.Served, v.Storage, v.Subresources)
		}
		var cols []string
		for _, c := range v.AdditionalPrinterColumns {
			cols = append(cols, c.Name+"="+c.JSONPath)
		}
		if want := []string{`Ready=.status.conditions[?(@.type=="Ready")].status`, "Rules=.status.rules", "Age=.metadata.creationTimestamp"}; !slices.Equal(cols, want) {
			t.Errorf("%s: printer columns %v, want %v", tc.file, cols, want)
		}
		s := v.Schema.OpenAPIV3Schema
		spec := s.Properties["spec"]
		if !slices.Contains(s.Required, "spec") || !slices.Equal(spec.Required, []string{"rules", "validators"}) {
			t.Errorf("%s: required %v, spec required %v", tc.file, s.Required, spec.Required)
		}
		enum := func(p apiextensionsv1.JSONSchemaProps) string {
			var out []string
			for _, e := range p.Enum {
				out = append(out, string(e.Raw))
			}
			return strings.Join(out, ",")
		}
		validator := spec.Properties["validators"].Items.Schema
		rule := spec.Properties["rules"].Items.Schema
		trustRoot := validator.Properties["trustRoots"].Items.Schema
		with := rule.Properties["with"]
		for what, got := range map[string]string{
			"mode":                   enum(spec.Properties["mode"]),
			"pinning":                enum(spec.Properties["pinning"]),
			"validator type":         enum(validator.Properties["type"]),
			"with.mode":              enum(with.Properties["mode"]),
			"with.verificationLevel": enum(with.Properties["verificationLevel"]),
			"with.verifyTimestamp":   enum(with.Properties["verifyTimestamp"]),
		} {
			want := map[string]string{
				"mode": `"enforce","warn","audit"`, "pinning": `"all","podsOnly","none"`, "validator type": `"static","cosign","notation","notaryv1"`,
				"with.mode": `"enforce","warn","audit"`, "with.verificationLevel": `"strict","permissive","audit"`, "with.verifyTimestamp": `"always","afterCertExpiry"`,
			}[what]
			if got != want {
				t.Errorf("%s: %s enum %s, want %s", tc.file, what, got, want)
			}
		}
		rules := func(p *apiextensionsv1.JSONSchemaProps) (out []string) {
			for _, r := range p.XValidations {
				out = append(out, r.Message)
			}
			return out
		}
		for what, got := range map[string][]string{
			"rule":       rules(rule),
			"trust root": rules(trustRoot),
			"validator":  rules(validator),
		} {
			if len(got) == 0 {
				t.Errorf("%s: no CEL rule on %s", tc.file, what)
			}
		}
		if m := with.Properties["threshold"].Minimum; m == nil || *m != 1 {
			t.Errorf("%s: with.threshold minimum %v", tc.file, m)
		}
		if spec.Description == "" || spec.Properties["rules"].Description == "" || rule.Properties["pattern"].Description == "" {
			t.Errorf("%s: spec fields without descriptions (kubectl explain)", tc.file)
		}
	}
}
