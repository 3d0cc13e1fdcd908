package admission_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/policy"
)

// TestPolicyInForce: with no engine yet (the policy resources not read),
// every admission is denied, saying why; with one, the decision log
// names its generation and hash.
func TestPolicyInForce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	in, err := os.ReadFile("testdata/reviews/pod-unsigned.json")
	if err != nil {
		t.Fatal(err)
	}
	in = bytes.ReplaceAll(in, []byte("REGISTRY"), []byte(e.reg.Host))
	stamped := e.reviewer.EngineFunc()().Stamped(7, "0123456789abcdef")
	for _, tc := range []struct {
		name    string
		engine  *policy.Engine
		allowed bool
		reason  string
		log     []string
	}{
		{"no policy yet", nil, false, admission.NoPolicy, []string{`"decision":"denied"`, `"policyGeneration":0`}},
		{"a policy in force", stamped, false, "signet denied", []string{`"policyGeneration":7`, `"policyHash":"0123456789abcdef"`}},
	} {
		var buf bytes.Buffer
		dl := decisionlog.New(&buf)
		rv := admission.NewReviewer(func() *policy.Engine { return tc.engine }, nil, admission.Options{Decisions: dl}, nil, nil)
		_, body := post(t, rv.Handler(true), "application/json", in)
		var out struct {
			Response struct {
				Allowed bool
				Status  struct{ Message string }
			}
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Response.Allowed != tc.allowed || !strings.Contains(out.Response.Status.Message, tc.reason) {
			t.Errorf("%s: allowed %v, %q; want %v, %q", tc.name, out.Response.Allowed, out.Response.Status.Message, tc.allowed, tc.reason)
		}
		if err := dl.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, want := range tc.log {
			if !strings.Contains(buf.String(), want) {
				t.Errorf("%s: decision log %s\nlacks %s", tc.name, buf.String(), want)
			}
		}
	}
}
