package admission_test

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/decisionlog"
)

// TestDecisionLog: one JSON line per admission with the fields an auditor
// needs.
func TestDecisionLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, admission.Options{})
	var buf bytes.Buffer
	dl := decisionlog.New(&buf)
	rv := admission.NewReviewer(e.reviewer.EngineFunc(), nil, admission.Options{Decisions: dl}, nil, nil)
	in, err := os.ReadFile("testdata/reviews/pod-unsigned.json")
	if err != nil {
		t.Fatal(err)
	}
	in = bytes.ReplaceAll(in, []byte("REGISTRY"), []byte(e.reg.Host))
	post(t, rv.Handler(true), "application/json", in)
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
