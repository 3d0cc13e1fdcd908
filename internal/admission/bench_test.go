package admission_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// BenchmarkHandlerWarm is the hot path of a busy cluster: a Pod CREATE for
// a signed image whose verification is cached, through the HTTP handler,
// with the decision log and metrics on.
func BenchmarkHandlerWarm(b *testing.B) {
	image, doc := benchImage(b, true)
	h := benchHandler(b, doc, decisionlog.New(io.Discard), metrics.New())
	body := benchPodReview(image)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/mutate?timeout=10s", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"allowed":true`)) {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body.String())
		}
	}
}

// benchImage pushes an image, signed or not, to a local registry and
// returns it with a policy requiring its signature.
func benchImage(b *testing.B, signed bool) (string, *policy.Document) {
	b.Helper()
	reg := testutil.NewRegistry(b, false)
	key := testutil.NewKey(b)
	img := reg.PushImage(b, "demo/app:v1")
	if signed {
		testutil.SignLegacy(b, img, key)
	}
	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, `- {pattern: "`+reg.Host+`/demo/**", validator: signed}`)))
	if err != nil {
		b.Fatal(err)
	}
	return reg.Host + "/demo/app:v1", doc
}

// benchHandler is the mutating handler of doc's engine, its cache warm
// after the first request.
func benchHandler(b *testing.B, doc *policy.Document, decisions decisionlog.Sink, m *metrics.Metrics) http.Handler {
	b.Helper()
	c, err := cache.New(cache.Config{Metrics: m})
	if err != nil {
		b.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew(), policy.WithCache(c))
	if err != nil {
		b.Fatal(err)
	}
	return admission.NewReviewer(func() *policy.Engine { return eng }, nil, admission.Options{Decisions: decisions}, nil, m).Handler(true)
}

// benchPodReview is the AdmissionReview of a Pod CREATE running image.
func benchPodReview(image string) []byte {
	body, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "b", "kind": map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"namespace": "default", "name": "bench", "operation": "CREATE",
			"userInfo": map[string]string{"username": "bench"},
			"object": map[string]any{"apiVersion": "v1", "kind": "Pod",
				"metadata": map[string]string{"name": "bench", "namespace": "default"},
				"spec":     map[string]any{"containers": []any{map[string]string{"name": "app", "image": image}}}},
		},
	})
	return body
}
