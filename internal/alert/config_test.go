package alert_test

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/decisionlog"
)

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"unknown field", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    urll: y\n", "line 5: field urll not found"},
		{"wrong type", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    queueSize: many\n", "line 5"},
		{"bad type", "sinks:\n  - name: a\n    type: pager\n", "line 3: sinks[0].type: want slack"},
		{"bad name", "sinks:\n  - name: A_B\n    type: webhook\n    url: https://x.example\n", "line 2: sinks[0].name"},
		{"duplicate name", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n  - name: a\n    type: webhook\n    url: https://y.example\n", "line 5: sinks[1].name: \"a\" names two sinks"},
		{"plain http", "sinks:\n  - name: a\n    type: webhook\n    url: http://x.example\n", "line 4: sinks[0].url: want https://"},
		{"user info", "sinks:\n  - name: a\n    type: webhook\n    url: https://u:p@x.example\n", "no user information"},
		{"slack inline url", "sinks:\n  - name: a\n    type: slack\n    url: https://hooks.slack.com/services/x\n", "is a credential"},
		{"no url", "sinks:\n  - name: a\n    type: teams\n", "give url or urlFrom"},
		{"secret both", "sinks:\n  - name: a\n    type: slack\n    urlFrom: {file: f, env: E}\n", "line 4: sinks[0].urlFrom: give file or env"},
		{"opsgenie no key", "sinks:\n  - name: a\n    type: opsgenie\n", "needs its API key"},
		{"opsgenie region", "sinks:\n  - name: a\n    type: opsgenie\n    apiKeyFrom: {env: K}\n    region: mars\n", "line 5: sinks[0].region"},
		{"opsgenie priority", "sinks:\n  - name: a\n    type: opsgenie\n    apiKeyFrom: {env: K}\n    priority: P9\n", "want P1 to P5"},
		{"opsgenie fields elsewhere", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    priority: P1\n", "are for opsgenie"},
		{"unknown event", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    events: [allowed]\n", "unknown event \"allowed\""},
		{"template syntax", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    template: {title: \"{{.Event\"}\n", "line 5: sinks[0].template"},
		{"template field", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    template: {text: \"{{.Nope}}\"}\n", "Nope"},
		{"rate limit", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    rateLimit: {count: 0, per: 1m}\n", "rateLimit"},
		{"window", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    dedupeWindow: 2h\n", "dedupeWindow"},
		{"queue", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    queueSize: 100000\n", "queueSize"},
		{"retries", "sinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    retry: {max: 50}\n", "retry"},
		{"two documents", "sinks: []\n---\nsinks: []\n", "more than one YAML document"},
		{"too big", strings.Repeat("#", alert.MaxFileSize+1), "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := alert.Parse([]byte(tt.config))
			if _, ok := errors.AsType[*alert.ConfigError](err); !ok || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want a ConfigError with %q", err, tt.want)
			}
		})
	}
	if _, err := alert.Parse([]byte("cluster: c\nsinks:\n  - name: a\n    type: webhook\n    url: http://127.0.0.1:9/x\n")); err != nil {
		t.Errorf("plain HTTP to loopback: %v", err)
	}
	if _, err := alert.Parse(nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
}

// TestSecretsNotLogged: URLs and keys read from secrets appear in no log
// line and no error, whatever fails.
func TestSecretsNotLogged(t *testing.T) {
	rc := newReceiver(t)
	rc.answer = func(_ int, w http.ResponseWriter) bool { w.WriteHeader(http.StatusBadGateway); return true }
	e := newEnv(t)
	const token = "T0KEN-s3cr3t"
	e.vars["SLACK"] = rc.URL + "/services/" + token
	e.vars["DEAD"] = "https://127.0.0.1:1/services/" + token // refused
	e.vars["KEY"] = "genie-" + token
	a := e.open(t, `sinks:
  - name: slack
    type: slack
    urlFrom: {env: SLACK}
    dedupeWindow: 0s
    retry: {max: 1, backoff: 1ms}
  - name: dead
    type: teams
    urlFrom: {env: DEAD}
    dedupeWindow: 0s
    retry: {max: 1, backoff: 1ms}
  - name: genie
    type: opsgenie
    url: `+rc.URL+`/v2/alerts
    apiKeyFrom: {env: KEY}
    dedupeWindow: 0s
    retry: {max: 0}
`, rc.Client().Transport)
	a.Decisions(decisionlog.Discard).Write(denial("p", "registry.example/bad:1", "no"))
	for _, s := range []string{"slack", "dead", "genie"} {
		e.waitCount(t, s, alert.OutcomeFailed, 1)
	}
	logs := e.logs.String()
	if strings.Count(logs, "alert not sent") != 3 {
		t.Fatalf("want three failures logged: %s", logs)
	}
	if strings.Contains(logs, token) {
		t.Errorf("a secret in the logs: %s", logs)
	}
	// A secret URL that is not HTTPS is refused without being quoted.
	e.vars["SLACK"] = "http://hooks.example/" + token
	e.file(t, "alerts.yaml", "sinks:\n  - name: slack\n    type: slack\n    urlFrom: {env: SLACK}\n")
	_, err := a.Reload()
	if err == nil || strings.Contains(err.Error(), token) {
		t.Errorf("reload error %v: want one without the secret", err)
	}
}

// TestReload: an invalid file keeps the sinks in force; a valid change
// replaces them; an unchanged sink is kept; a rotated secret file counts
// as a change.
func TestReload(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t)
	e.file(t, "hmac", "one")
	good := webhookConfig(rc.URL, "    dedupeWindow: 0s\n    secretFrom: {file: hmac}\n")
	a := e.open(t, good, rc.Client().Transport)
	path := a.Path()
	if changed, err := a.Reload(); changed || err != nil {
		t.Fatalf("unchanged file: %v, %v", changed, err)
	}
	if err := os.WriteFile(path, []byte("sinks:\n  - name: hook\n    type: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Reload(); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("invalid reload: %v", err)
	}
	a.Decisions(decisionlog.Discard).Write(denial("p", "registry.example/a:1", "no"))
	r := rc.wait(t, 1)[0]
	if r.header.Get(alert.SignatureHeader) != alert.Sign([]byte("one"), r.body) {
		t.Errorf("the old sink did not send")
	}
	e.file(t, "alerts.yaml", good)
	e.file(t, "hmac", "two")
	if changed, err := a.Reload(); !changed || err != nil {
		t.Fatalf("rotated secret: %v, %v", changed, err)
	}
	a.Decisions(decisionlog.Discard).Write(denial("p", "registry.example/b:1", "no"))
	r = rc.wait(t, 2)[1]
	if r.header.Get(alert.SignatureHeader) != alert.Sign([]byte("two"), r.body) {
		t.Errorf("the new secret is not in use")
	}
	e.file(t, "alerts.yaml", good+"    events: [warned]\n")
	if changed, err := a.Reload(); !changed || err != nil {
		t.Fatalf("events changed: %v, %v", changed, err)
	}
	if a.Wants(alert.EventDenied) || !a.Wants(alert.EventWarned) {
		t.Errorf("events not reloaded")
	}
}

// A nil Alerter is valid and does nothing.
func TestNilAlerter(t *testing.T) {
	var a *alert.Alerter
	a.RedisBreakerOpen(errors.New("x"))
	a.PolicyReloadFailed("p", errors.New("x"))
	a.ReverificationFailed("ns", alert.Object{}, nil)
	if a.Decisions(decisionlog.Discard) != decisionlog.Discard {
		t.Error("a nil Alerter wraps the decision sink")
	}
	a.Close()
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("cluster: c\nsinks:\n  - name: a\n    type: webhook\n    url: https://x.example\n    events: [denied, warned]\n    template: {title: \"{{.Event}}\"}\n"))
	f.Add([]byte("sinks:\n  - name: g\n    type: opsgenie\n    apiKeyFrom: {env: K}\n    region: eu\n    rateLimit: {count: 3, per: 1m}\n    retry: {max: 2, backoff: 1s}\n"))
	f.Add([]byte("sinks:\n  - name: s\n    type: slack\n    urlFrom: {file: /x}\n    dedupeWindow: 30s\n"))
	f.Add([]byte("sinks: [{name: 1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := alert.Parse(data)
		if err != nil {
			if _, ok := errors.AsType[*alert.ConfigError](err); !ok {
				t.Fatalf("not a ConfigError: %T %v", err, err)
			}
			return
		}
		if len(c.Sinks) > alert.MaxSinks {
			t.Fatalf("%d sinks", len(c.Sinks))
		}
	})
}
