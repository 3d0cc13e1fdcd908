package admission_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

func TestBadRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	h := e.reviewer.Handler(true)
	valid := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":{"spec":{"containers":[]}}}}`
	tests := []struct {
		name        string
		contentType string
		body        string
		code        int
		has         string
	}{
		{"wrong content type", "text/plain", valid, 400, "Content-Type must be application/json"},
		{"no content type", "", valid, 400, "Content-Type"},
		{"malformed JSON", "application/json", `{"apiVersion":`, 400, "malformed AdmissionReview"},
		{"truncated", "application/json", valid[:len(valid)/2], 400, "malformed AdmissionReview"},
		{"not an object", "application/json", `[1,2]`, 400, "malformed AdmissionReview"},
		{"wrong version", "application/json", strings.Replace(valid, "admission.k8s.io/v1", "admission.k8s.io/v2", 1), 400, `unsupported AdmissionReview apiVersion "admission.k8s.io/v2"`},
		{"wrong kind", "application/json", strings.Replace(valid, `"kind":"AdmissionReview"`, `"kind":"Pod"`, 1), 400, "kind must be AdmissionReview"},
		{"no request", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, 400, "has no request"},
		{"no uid", "application/json", strings.Replace(valid, `"uid":"u1",`, "", 1), 400, "has no uid"},
		{"bad object", "application/json", strings.Replace(valid, `{"spec":{"containers":[]}}`, `{"spec":{"containers":"x"}}`, 1), 200, "could not read the Pod"},
		{"content type with charset", "application/json; charset=utf-8", valid, 200, `"allowed":true`},
		{"content type upper case", "Application/JSON", valid, 200, `"allowed":true`},
		{"duplicate name", "application/json", strings.Replace(valid, `"uid":"u1",`, `"uid":"u1","uid":"u2",`, 1), 400, "duplicate"},
		{"duplicate name in the object", "application/json", strings.Replace(valid, `{"spec":{"containers":[]}}`, `{"spec":{"containers":[],"containers":[{"name":"a","image":"x"}]}}`, 1), 400, `duplicate object member name "containers" within "/request/object/spec"`},
		{"name in other case", "application/json", strings.Replace(valid, `"request"`, `"Request"`, 1), 400, "has no request"},
		{"invalid UTF-8", "application/json", strings.Replace(valid, `"u1"`, "\"u\xff1\"", 1), 400, "malformed AdmissionReview"},
		{"oversized", "application/json", `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","x":"` + strings.Repeat("a", admission.MaxBodyBytes) + `"}}`, 413, "larger than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			code, body := post(t, h, tc.contentType, []byte(tc.body))
			if code != tc.code || !strings.Contains(string(body), tc.has) {
				t.Errorf("HTTP %d %q, want %d containing %q", code, body, tc.code, tc.has)
			}
		})
	}
	t.Run("GET", func(t *testing.T) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/mutate", nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("HTTP %d", rec.Code)
		}
	})
}

// TestPanicDenies: a panic anywhere in review is a denial that echoes the
// UID, and the handler keeps serving.
func TestPanicDenies(t *testing.T) {
	t.Parallel()
	rv := admission.NewReviewer(func() *policy.Engine { panic("boom") }, nil, admission.Options{}, nil, nil)
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-panic","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":{"spec":{"containers":[{"name":"a","image":"nginx"}]}}}}`
	for range 2 {
		code, out := post(t, rv.Handler(true), "application/json", []byte(body))
		var r struct {
			Response struct {
				UID     string `json:"uid"`
				Allowed bool   `json:"allowed"`
				Status  struct {
					Message string `json:"message"`
				} `json:"status"`
			} `json:"response"`
		}
		if err := json.Unmarshal(out, &r); err != nil || code != 200 {
			t.Fatalf("HTTP %d %s", code, out)
		}
		if r.Response.UID != "u-panic" || r.Response.Allowed || !strings.Contains(r.Response.Status.Message, "internal error") {
			t.Errorf("response %+v", r.Response)
		}
	}
}

// TestRequestDeadline: the API server's ?timeout= bounds the answer; a
// registry that never answers yields a denial naming the image in time.
func TestRequestDeadline(t *testing.T) {
	t.Parallel()
	host := testutil.StalledServer(t)
	doc, _ := policy.Parse([]byte(testutil.Policy(testutil.NewKey(t).PEM, `- {pattern: "`+host+`/**", validator: signed}`)))
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	rv := admission.NewReviewer(func() *policy.Engine { return eng }, nil, admission.Options{}, nil, nil)
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-slow","kind":{"kind":"Pod","version":"v1"},"operation":"CREATE","object":{"spec":{"containers":[{"name":"a","image":"` + host + `/app:v1"}]}}}}`
	req := httptest.NewRequest(http.MethodPost, "/mutate?timeout=2s", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	rv.Handler(true).ServeHTTP(rec, req)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("answered after %s, past the API server's 2s timeout", el)
	}
	if !strings.Contains(rec.Body.String(), `"allowed":false`) || !strings.Contains(rec.Body.String(), host+"/app:v1") || !strings.Contains(rec.Body.String(), "deadline") {
		t.Errorf("response %s", rec.Body.String())
	}
}
