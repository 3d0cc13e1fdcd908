package helm

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestCRDs: the chart renders deploy/crds' CRDs, unchanged but for the
// chart's labels and (crds.keep, default) helm.sh/resource-policy: keep;
// crds.install=false renders none.
func TestCRDs(t *testing.T) {
	t.Parallel()
	names := map[string]string{
		"clusterimagepolicies.signet.dev": "signet.dev_clusterimagepolicies.yaml",
		"imagepolicies.signet.dev":        "signet.dev_imagepolicies.yaml",
	}
	for _, tc := range []struct {
		set     []string
		install bool
		keep    bool
	}{
		{nil, true, true},
		{[]string{"crds.keep=false"}, true, false},
		{[]string{"crds.install=false"}, false, false},
	} {
		objs := render(t, tc.set...)
		for name, file := range names {
			crd := objs["CustomResourceDefinition/"+name]
			if !tc.install {
				if crd != nil {
					t.Errorf("%v: %s rendered", tc.set, name)
				}
				continue
			}
			if crd == nil {
				t.Fatalf("%v: %s not rendered", tc.set, name)
			}
			b, err := os.ReadFile(filepath.Join(root(), "deploy", "crds", file))
			if err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := yaml.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(crd["spec"], want["spec"]) {
				t.Errorf("%v: %s: the rendered spec differs from deploy/crds/%s", tc.set, name, file)
			}
			if get(crd, "metadata", "labels", "app.kubernetes.io/instance") != "rel" {
				t.Errorf("%v: %s: labels %v", tc.set, name, get(crd, "metadata", "labels"))
			}
			if keep := get(crd, "metadata", "annotations", "helm.sh/resource-policy") == "keep"; keep != tc.keep {
				t.Errorf("%v: %s: annotations %v", tc.set, name, get(crd, "metadata", "annotations"))
			}
		}
	}
}
