package admission_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite golden files")

// env is a registry with signed and unsigned images and a reviewer whose
// policy covers them.
type env struct {
	reg      *testutil.Registry
	reviewer *admission.Reviewer
	metrics  *metrics.Metrics
	replacer *strings.Replacer // real host and digests → placeholders
}

func newEnv(t *testing.T, opts admission.Options) *env {
	t.Helper()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	h := reg.Host
	var pairs []string
	for _, img := range []struct {
		name   string
		signed bool
	}{
		{"demo/app:signed", true}, {"demo/app:unsigned", false}, {"demo/init:signed", true},
		{"warn/app:unsigned", false}, {"audit/app:unsigned", false}, {"nopin/app:signed", true},
	} {
		d := reg.PushImage(t, img.name)
		if img.signed {
			testutil.SignLegacy(t, d, key)
		}
		pairs = append(pairs, d.DigestStr(), "sha256:<"+img.name+">",
			strings.Replace(d.DigestStr(), ":", "-", 1), "sha256-<"+img.name+">")
	}
	pairs = append(pairs, attestedImages(t, reg, key)...)
	pairs = append(pairs, h, "REGISTRY")
	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, `
- {pattern: "`+h+`/demo/**", validator: signed}
- {pattern: "`+h+`/warn/**", validator: signed, with: {mode: warn}}
- {pattern: "`+h+`/audit/**", validator: signed, with: {mode: audit}}
- {pattern: "`+h+`/nopin/**", validator: signed, with: {mutate: false}}
`+attestedRule(h)+resourceKinds)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	if opts.ExcludedNamespaces == nil {
		opts.ExcludedNamespaces = []string{"kube-system", "signet"}
	}
	m := metrics.New()
	rv := admission.NewReviewer(func() *policy.Engine { return eng }, nil, opts, nil, m)
	return &env{reg: reg, reviewer: rv, metrics: m, replacer: strings.NewReplacer(pairs...)}
}

// post sends body to the handler and returns the status and the body.
func post(t *testing.T, h http.Handler, contentType string, body []byte) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/mutate?timeout=10s", bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// readable turns a response into a stable, readable document: the patch
// decoded, real hosts and digests replaced by placeholders.
func (e *env) readable(t *testing.T, body []byte) []byte {
	t.Helper()
	var out struct {
		APIVersion string         `json:"apiVersion"`
		Kind       string         `json:"kind"`
		Response   map[string]any `json:"response"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("decoding response: %v\n%s", err, body)
	}
	if p, ok := out.Response["patch"].(string); ok {
		var raw []byte
		if err := json.Unmarshal([]byte(`"`+p+`"`), &raw); err != nil {
			t.Fatal(err)
		}
		var ops any
		if err := json.Unmarshal(raw, &ops); err != nil {
			t.Fatal(err)
		}
		out.Response["patch"] = ops
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(e.replacer.Replace(string(b)) + "\n")
}

// TestGolden runs every AdmissionReview in testdata/reviews through the
// mutating handler and compares the response with testdata/golden.
func TestGolden(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	files, err := filepath.Glob("testdata/reviews/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			in = bytes.ReplaceAll(in, []byte("REGISTRY"), []byte(e.reg.Host))
			code, body := post(t, e.reviewer.Handler(true), "application/json", in)
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", code, body)
			}
			got := e.readable(t, body)
			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("response differs from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
