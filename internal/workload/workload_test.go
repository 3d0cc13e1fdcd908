package workload

import (
	"errors"
	"slices"
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
	f.Fuzz(func(t *testing.T, kind string, raw []byte) {
		obj, err := Decode(kind, raw)
		if err == nil && obj == nil {
			t.Fatal("nil object without error")
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
