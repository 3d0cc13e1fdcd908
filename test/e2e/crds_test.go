package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
	"github.com/signet-dev/signet/internal/testutil"
)

// crdSpec is a valid policy spec: a cosign key, a static validator, a
// rule with a quorum.
func crdSpec(keyPEM string) string {
	return `
validators:
- name: keys
  type: cosign
  trustRoots:
  - name: ci
    key: |
      ` + testutil.Indent(keyPEM, 6) + `
- name: allow
  type: static
  approve: true
rules:
- pattern: "ghcr.io/org/**"
  validator: keys
  with: {threshold: 1}
- pattern: "**"
  validator: allow
`
}

// TestCRDs installs deploy/crds into a real kube-apiserver and shows what
// the generated schemas do: valid ClusterImagePolicy and ImagePolicy
// objects are stored (and are valid for signet policy lint too), and so
// is every field of valid policy files moved under spec; invalid
// ones are refused by the schema itself, each with the field path signet
// policy lint reports for the same spec; the published OpenAPI (what
// kubectl explain reads) describes the spec's fields; the short names,
// the status subresource and the printer columns are served.
func TestCRDs(t *testing.T) {
	t.Parallel()
	_, cfg := startWithCRDs(t)
	ctx := context.Background()
	if _, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dc := dynamic.NewForConfigOrDie(cfg)
	spec := crdSpec(testutil.NewKey(t).PEM)

	// object builds a resource of kind with spec, edited by edit.
	object := func(t *testing.T, kind, name string, edit func(spec map[string]any)) *unstructured.Unstructured {
		t.Helper()
		var s map[string]any
		if err := yaml.Unmarshal([]byte(spec), &s); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(s)
		}
		o := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "signet.dev/v1alpha1", "kind": kind, "metadata": map[string]any{"name": name}, "spec": s}}
		if kind == policy.Kind {
			o.SetNamespace("team-a")
		}
		return o
	}
	create := func(o *unstructured.Unstructured) (*unstructured.Unstructured, error) {
		ri := dynamic.ResourceInterface(dc.Resource(v1alpha1.ClusterImagePolicies))
		if o.GetKind() == policy.Kind {
			ri = dc.Resource(v1alpha1.ImagePolicies).Namespace(o.GetNamespace())
		}
		return ri.Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict"})
	}
	lint := func(t *testing.T, o *unstructured.Unstructured) policy.LintReport {
		t.Helper()
		b, err := json.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		return policy.Lint(b)
	}

	// Valid objects of both kinds are stored, and lint finds them valid.
	for _, kind := range []string{policy.KindCluster, policy.Kind} {
		o := object(t, kind, "valid", nil)
		if r := lint(t, o); !r.Valid() {
			t.Errorf("%s: lint: %+v", kind, r.Errors)
		}
		if _, err := create(o); err != nil {
			t.Errorf("%s: the API server refuses a valid object: %v", kind, err)
		}
	}

	// Invalid objects are refused by the schema, with the field path;
	// lint reports the same spec at (or under) the same path.
	at := func(path ...any) func(map[string]any) (map[string]any, string) {
		return func(spec map[string]any) (map[string]any, string) {
			var o any = spec
			for _, p := range path[:len(path)-1] {
				switch k := p.(type) {
				case string:
					o = o.(map[string]any)[k]
				case int:
					o = o.([]any)[k]
				}
			}
			return o.(map[string]any), path[len(path)-1].(string)
		}
	}
	for _, tc := range []struct {
		name, kind string
		edit       func(spec map[string]any)
		field      string // the path in the API server's answer and in lint's
		apiMsg     string // what the API server says there
	}{
		{"bad mode enum", policy.KindCluster, func(s map[string]any) { s["mode"] = "enforse" },
			"spec.mode", `Unsupported value: "enforse": supported values: "enforce", "warn", "audit"`},
		{"bad validator type enum", policy.Kind, func(s map[string]any) { m, k := at("validators", 1, "type")(s); m[k] = "sigstore" },
			"spec.validators[1].type", `Unsupported value: "sigstore"`},
		{"missing rules", policy.KindCluster, func(s map[string]any) { delete(s, "rules") },
			"spec.rules", "Required value"},
		{"missing validator type", policy.KindCluster, func(s map[string]any) { m, _ := at("validators", 1, "type")(s); delete(m, "type") },
			"spec.validators[1].type", "Required value"},
		{"key and keyless", policy.KindCluster, func(s map[string]any) {
			m, _ := at("validators", 0, "trustRoots", 0, "keyless")(s)
			m["keyless"] = map[string]any{"issuer": "https://token.actions.githubusercontent.com", "subject": "x"}
		}, "spec.validators[0].trustRoots[0]", "key and keyless are exclusive"},
		{"validator and validators", policy.Kind, func(s map[string]any) { m, _ := at("rules", 1, "validators")(s); m["validators"] = []any{"allow"} },
			"spec.rules[1]", "validator and validators are exclusive"},
		{"threshold 0", policy.KindCluster, func(s map[string]any) { m, _ := at("rules", 0, "with", "threshold")(s); m["threshold"] = 0 },
			"spec.rules[0].with.threshold", "should be greater than or equal to 1"},
		{"trustedRoot and tuf", policy.KindCluster, func(s map[string]any) {
			m, _ := at("validators", 0, "tuf")(s)
			m["tuf"], m["trustedRootFile"] = map[string]any{}, "/etc/signet/trusted_root.json"
		}, "spec.validators[0]", "trustedRoot, trustedRootFile and tuf are exclusive"},
		{"static validator without approve", policy.KindCluster, func(s map[string]any) { m, _ := at("validators", 1, "approve")(s); delete(m, "approve") },
			"spec.validators[1].approve", "approve is required for a static validator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := object(t, tc.kind, "invalid", tc.edit)
			_, err := create(o)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.field+": ") || !strings.Contains(err.Error(), tc.apiMsg) {
				t.Errorf("the API server: %v\nwant an Invalid error at %s: %s", err, tc.field, tc.apiMsg)
			}
			t.Logf("the API server: %v", err)
			r := lint(t, o)
			if !slices.ContainsFunc(r.Errors, func(e policy.FieldError) bool {
				return e.Field == tc.field || strings.HasPrefix(e.Field, tc.field+".") || strings.HasPrefix(e.Field, tc.field+"[")
			}) {
				t.Errorf("signet policy lint: %+v\nwant an error at %s", r.Errors, tc.field)
			}
		})
	}
	// The schema accepts what signet accepts: every field of a valid
	// policy file, moved under spec, is stored (dry run).
	for i, file := range validPolicies(t) {
		if r := policy.Lint([]byte(file)); !r.Valid() {
			t.Fatalf("policy %d is not valid: %+v", i, r.Errors)
		}
		var top map[string]any
		if err := yaml.Unmarshal([]byte(file), &top); err != nil {
			t.Fatal(err)
		}
		o := object(t, policy.KindCluster, fmt.Sprintf("file-%d", i), func(spec map[string]any) {
			clear(spec)
			for k, v := range top {
				if k != "apiVersion" && k != "kind" && k != "metadata" {
					spec[k] = v
				}
			}
		})
		if _, err := dc.Resource(v1alpha1.ClusterImagePolicies).Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict", DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Errorf("the API server refuses valid policy %d: %v", i, err)
		}
	}

	// Strict field validation names an unknown field by its path.
	if _, err := create(object(t, policy.KindCluster, "typo", func(s map[string]any) { m, _ := at("rules", 0, "patern")(s); m["patern"] = "x" })); err == nil || !strings.Contains(err.Error(), `unknown field "spec.rules[0].patern"`) {
		t.Errorf("unknown field: %v", err)
	}

	// with.platforms is a string or an object: the schema keeps "index",
	// "all" and {any-of: […]} as written and refuses every other value,
	// as signet policy lint does.
	for _, tc := range []struct {
		value string // JSON
		ok    bool
	}{
		{`"index"`, true}, {`"all"`, true},
		{`{"any-of": ["linux/amd64"]}`, true}, {`{"any-of": ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]}`, true},
		{`"every"`, false}, {`""`, false}, {`"all "`, false}, {`true`, false}, {`false`, false}, {`1`, false}, {`-3.5`, false},
		{`[]`, false}, {`["linux/amd64"]`, false}, {`{}`, false}, {`{"any-of": []}`, false}, {`{"anyOf": ["linux/amd64"]}`, false},
		{`{"any-of": ["linux/amd64"], "all": true}`, false}, {`{"any-of": "linux/amd64"}`, false}, {`{"any-of": ["linux"]}`, false},
		{`{"any-of": ["Linux/AMD64"]}`, false}, {`{"any-of": [1]}`, false},
	} {
		var value any
		if err := json.Unmarshal([]byte(tc.value), &value); err != nil {
			t.Fatal(err)
		}
		o := object(t, policy.KindCluster, "platforms", func(s map[string]any) { m, _ := at("rules", 0, "with", "platforms")(s); m["platforms"] = value })
		got, err := dc.Resource(v1alpha1.ClusterImagePolicies).Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict", DryRun: []string{metav1.DryRunAll}})
		switch {
		case tc.ok && err != nil:
			t.Errorf("with.platforms %s: the API server refuses it: %v", tc.value, err)
		case tc.ok:
			kept, _, _ := unstructured.NestedFieldNoCopy(got.Object, "spec", "rules")
			if b, _ := json.Marshal(kept.([]any)[0].(map[string]any)["with"].(map[string]any)["platforms"]); !jsonEqual(b, []byte(tc.value)) {
				t.Errorf("with.platforms %s: stored as %s", tc.value, b)
			}
		case !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.rules[0].with.platforms"):
			t.Errorf("with.platforms %s: the API server: %v\nwant an Invalid error at spec.rules[0].with.platforms", tc.value, err)
		}
		if r := lint(t, o); r.Valid() != tc.ok {
			t.Errorf("with.platforms %s: signet policy lint: valid %v, want %v (%+v)", tc.value, r.Valid(), tc.ok, r.Errors)
		}
	}

	// Short names, scopes and the status subresource, as discovery serves them.
	disc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	rl, err := disc.ServerResourcesForGroupVersion("signet.dev/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range rl.APIResources {
		got[r.Name] = strings.Join(r.ShortNames, ",") + " namespaced=" + map[bool]string{true: "true", false: "false"}[r.Namespaced]
	}
	for name, want := range map[string]string{"clusterimagepolicies": "cip namespaced=false", "imagepolicies": "ip namespaced=true", "clusterimagepolicies/status": " namespaced=false", "imagepolicies/status": " namespaced=true"} {
		if got[name] != want {
			t.Errorf("discovery: %s: %q, want %q", name, got[name], want)
		}
	}

	// kubectl explain reads the OpenAPI v3 document of the group version.
	paths, err := disc.OpenAPIV3().Paths()
	if err != nil {
		t.Fatal(err)
	}
	gv, ok := paths["apis/signet.dev/v1alpha1"]
	if !ok {
		t.Fatalf("no OpenAPI v3 document for signet.dev/v1alpha1")
	}
	b, err := gv.Schema(runtime.ContentTypeJSON)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas map[string]schemaDoc `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"ClusterImagePolicy", "ImagePolicy"} {
		s, ok := doc.Components.Schemas["dev.signet.v1alpha1."+kind]
		if !ok {
			t.Fatalf("OpenAPI v3: no schema for %s", kind)
		}
		specDoc := s.Properties["spec"]
		rules := specDoc.Properties["rules"]
		for path, d := range map[string]string{
			"spec": specDoc.Description, "spec.mode": specDoc.Properties["mode"].Description, "spec.rules": rules.Description,
			"spec.rules[].pattern":   rules.items().Properties["pattern"].Description,
			"spec.validators[].type": specDoc.Properties["validators"].items().Properties["type"].Description,
		} {
			if d == "" {
				t.Errorf("OpenAPI v3 %s: %s has no description (kubectl explain)", kind, path)
			}
		}
		if !slices.Equal(specDoc.Properties["mode"].Enum, []string{"enforce", "warn", "audit"}) {
			t.Errorf("OpenAPI v3 %s: spec.mode enum %v", kind, specDoc.Properties["mode"].Enum)
		}
	}

	// Status (the subresource signet will write) and the printer columns.
	ri := dc.Resource(v1alpha1.ClusterImagePolicies)
	o, err := ri.Get(ctx, "valid", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := map[string]any{"observedGeneration": o.GetGeneration(), "rules": int64(2), "conditions": []any{map[string]any{
		"type": v1alpha1.ConditionReady, "status": "True", "reason": v1alpha1.ReasonCompiled, "message": "2 rules in force",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339), "observedGeneration": o.GetGeneration()}}}
	o.Object["status"] = status
	if o, err = ri.UpdateStatus(ctx, o, metav1.UpdateOptions{FieldValidation: "Strict"}); err != nil {
		t.Fatalf("status update: %v", err)
	}
	o.Object["spec"].(map[string]any)["mode"] = "warn"
	delete(o.Object, "status")
	if o, err = ri.Update(ctx, o, metav1.UpdateOptions{}); err != nil || o.Object["status"] == nil {
		t.Errorf("a spec update must keep the status (subresource): %v %v", err, o)
	}
	table := getTable(t, cfg, "/apis/signet.dev/v1alpha1/clusterimagepolicies")
	var cols []string
	for _, c := range table.ColumnDefinitions {
		cols = append(cols, c.Name)
	}
	if !slices.Equal(cols, []string{"Name", "Ready", "Rules", "Age"}) {
		t.Errorf("kubectl get clusterimagepolicies columns %v, want Name, Ready, Rules, Age", cols)
	}
	if len(table.Rows) != 1 || len(table.Rows[0].Cells) != 4 || table.Rows[0].Cells[0] != "valid" || table.Rows[0].Cells[1] != "True" || table.Rows[0].Cells[2] != float64(2) {
		t.Errorf("kubectl get clusterimagepolicies rows %+v", table.Rows)
	}
}

// validPolicies are policy files using every validator type and most
// fields, each with a value from every closed set.
func validPolicies(t *testing.T) []string {
	key := testutil.NewKey(t).PEM
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := testutil.CertPEM(testutil.TUFCert(t, "release.example", &caKey.PublicKey, caKey, nil, true), nil)
	indent := func(pem string) string { return testutil.Indent(pem, 6) }
	return []string{
		testutil.Policy(key, "- {pattern: \"ghcr.io/**\", validator: signed}\n- {pattern: \"**\", validator: deny}\n"),
		`apiVersion: signet.dev/v1alpha1
