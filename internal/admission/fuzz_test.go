package admission

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/signet-dev/signet/internal/policy"
)

// FuzzHandler: whatever the body, the handler answers (400, 413 or a
// review) without panicking, and never admits an object whose images it
// could not check.
func FuzzHandler(f *testing.F) {
	doc, _ := policy.Parse([]byte("apiVersion: signet.dev/v1alpha1\nkind: ImagePolicy\nvalidators: [{name: d, type: static, approve: false}]\nrules: [{pattern: \"**\", validator: d}]\n"))
	eng, err := policy.Compile(doc, nil)
	if err != nil {
		f.Fatal(err)
	}
	rv := NewReviewer(func() *policy.Engine { return eng }, nil, Options{}, nil, nil)
	h := rv.Handler(true)
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"Pod"},"operation":"CREATE","object":{"spec":{"containers":[{"name":"a","image":"nginx"}]}}}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u","kind":{"kind":"CronJob"},"operation":"UPDATE","object":{"spec":{"jobTemplate":{}}},"oldObject":null}}`))
	f.Add([]byte(`{`))
	// Every golden review (each workload kind, subresources, UPDATEs,
	// malformed ones) seeds the corpus too.
	files, err := filepath.Glob("testdata/reviews/*.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed reviews in testdata/reviews: %v", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/mutate", bytes.NewReader(body)).WithContext(context.Background())
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 && rec.Code != 413 {
			t.Fatalf("HTTP %d", rec.Code)
		}
		if rec.Code == 200 && bytes.Contains(rec.Body.Bytes(), []byte(`"patch"`)) {
			t.Fatalf("a deny-all policy produced a patch: %s", rec.Body.String())
		}
	})
}
