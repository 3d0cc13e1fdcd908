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

// TestDecisionLog: one JSON line per admission with the fields an auditor
// needs.
func TestDecisionLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	var buf bytes.Buffer
	dl := decisionlog.New(&buf)
	rv := admission.NewReviewer(e.reviewer.EngineFunc(), nil, admission.Options{Decisions: dl}, nil, nil)
	post(t, rv.Handler(true), "application/json", e.review(t, "pod-unsigned.json"))
	if err := dl.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1:\n%s", len(lines), buf.String())
	}
	var l map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &l); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"msg": "admission", "level": "INFO", "uid": "uid-web", "kind": "Pod", "namespace": "team-a", "name": "web", "operation": "CREATE", "user": "alice", "decision": "denied", "webhook": "mutate"} {
		if l[k] != want {
			t.Errorf("%s = %v, want %v", k, l[k], want)
		}
	}
	if _, ok := l["latencyMs"].(float64); !ok {
		t.Error("no latencyMs")
	}
	imgs, _ := l["images"].([]any)
	if len(imgs) != 2 {
		t.Fatalf("images = %v", l["images"])
	}
	first := imgs[0].(map[string]any)
	for _, k := range []string{"image", "digest", "rule", "validator", "outcome", "reason", "path"} {
		if first[k] == nil || first[k] == "" {
			t.Errorf("image entry lacks %s: %v", k, first)
		}
	}
}

// review reads testdata/reviews/name with the registry's host in it.
func (e *env) review(t *testing.T, name string) []byte {
	t.Helper()
	in, err := os.ReadFile("testdata/reviews/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(in, []byte("REGISTRY"), []byte(e.reg.Host))
}

// TestPolicyInForce: with no engine yet (the policy resources not read),
// every admission is denied, saying why; with one, the decision log
// names its generation and hash.
func TestPolicyInForce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	in := e.review(t, "pod-unsigned.json")
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
