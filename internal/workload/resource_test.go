package workload_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/attest"
	"github.com/signet-dev/signet/internal/workload"
)

// steps is the expression of a Tekton Task's step images.
const steps = `object.spec.steps.transformList(i, s, has(s.image), "/spec/steps/" + string(i) + "/image")`

func resource(t *testing.T, templates []string, exprs ...string) *workload.Resource {
	t.Helper()
	res := &workload.Resource{Kind: "Thing", PodTemplates: templates}
	for _, e := range exprs {
		p, err := attest.CompilePaths(e)
		if err != nil {
			t.Fatalf("%s: %v", e, err)
		}
		res.Expressions = append(res.Expressions, p)
	}
	return res
}

// manySteps is a Task of n steps, each with an image.
func manySteps(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf(`{"name":"s%d","image":"x%d"}`, i, i)
	}
	return `{"spec":{"steps":[` + strings.Join(s, ",") + `]}}`
}

func TestDecodeResource(t *testing.T) {
	t.Parallel()
	rollout := `{"metadata":{"name":"web","namespace":"a"},"spec":{"template":{"spec":{
		"serviceAccountName":"sa","imagePullSecrets":[{"name":"pull"}],
		"containers":[{"name":"app","image":"app:1"},{"name":"side","image":"side:1"}],
		"initContainers":[{"name":"init","image":"init:1"}],
		"volumes":[{"name":"cfg","configMap":{"name":"c"}},{"name":"data","image":{"reference":"data:1"}}]}}}}`
	tests := []struct {
		name      string
		templates []string
		exprs     []string
		raw       string
		want      []string // path=ref
		err       string
		tooMany   bool
	}{
		{name: "pod template", templates: []string{"/spec/template"}, raw: rollout, want: []string{
			"/spec/template/spec/containers/0/image=app:1", "/spec/template/spec/containers/1/image=side:1",
			"/spec/template/spec/initContainers/0/image=init:1", "/spec/template/spec/volumes/1/image/reference=data:1"}},
		{name: "pod template absent", templates: []string{"/spec/template"}, raw: `{"spec":{"workloadRef":{"kind":"Deployment"}}}`},
		{name: "pod template null", templates: []string{"/spec/template"}, raw: `{"spec":{"template":null}}`},
		{name: "pod template not an object", templates: []string{"/spec/template"}, raw: `{"spec":{"template":"x"}}`, err: "the pod template at /spec/template"},
		{name: "pod template in a list", templates: []string{"/spec/jobs/1/template"}, raw: `{"spec":{"jobs":[{"template":{}},{"template":{"spec":{"containers":[{"name":"a","image":"a:1"}]}}}]}}`,
			want: []string{"/spec/jobs/1/template/spec/containers/0/image=a:1"}},
		{name: "expression", exprs: []string{steps}, raw: `{"spec":{"steps":[{"name":"a","image":"a:1"},{"name":"ref","ref":{"name":"x"}},{"name":"b","image":"b:1"}]}}`,
			want: []string{"/spec/steps/0/image=a:1", "/spec/steps/2/image=b:1"}},
		{name: "expression and template, a path found twice", templates: []string{"/spec/template"}, exprs: []string{`["/spec/template/spec/containers/0/image", "/spec/sidecar/image", "/spec/sidecar/image"]`},
			raw:  `{"spec":{"sidecar":{"image":"s:1"},"template":{"spec":{"containers":[{"name":"a","image":"a:1"}]}}}}`,
			want: []string{"/spec/template/spec/containers/0/image=a:1", "/spec/sidecar/image=s:1"}},
		{name: "escaped pointer", exprs: []string{`["/metadata/annotations/images.example.com~1main", "/spec/a~0b"]`},
			raw:  `{"metadata":{"annotations":{"images.example.com/main":"m:1"}},"spec":{"a~b":"t:1"}}`,
			want: []string{"/metadata/annotations/images.example.com~1main=m:1", "/spec/a~0b=t:1"}},
		{name: "member named like an index", exprs: []string{`["/spec/0"]`}, raw: `{"spec":{"0":"z:1"}}`, want: []string{"/spec/0=z:1"}},
		{name: "missing path", exprs: []string{`["/spec/image"]`}, raw: `{"spec":{}}`, err: "image path /spec/image names no field"},
		{name: "index past the end", exprs: []string{`["/spec/steps/3/image"]`}, raw: `{"spec":{"steps":[{"image":"a"}]}}`, err: "image path /spec/steps/3/image names no field"},
		{name: "index with a leading zero", exprs: []string{`["/spec/steps/00/image"]`}, raw: `{"spec":{"steps":[{"image":"a"}]}}`, err: "names no field"},
		{name: "non-string", exprs: []string{`["/spec/image"]`}, raw: `{"spec":{"image":{"ref":"a:1"}}}`, err: "image path /spec/image names an object, not an image string"},
		{name: "number", exprs: []string{`["/spec/image"]`}, raw: `{"spec":{"image":1}}`, err: "names a number"},
		{name: "null", exprs: []string{`["/spec/image"]`}, raw: `{"spec":{"image":null}}`, err: "names null"},
		{name: "not a pointer", exprs: []string{`["spec.image"]`}, raw: `{"spec":{"image":"a"}}`, err: "must start with '/'"},
		{name: "bad escape", exprs: []string{`["/spec/a~2"]`}, raw: `{"spec":{}}`, err: "'~' must be followed by 0 or 1"},
		{name: "expression error", exprs: []string{steps}, raw: `{"spec":{}}`, err: "no such key: steps"},
		{name: "duplicate names", exprs: []string{`["/spec/image"]`}, raw: `{"spec":{"image":"a:1","image":"evil:1"}}`, err: "duplicate"},
		{name: "images over the bound, by expression", exprs: []string{steps}, raw: manySteps(workload.MaxImages + 1), err: "more than 1000 images", tooMany: true},
		{name: "images at the bound, by expression", exprs: []string{steps}, raw: manySteps(workload.MaxImages), want: nil},
		{name: "images over the bound, template and expression together", templates: []string{"/spec/template"}, exprs: []string{steps},
			raw: `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a"}]}},"steps":` + manySteps(workload.MaxImages)[len(`{"spec":{"steps":`):len(manySteps(workload.MaxImages))-2] + `}}`,
			err: "more than 1000 images", tooMany: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obj, err := workload.DecodeResource(context.Background(), resource(t, tc.templates, tc.exprs...), []byte(tc.raw))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				if tc.tooMany != errors.Is(err, workload.ErrTooManyImages) {
					t.Errorf("errors.Is(%v, ErrTooManyImages) = %v", err, !tc.tooMany)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(tc.name, "images at the bound") {
				if len(obj.Images) != workload.MaxImages {
					t.Fatalf("%d images, want %d", len(obj.Images), workload.MaxImages)
				}
				return
			}
			var got []string
			for _, img := range obj.Images {
				got = append(got, img.Path+"="+img.Ref)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("images %v, want %v", got, tc.want)
			}
		})
	}
}

