package externaldata_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/google/go-cmp/cmp"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/externaldata"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// fakeDecider answers from a table and records what it was asked.
type fakeDecider struct {
	decisions map[string]policy.Decision
	err       error
	asked     [][]string
	namespace []string
}

func (f *fakeDecider) Decide(_ context.Context, namespace string, refs []string) (map[string]policy.Decision, error) {
	f.asked = append(f.asked, refs)
	f.namespace = append(f.namespace, namespace)
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]policy.Decision{}
	for _, r := range refs {
		if d, ok := f.decisions[r]; ok {
			out[r] = d
		}
	}
	return out, nil
}

func post(t *testing.T, h http.Handler, method, contentType, body string) (int, externaldata.ProviderResponse) {
	t.Helper()
	req := httptest.NewRequest(method, "/externaldata", strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp externaldata.ProviderResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("decoding %q: %v", rec.Body.String(), err)
	}
	return rec.Code, resp
}

func request(keys ...string) string {
	b, err := json.Marshal(externaldata.ProviderRequest{APIVersion: externaldata.APIVersion, Kind: externaldata.RequestKind, Request: externaldata.Request{Keys: keys}})
	if err != nil {
		panic(err)
	}
	return string(b)
}

const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"

func TestHandler(t *testing.T) {
	t.Parallel()
	decisions := map[string]policy.Decision{
		"reg.example/app:1":    {Allowed: true, Outcome: verify.Verified, Digest: digest, Pinned: "reg.example/app@" + digest},
		"reg.example/static:1": {Allowed: true, Outcome: verify.Static},
		"reg.example/bad:1":    {Outcome: verify.Failed, Reason: "no signature from trust root ci", Mode: policy.ModeWarn},
		"reg.example/slow:1":   {Outcome: verify.Inconclusive, Reason: "registry unreachable"},
	}
	many := make([]string, externaldata.MaxKeys+1)
	for i := range many {
		many[i] = fmt.Sprintf("reg.example/app:%d", i)
	}
	for _, tc := range []struct {
		name        string
		method, ct  string
		body        string
		err         error
		code        int
		want        []externaldata.Item
		systemError string
		asked       int
	}{
		{
			name: "allowed, static, failed, inconclusive, duplicates once",
			body: request("reg.example/app:1", "reg.example/static:1", "reg.example/bad:1", "reg.example/app:1", "reg.example/slow:1"),
			code: 200, asked: 1,
			want: []externaldata.Item{
				{Key: "reg.example/app:1", Value: "reg.example/app@" + digest},
				{Key: "reg.example/static:1", Value: "reg.example/static:1"},
				{Key: "reg.example/bad:1", Error: "failed: no signature from trust root ci"},
				{Key: "reg.example/slow:1", Error: "inconclusive: registry unreachable"},
			},
		},
		{name: "no keys", body: request(), code: 200, asked: 1},
		{name: "too many keys", body: request(many...), code: 200, systemError: "1001 keys in one request; signet answers at most 1000"},
		{name: "no policy yet", body: request("reg.example/app:1"), err: admission.ErrNoPolicy, code: 200, systemError: admission.NoPolicy, asked: 1},
		{name: "GET", method: http.MethodGet, code: 405, systemError: "use POST with a ProviderRequest"},
		{name: "not JSON", ct: "text/plain", body: request("x"), code: 415, systemError: `Content-Type must be application/json, got "text/plain"`},
		{name: "wrong kind", body: `{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderResponse"}`, code: 400,
			systemError: `want apiVersion externaldata.gatekeeper.sh/v1beta1, kind ProviderRequest; got "externaldata.gatekeeper.sh/v1beta1", "ProviderResponse"`},
		{name: "too large", body: `{"apiVersion":"` + strings.Repeat("a", externaldata.MaxBodyBytes) + `"}`, code: 413, systemError: "ProviderRequest larger than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeDecider{decisions: decisions, err: tc.err}
			h := &externaldata.Handler{Decider: f}
			method, ct := cmpOr(tc.method, http.MethodPost), cmpOr(tc.ct, "application/json")
			code, resp := post(t, h, method, ct, tc.body)
			if code != tc.code {
				t.Errorf("status %d, want %d", code, tc.code)
			}
			if resp.APIVersion != externaldata.APIVersion || resp.Kind != externaldata.ResponseKind || !resp.Response.Idempotent {
				t.Errorf("envelope %+v", resp)
			}
			if diff := cmp.Diff(tc.want, resp.Response.Items); diff != "" {
				t.Errorf("items (-want +got):\n%s", diff)
			}
			if resp.Response.SystemError != tc.systemError {
				t.Errorf("systemError %q, want %q", resp.Response.SystemError, tc.systemError)
			}
			if len(f.asked) != tc.asked {
				t.Fatalf("decider asked %d times, want %d", len(f.asked), tc.asked)
			}
			for _, ns := range f.namespace {
				if ns != "" {
					t.Errorf("namespace %q, want cluster scope", ns)
				}
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// TestDocumentedExamples decodes the request and encodes the response of
// Gatekeeper's external-data documentation with these types.
func TestDocumentedExamples(t *testing.T) {
	t.Parallel()
	const req = `{
  "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
  "kind": "ProviderRequest",
  "request": {
    "keys": ["foo", "bar"]
  }
}`
	var pr externaldata.ProviderRequest
	if err := json.Unmarshal([]byte(req), &pr); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(externaldata.ProviderRequest{APIVersion: externaldata.APIVersion, Kind: externaldata.RequestKind, Request: externaldata.Request{Keys: []string{"foo", "bar"}}}, pr); diff != "" {
		t.Error(diff)
	}
	const resp = `{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderResponse","response":{"idempotent":true,"items":[{"key":"foo","value":"foo_valid"},{"key":"bar","error":"bar_invalid"}]}}`
	got, err := json.Marshal(externaldata.ProviderResponse{APIVersion: externaldata.APIVersion, Kind: externaldata.ResponseKind, Response: externaldata.Response{
		Idempotent: true, Items: []externaldata.Item{{Key: "foo", Value: "foo_valid"}, {Key: "bar", Error: "bar_invalid"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != resp {
		t.Errorf("got  %s\nwant %s", got, resp)
	}
	const sysErr = `{"apiVersion":"externaldata.gatekeeper.sh/v1beta1","kind":"ProviderResponse","response":{"idempotent":true,"systemError":"too many keys"}}`
	if got, _ := json.Marshal(externaldata.ProviderResponse{APIVersion: externaldata.APIVersion, Kind: externaldata.ResponseKind, Response: externaldata.Response{Idempotent: true, SystemError: "too many keys"}}); string(got) != sysErr {
		t.Errorf("got  %s\nwant %s", got, sysErr)
	}
}

// TestEngine decides keys with a real engine through admission.Reviewer:
// a signed image pinned to its digest, an unsigned one denied, within the
// deadline.
func TestEngine(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	key := testutil.NewKey(t)
	signed := reg.PushImage(t, "demo/app:signed")
	testutil.SignLegacy(t, signed, key)
	reg.PushImage(t, "demo/app:unsigned")
	doc, err := policy.Parse([]byte(testutil.Policy(key.PEM, `
- {pattern: "`+reg.Host+`/demo/**", validator: signed}
`)))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.Compile(doc, registry.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	rv := admission.NewReviewer(func() *policy.Engine { return eng }, nil, admission.Options{}, nil, nil)
	h := &externaldata.Handler{Decider: rv, Timeout: 5 * time.Second}
	code, resp := post(t, h, http.MethodPost, "application/json", request(reg.Host+"/demo/app:signed", reg.Host+"/demo/app:unsigned", reg.Host+"/other/app:1"))
	if code != 200 || resp.Response.SystemError != "" || len(resp.Response.Items) != 3 {
		t.Fatalf("status %d, response %+v", code, resp)
	}
	items := resp.Response.Items
	if want := reg.Host + "/demo/app@" + signed.DigestStr(); items[0].Value != want || items[0].Error != "" {
		t.Errorf("signed: %+v, want value %s", items[0], want)
	}
	if items[1].Value != "" || !strings.HasPrefix(items[1].Error, "failed: ") {
		t.Errorf("unsigned: %+v, want a failure", items[1])
	}
	if items[2].Error == "" {
		t.Errorf("no rule: %+v, want an error", items[2])
	}
	// No policy yet: a systemError, never values.
	none := &externaldata.Handler{Decider: admission.NewReviewer(func() *policy.Engine { return nil }, nil, admission.Options{}, nil, nil)}
	if _, resp := post(t, none, http.MethodPost, "application/json", request("x")); resp.Response.SystemError != admission.NoPolicy || len(resp.Response.Items) != 0 {
		t.Errorf("no policy: %+v", resp)
	}
}

// longReasons answers every key with a failure whose reason quotes it
// ten times, as registry errors quoting a reference can.
type longReasons struct{}

func (longReasons) Decide(_ context.Context, _ string, refs []string) (map[string]policy.Decision, error) {
	out := make(map[string]policy.Decision, len(refs))
	for _, r := range refs {
		out[r] = policy.Decision{Outcome: verify.Failed, Reason: strings.Repeat(r, 10)}
	}
	return out, nil
}

// TestBounds: a request at the limits — MaxKeys keys in about
// MaxBodyBytes — is answered with every error cut at MaxErrorBytes, so
// the answer stays within MaxKeys × (key + MaxErrorBytes).
func TestBounds(t *testing.T) {
	t.Parallel()
	keys := make([]string, externaldata.MaxKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("reg.example/%0990d:v1", i)
	}
	body := request(keys...)
	if len(body) > externaldata.MaxBodyBytes {
		t.Fatalf("test body %d bytes, over the limit", len(body))
	}
	req := httptest.NewRequest(http.MethodPost, "/externaldata", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	(&externaldata.Handler{Decider: longReasons{}}).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %.300s", rec.Code, rec.Body.String())
	}
	var resp externaldata.ProviderResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	if len(resp.Response.Items) != externaldata.MaxKeys {
		t.Fatalf("%d items", len(resp.Response.Items))
	}
	for _, it := range resp.Response.Items {
		if len(it.Error) > externaldata.MaxErrorBytes+32 || !strings.Contains(it.Error, "…(+") || !strings.HasPrefix(it.Error, "failed: ") {
			t.Fatalf("error of %d bytes: %.100s", len(it.Error), it.Error)
		}
	}
	if n, limit := rec.Body.Len(), externaldata.MaxKeys*(1024+externaldata.MaxErrorBytes+64); n > limit {
		t.Errorf("answer of %d bytes, want at most %d", n, limit)
	}
	t.Logf("%d keys in %d bytes answered in %d bytes", len(keys), len(body), rec.Body.Len())
}