kind: ClusterImagePolicy
metadata: {name: everything}
mode: warn
pinning: podsOnly
insecureRegistries: ["registry.local:5000"]
validators:
- name: default
  type: cosign
  auth: {secretName: regcreds, registries: [ghcr.io]}
  trustRoots:
  - name: ci
    key: |
      ` + indent(key) + `
  - name: k8s
    key: k8s://signet-system/cosign-pub
- name: keyless
  type: cosign
  tuf: {}
  trustRoots:
  - name: gha
    keyless: {issuer: "https://token.actions.githubusercontent.com", subjectRegex: "^https://github.com/acme/"}
- name: notary
  type: notation
  trustRoots:
  - name: release
    cert: |
      ` + indent(ca) + `
- name: dct
  type: notaryv1
  host: https://notary.docker.io
  trustRoots:
  - name: root
    key: |
      ` + indent(key) + `
- {name: allow, type: static, approve: true}
- {name: deny, type: static, approve: false}
rules:
- pattern: "ghcr.io/acme/**"
  with:
    trustRoot: "*"
    threshold: 2
    required: [ci]
    mode: audit
    verifyReference: true
    acceptedReferences: ["mirror.example/acme/**"]
    mutate: false
    attestations:
    - name: built
      type: slsaprovenance1
      validator: keyless
      conditions:
      - {expression: 'predicate.buildDefinition.buildType != ""', message: has a build type}
