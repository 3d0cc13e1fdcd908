package workload

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind  string
		raw   string
		paths []string
	}{
		{"Pod", `{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}],"initContainers":[{"name":"i","image":"z"}],"ephemeralContainers":[{"name":"e","image":"w"}]}}`,
			[]string{"/spec/containers/0/image", "/spec/containers/1/image", "/spec/initContainers/0/image", "/spec/ephemeralContainers/0/image"}},
		{"Deployment", `{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}`, []string{"/spec/template/spec/containers/0/image"}},
		{"CronJob", `{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"initContainers":[{"name":"a","image":"x"}]}}}}}}`, []string{"/spec/jobTemplate/spec/template/spec/initContainers/0/image"}},
		{"PodTemplate", `{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}`, []string{"/template/spec/containers/0/image"}},
		{"ReplicationController", `{"spec":{"replicas":0}}`, nil},
		{"ReplicationController", `{"spec":{"template":null}}`, nil},
		{"Job", `{}`, nil},
	}
	for _, tc := range tests {
		obj, err := Decode(tc.kind, []byte(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		var paths []string
		for _, i := range obj.Images {
			paths = append(paths, i.Path)
		}
		if !slices.Equal(paths, tc.paths) {
			t.Errorf("%s: paths %v, want %v", tc.kind, paths, tc.paths)
		}
	}
	for _, k := range []string{"StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"} {
		obj, err := Decode(k, []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"x"}]}}}}`))
		if err != nil || len(obj.Images) != 1 || obj.Images[0].Ref != "x" {
			t.Errorf("%s: %+v %v", k, obj, err)
		}
	}
}

// volumes is a pod spec's volume list with an image volume between two
// others, as the API server stores it.
const volumes = `"volumes":[{"name":"cfg","configMap":{"name":"c"}},{"name":"data","image":{"reference":"reg/data:v1","pullPolicy":"IfNotPresent"}},{"name":"scratch","emptyDir":{}}]`

// TestDecodeImageVolumes: image volumes are found in the pod spec of every
// kind, at the pointer of their reference (the volume's index counts every
// volume), named by the volume.
func TestDecodeImageVolumes(t *testing.T) {
	t.Parallel()
	spec := `{"containers":[{"name":"app","image":"reg/app:v1"}],` + volumes + `}`
	tests := map[string]struct{ raw, base string }{
		"Pod":                   {`{"spec":` + spec + `}`, "/spec"},
		"PodTemplate":           {`{"template":{"spec":` + spec + `}}`, "/template/spec"},
		"Deployment":            {`{"spec":{"template":{"spec":` + spec + `}}}`, "/spec/template/spec"},
		"ReplicaSet":            {`{"spec":{"template":{"spec":` + spec + `}}}`, "/spec/template/spec"},
		"StatefulSet":           {`{"spec":{"template":{"spec":` + spec + `}}}`, "/spec/template/spec"},
		"DaemonSet":             {`{"spec":{"template":{"spec":` + spec + `}}}`, "/spec/template/spec"},
		"Job":                   {`{"spec":{"template":{"spec":` + spec + `}}}`, "/spec/template/spec"},
		"ReplicationController": {`{"spec":{"template":{"spec":` + spec + `}}}`, "/spec/template/spec"},
		"CronJob":               {`{"spec":{"jobTemplate":{"spec":{"template":{"spec":` + spec + `}}}}}`, "/spec/jobTemplate/spec/template/spec"},
	}
	if len(tests) != len(Kinds()) {
		t.Fatalf("%d kinds tested, %d supported", len(tests), len(Kinds()))
	}
	for kind, tc := range tests {
		obj, err := Decode(kind, []byte(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		want := []Image{
			{Path: tc.base + "/containers/0/image", Section: Containers, Container: "app", Ref: "reg/app:v1"},
			{Path: tc.base + "/volumes/1/image/reference", Section: Volumes, Container: "data", Ref: "reg/data:v1"},
		}
		if !slices.Equal(obj.Images, want) {
			t.Errorf("%s: images %+v, want %+v", kind, obj.Images, want)
		}
		if k := obj.Images[1].Key(); k != "volumes/data" {
			t.Errorf("%s: key %q", kind, k)
		}
	}
}

// TestDecodeImageVolumeShapes: an image source without a reference is
// reported (with an empty reference, to be denied as invalid), a null one
// is no image, and a volume named like a container is told apart from it.
func TestDecodeImageVolumeShapes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, volumes string
		want          []Image
	}{
		{"no reference", `[{"name":"v","image":{}}]`, []Image{{Path: "/spec/volumes/0/image/reference", Section: Volumes, Container: "v"}}},
		{"null reference", `[{"name":"v","image":{"reference":null}}]`, []Image{{Path: "/spec/volumes/0/image/reference", Section: Volumes, Container: "v"}}},
		{"null image", `[{"name":"v","image":null}]`, nil},
		{"no volumes", `[]`, nil},
		{"same name as a container", `[{"name":"app","image":{"reference":"x"}}]`, []Image{{Path: "/spec/volumes/0/image/reference", Section: Volumes, Container: "app", Ref: "x"}}},
	}
	for _, tc := range tests {
		obj, err := Decode("Pod", []byte(`{"spec":{"volumes":`+tc.volumes+`}}`))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(obj.Images, tc.want) {
			t.Errorf("%s: images %+v, want %+v", tc.name, obj.Images, tc.want)
		}
	}
	if a, b := (Image{Section: Containers, Container: "app"}), (Image{Section: Volumes, Container: "app"}); a.Key() == b.Key() {
		t.Error("a container and a volume of the same name share a key")
	}
	for _, raw := range []string{`{"spec":{"volumes":{"name":"v"}}}`, `{"spec":{"volumes":[{"name":"v","image":"x"}]}}`, `{"spec":{"volumes":[{"name":"v","image":{"reference":1}}]}}`} {
		if _, err := Decode("Pod", []byte(raw)); err == nil {
			t.Errorf("Decode(%s) succeeded", raw)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	if _, err := Decode("ConfigMap", []byte(`{}`)); !errors.Is(err, ErrUnsupportedKind) {
		t.Errorf("ConfigMap: %v", err)
	}
	for _, raw := range []string{`[]`, `{"spec":{"containers":"x"}}`, `{"spec":[1]}`, `{"metadata":"x"}`, `not json`} {
		if _, err := Decode("Pod", []byte(raw)); err == nil {
			t.Errorf("Decode(%s) succeeded", raw)
		}
	}
}

func TestController(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	m := Metadata{OwnerReferences: []OwnerReference{{Kind: "A", Controller: &no}, {Kind: "B"}, {Kind: "RS", Controller: &yes}}}
	if c := m.Controller(); c == nil || c.Kind != "RS" {
		t.Errorf("Controller() = %+v", c)
	}
	if (Metadata{}).Controller() != nil {
		t.Error("no owners, got a controller")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("Pod", []byte(`{"spec":{"containers":[{"name":"a","image":"x"}]}}`))
	f.Add("CronJob", []byte(`{"spec":{"jobTemplate":{"spec":{"template":{"spec":{}}}}}}`))
	f.Add("Pod", []byte(`{"spec":{`+volumes+`}}`))
	f.Add("Deployment", []byte(`{"spec":{"template":{"spec":{"volumes":[{"name":"v","image":{}},{"name":"w","image":null}]}}}}`))
	f.Add("StatefulSet", []byte(`{"spec":{"template":{"spec":{"volumes":[{"name":"v","image":{"reference":"a@sha256:00"}}],"containers":[{"name":"v","image":"b"}]}}}}`))
	f.Fuzz(func(t *testing.T, kind string, raw []byte) {
		obj, err := Decode(kind, raw)
		if err == nil && obj == nil {
			t.Fatal("nil object without error")
		}
		if err != nil {
			return
		}
		for _, img := range obj.Images {
			if img.Section == Volumes && !strings.HasSuffix(img.Path, "/image/reference") || img.Section != Volumes && !strings.HasSuffix(img.Path, "/image") {
				t.Fatalf("%s image at %s", img.Section, img.Path)
			}
		}
	})
}

func TestDecodePullCredentials(t *testing.T) {
	t.Parallel()
	tests := []struct {
		kind, raw string
		secrets   []string
		account   string
	}{
		{"Pod", `{"spec":{"containers":[{"name":"a","image":"x"}],"imagePullSecrets":[{"name":"one"},{"name":""},{"name":"two"}],"serviceAccountName":"builder"}}`, []string{"one", "two"}, "builder"},
		{"Deployment", `{"spec":{"template":{"spec":{"imagePullSecrets":[{"name":"regcred"}],"serviceAccount":"legacy"}}}}`, []string{"regcred"}, "legacy"},
		{"CronJob", `{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"serviceAccountName":"new","serviceAccount":"old"}}}}}}`, nil, "new"},
		{"Pod", `{"spec":{"containers":[]}}`, nil, ""},
	}
	for _, tc := range tests {
		obj, err := Decode(tc.kind, []byte(tc.raw))
		if err != nil {
			t.Fatalf("%s: %v", tc.kind, err)
		}
		if !slices.Equal(obj.PullSecrets, tc.secrets) || obj.ServiceAccount != tc.account {
			t.Errorf("%s %s: pull secrets %v, service account %q; want %v, %q", tc.kind, tc.raw, obj.PullSecrets, obj.ServiceAccount, tc.secrets, tc.account)
		}
	}
}

// TestCaseSensitive: the API server reads "containers", never
// "Containers"; neither does signet, so a second spelling cannot hide the
// image that runs.
func TestCaseSensitive(t *testing.T) {
	obj, err := Decode("Pod", []byte(`{"spec":{"containers":[{"name":"a","image":"evil"}],"Containers":[{"name":"a","image":"signed"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(obj.Images) != 1 || obj.Images[0].Ref != "evil" {
		t.Errorf("images = %+v, want only the lower-case list", obj.Images)
	}
}