func TestDecodeResourceReadsTheTemplate(t *testing.T) {
	t.Parallel()
	raw := `{"metadata":{"name":"web","namespace":"a","ownerReferences":[{"apiVersion":"v1","kind":"X","name":"o","uid":"u","controller":true}]},
		"spec":{"template":{"spec":{"serviceAccountName":"sa","imagePullSecrets":[{"name":"pull"}],"containers":[{"name":"app","image":"app:1"}]}}}}`
	obj, err := workload.DecodeResource(context.Background(), resource(t, []string{"/spec/template"}), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if obj.Metadata.Name != "web" || obj.ServiceAccount != "sa" || !slices.Equal(obj.PullSecrets, []string{"pull"}) || obj.Metadata.Controller() == nil {
		t.Errorf("object %+v", obj)
	}
	if img := obj.Images[0]; img.Section != workload.Containers || img.Container != "app" {
		t.Errorf("image %+v", img)
	}
}

// TestDecodeResourceTemplateBound: a template's containers are counted
// while they are decoded, as a Deployment's are.
func TestDecodeResourceTemplateBound(t *testing.T) {
	t.Parallel()
	cs := strings.Repeat(`{"name":"a","image":"a"},`, workload.MaxImages) + `{"name":"a","image":"a"}`
	_, err := workload.DecodeResource(context.Background(), resource(t, []string{"/spec/template"}), []byte(`{"spec":{"template":{"spec":{"containers":[`+cs+`]}}}}`))
	if !errors.Is(err, workload.ErrTooManyImages) {
		t.Fatalf("error %v, want ErrTooManyImages", err)
	}
}

func TestCheckPointer(t *testing.T) {
	t.Parallel()
	for p, ok := range map[string]bool{"/spec/template": true, "/a~0b/c~1d": true, "/": true, "": false, "spec.template": false, "/a~": false, "/a~2": false} {
		if err := workload.CheckPointer(p); (err == nil) != ok {
			t.Errorf("CheckPointer(%q) = %v", p, err)
		}
	}
}

// at is the value at JSON pointer p in v (decoded whole): the reference the
// one-pass reader is checked against.
func at(v any, p string) (any, bool) {
	if p == "" {
		return v, true
	}
	for _, tok := range strings.Split(p[1:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || strconv.Itoa(i) != tok {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// FuzzDecodeResource: whatever the object, DecodeResource never panics,
// and every image it reports is the string at its pointer, by a reader that
// decodes the object whole (or, for a pod template's container without an
// image, empty, as Decode reports it); a pointer the expression returns
// that names no string is an error, never skipped.
func FuzzDecodeResource(f *testing.F) {
	f.Add([]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}},"steps":[{"image":"y"},{"ref":"z"}]}}`))
	f.Add([]byte(`{"spec":{"steps":[{"image":{"a":1}}]}}`))
	f.Add([]byte(`{"spec":{"template":[],"steps":{"0":{"image":"x"}}}}`))
	f.Add([]byte(`{"spec":{"a/b":"x","steps":[]}}`))
	f.Add([]byte(`{"spec":{"steps":[{"image":"a"},{"image":"b"}],"steps":[]}}`))
	paths, err := attest.CompilePaths(`object.?spec.?steps.orValue([]).transformList(i, s, "/spec/steps/" + string(i) + "/image") + ["/spec/a~1b"].filter(p, has(object.spec) && "a/b" in object.spec)`)
	if err != nil {
		f.Fatal(err)
	}
	res := &workload.Resource{Kind: "Thing", PodTemplates: []string{"/spec/template"}, Expressions: []workload.PathFinder{paths}}
	f.Fuzz(func(t *testing.T, raw []byte) {
		obj, err := workload.DecodeResource(context.Background(), res, raw)
		if err != nil {
			return
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("DecodeResource read an object encoding/json refuses: %v", err)
		}
		for _, img := range obj.Images {
			got, ok := at(v, img.Path)
			if !ok && img.Ref == "" && img.Section != workload.Field {
				continue // a pod template's container without an image: reported, to be denied as invalid
			}
			if s, isString := got.(string); !ok || !isString || s != img.Ref {
				t.Fatalf("image %q at %s; the object holds %#v (%v) there", img.Ref, img.Path, got, ok)
			}
		}
	})
}