- pattern: "ghcr.io/gha/**"
  validator: keyless
  with: {mode: enforce, verifyInTransparencyLog: true, verifySCT: true}
- pattern: "ghcr.io/notary/**"
  validator: notary
  with: {verificationLevel: permissive, verifyTimestamp: afterCertExpiry, verifyRevocation: true, mode: warn}
- pattern: "ghcr.io/audit/**"
  validator: notary
  with: {verificationLevel: audit, verifyTimestamp: always}
- pattern: "docker.io/library/*"
  validator: dct
  with: {delegations: [targets/releases]}
- pattern: "ghcr.io/both/**"
  validators: [default, notary]
  with: {trustRoot: "*"}
- pattern: "**"
  validator: deny
`,
		"apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nmode: enforce\npinning: all\nvalidators: [{name: allow, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: allow}]\n",
		"apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nmode: audit\npinning: none\nvalidators: [{name: allow, type: static, approve: true}]\nrules: [{pattern: \"**\", validator: allow}]\n",
	}
}

// schemaDoc is the part of an OpenAPI v3 schema TestCRDs reads.
type schemaDoc struct {
	Description string               `json:"description"`
	Enum        []string             `json:"enum"`
	Properties  map[string]schemaDoc `json:"properties"`
	Items       *schemaDoc           `json:"items"`
}

func (s schemaDoc) items() schemaDoc {
	if s.Items == nil {
		return schemaDoc{}
	}
	return *s.Items
}

// getTable lists path as kubectl get does: as a Table, with the
// resource's printer columns.
func getTable(t *testing.T, cfg *rest.Config, path string) *metav1.Table {
	t.Helper()
	b, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().RESTClient().Get().AbsPath(path).
		SetHeader("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("GET %s as Table: %v\n%s", path, err, b)
	}
	var table metav1.Table
	if err := json.Unmarshal(b, &table); err != nil {
		t.Fatal(err)
	}
	return &table
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}
