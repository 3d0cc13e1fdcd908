package auditlog_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/auditlog"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
)

const allowAll = `apiVersion: signet.dev/v1alpha1
kind: ImagePolicy
validators: [{name: allow, type: static, approve: true}]
rules: [{pattern: "**", validator: allow}]
`

// TestAdmission: through the admission handler, an audit log that cannot
// be written (/dev/full) is counted and admission goes on per policy; with
// Required (--audit-required) the request is denied with the reason.
func TestAdmission(t *testing.T) {
	t.Parallel()
	doc, err := policy.Parse([]byte(allowAll))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		required  bool
		allowed   bool
		errorsMin float64
	}{
		{"writable", "", false, true, 0},
		{"writable, required", "", true, true, 0},
		{"disk full", "/dev/full", false, true, 2},
		{"disk full, required", "/dev/full", true, false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.path
			if path == "" {
				path = filepath.Join(t.TempDir(), "audit.jsonl")
			}
			m := metrics.New()
			w, err := auditlog.Open(auditlog.Options{Path: path, Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close(context.Background())
			opts := admission.Options{Decisions: decisionlog.Tee(decisionlog.Discard, w)}
			if tc.required {
				opts.Required = w
			}
			rv := admission.NewReviewer(func() *policy.Engine { return eng }, nil, opts, nil, m)
			h := rv.Handler(true)
			var resp struct {
				Response struct {
					Allowed bool `json:"allowed"`
					Status  struct {
						Message string `json:"message"`
					} `json:"status"`
				} `json:"response"`
			}
			for range 2 { // the first write fails (or not), the second request sees it
				waitQueue(t, w)
				rec := httptest.NewRecorder()
				req := httptest.NewRequest(http.MethodPost, "/mutate", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"namespace":"team-a","operation":"CREATE","object":{"metadata":{"name":"web"},"spec":{"containers":[{"name":"a","image":"registry.example/app@sha256:`+strings.Repeat("a", 64)+`"}]}}}}`))
				req.Header.Set("Content-Type", "application/json")
				h.ServeHTTP(rec, req)
				if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
					t.Fatalf("%v: %s", err, rec.Body.String())
				}
			}
			waitQueue(t, w)
			if resp.Response.Allowed != tc.allowed {
				t.Errorf("allowed = %v, want %v: %s", resp.Response.Allowed, tc.allowed, resp.Response.Status.Message)
			}
			if !tc.allowed && !strings.Contains(resp.Response.Status.Message, "audit log cannot be written") {
				t.Errorf("reason %q", resp.Response.Status.Message)
			}
			if n := errorsTotal(t, m, "write"); n < tc.errorsMin || (tc.errorsMin == 0 && n != 0) {
				t.Errorf("signet_audit_write_errors_total{reason=write} = %v, want at least %v", n, tc.errorsMin)
			}
		})
	}
}

// TestRequiredSkipsExcluded: with --audit-required and the log failing, a
// request signet does not check (an excluded namespace) still passes, so
// the cluster can repair itself.
func TestRequiredSkipsExcluded(t *testing.T) {
	t.Parallel()
	w, err := auditlog.Open(auditlog.Options{Path: "/dev/full"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	waitQueue(t, w)
	if w.Err() == nil {
		t.Fatal("/dev/full written")
	}
	doc, _ := policy.Parse([]byte(allowAll))
	eng, err := policy.Compile(doc, nil)
	if err != nil {
		t.Fatal(err)
	}
	rv := admission.NewReviewer(func() *policy.Engine { return eng }, nil, admission.Options{Decisions: w, Required: w, ExcludedNamespaces: []string{"kube-system"}}, nil, nil)
	for ns, allowed := range map[string]bool{"kube-system": true, "team-a": false} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/validate", strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"namespace":"`+ns+`","operation":"CREATE","object":{"spec":{"containers":[{"name":"a","image":"registry.example/app:v1"}]}}}}`))
		req.Header.Set("Content-Type", "application/json")
		rv.Handler(false).ServeHTTP(rec, req)
		if got := strings.Contains(rec.Body.String(), `"allowed":true`); got != allowed {
			t.Errorf("namespace %s: %s, want allowed %v", ns, rec.Body.String(), allowed)
		}
	}
}
