package alert_test

import (
	"crypto/hmac"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/decisionlog"
)

// A reason as an attacker could shape it: a registry's error message or
// an image name carrying markup of every sink.
const hostileReason = "no signature <!channel> <https://evil.example|click here> [click](https://evil.example) *bold* & \u202eevil\x07"

// TestSinkPayloads posts one denial to each sink's receiver and checks the
// body against the shape the service documents.
func TestSinkPayloads(t *testing.T) {
	long := "registry.example/" + strings.Repeat("a", 300) + ":1"
	tests := []struct {
		name, sink string
		check      func(t *testing.T, r received)
	}{
		{"slack", `type: slack
    urlFrom: {env: SLACK_URL}`, func(t *testing.T, r received) {
			// https://api.slack.com/messaging/webhooks, Block Kit.
			var p struct {
				Text   string `json:"text"`
				Blocks []struct {
					Type string `json:"type"`
					Text struct{ Type, Text string }
				} `json:"blocks"`
			}
			decodeJSON(t, r.body, &p)
			if p.Text == "" || len(p.Blocks) != 2 || p.Blocks[0].Type != "header" || p.Blocks[0].Text.Type != "plain_text" ||
				p.Blocks[1].Type != "section" || p.Blocks[1].Text.Type != "mrkdwn" {
				t.Fatalf("not a header and a mrkdwn section: %s", r.body)
			}
			if n := utf8.RuneCountInString(p.Blocks[0].Text.Text); n > 150 {
				t.Errorf("header of %d characters, Slack takes 150", n)
			}
			sec := p.Blocks[1].Text.Text
			if strings.ContainsAny(sec, "<>") || !strings.Contains(sec, "&lt;!channel&gt;") || !strings.Contains(sec, "&amp;") {
				t.Errorf("mrkdwn not escaped: %q", sec)
			}
			if !strings.Contains(sec, "registry.example/bad:1") || !strings.Contains(sec, "team-a") && !strings.Contains(p.Blocks[0].Text.Text, "team-a") {
				t.Errorf("image or namespace missing: %s", r.body)
			}
		}},
		{"teams", `type: teams
    urlFrom: {file: teams-url}`, func(t *testing.T, r received) {
			// Teams workflow webhooks: a message whose attachment is an
			// Adaptive Card.
			var p struct {
				Type        string `json:"type"`
				Attachments []struct {
					ContentType string  `json:"contentType"`
					ContentURL  *string `json:"contentUrl"`
					Content     struct {
						Schema  string `json:"$schema"`
						Type    string `json:"type"`
						Version string `json:"version"`
						Body    []struct{ Type, Text string }
					} `json:"content"`
				} `json:"attachments"`
			}
			decodeJSON(t, r.body, &p)
			if p.Type != "message" || len(p.Attachments) != 1 {
				t.Fatalf("not a message with one attachment: %s", r.body)
			}
			at := p.Attachments[0]
			if at.ContentType != "application/vnd.microsoft.card.adaptive" || at.Content.Type != "AdaptiveCard" || at.Content.Version == "" ||
				at.Content.Schema != "http://adaptivecards.io/schemas/adaptive-card.json" || len(at.Content.Body) < 2 || at.Content.Body[0].Type != "TextBlock" {
				t.Fatalf("not an Adaptive Card: %s", r.body)
			}
			text := at.Content.Body[1].Text
			if strings.Contains(text, "[click](") || !strings.Contains(text, `\[click\]\(https://evil.example\)`) {
				t.Errorf("markdown link not escaped: %q", text)
			}
		}},
		{"opsgenie", `type: opsgenie
    url: %URL%/v2/alerts
    apiKeyFrom: {env: GENIE_KEY}
    priority: P2
    tags: [prod]`, func(t *testing.T, r received) {
			// Opsgenie Alert API, create alert.
			if got := r.header.Get("Authorization"); got != "GenieKey genie-secret-key" {
				t.Errorf("Authorization %q", got)
			}
			if r.path != "/v2/alerts" {
				t.Errorf("path %q", r.path)
			}
			var p struct {
				Message, Alias, Description, Priority, Source, Entity string
				Tags                                                  []string
				Details                                               map[string]string
			}
			decodeJSON(t, r.body, &p)
			if p.Message == "" || utf8.RuneCountInString(p.Message) > 130 {
				t.Errorf("message %q: want 1-130 characters", p.Message)
			}
			if p.Alias == "" || len(p.Alias) > 512 || p.Priority != "P2" || p.Description == "" || p.Source != "signet" {
				t.Errorf("create-alert body: %s", r.body)
			}
			if strings.Join(p.Tags, ",") != "prod,signet,denied" || p.Details["namespace"] != "team-a" || p.Details["count"] != "1" || p.Details["event"] != "denied" {
				t.Errorf("tags %v, details %v", p.Tags, p.Details)
			}
		}},
		{"webhook", `type: webhook
    url: %URL%/hook
    secretFrom: {file: hmac}`, func(t *testing.T, r received) {
			want := alert.Sign([]byte("shared-secret"), r.body)
			if got := r.header.Get(alert.SignatureHeader); !hmac.Equal([]byte(got), []byte(want)) {
				t.Errorf("signature %q, want %q", got, want)
			}
			var p struct {
				alert.Alert
				Title, Text string
			}
			decodeJSON(t, r.body, &p)
			if p.Event != alert.EventDenied || p.Decision != "denied" || p.Count != 1 || p.Namespace != "team-a" || p.Object.Kind != "Pod" ||
				p.Cluster != "prod-eu" || p.User == "" || !p.DryRun || p.Rule != "registry.example/**" || len(p.Images) != 2 || p.Title == "" {
				t.Errorf("alert object: %s", r.body)
			}
			if strings.ContainsRune(p.Images[0].Reason, '\u202e') || strings.ContainsRune(p.Images[0].Reason, '\x07') {
				t.Errorf("control characters kept: %q", p.Images[0].Reason)
			}
			if len(p.Images[1].Image) > alert.MaxString {
				t.Errorf("image of %d bytes, bound %d", len(p.Images[1].Image), alert.MaxString)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t)
			e := newEnv(t)
			e.vars["SLACK_URL"] = rc.URL + "/services/T0/B0/xyz"
			e.vars["GENIE_KEY"] = "genie-secret-key"
			e.file(t, "teams-url", rc.URL+"/workflows/abc\n")
			e.file(t, "hmac", "shared-secret\n")
			sink := strings.ReplaceAll(tt.sink, "%URL%", rc.URL)
			a := e.open(t, fmt.Sprintf("cluster: prod-eu\nsinks:\n  - name: s\n    dedupeWindow: 0s\n    %s\n", sink), rc.Client().Transport)
			rec := denial("web-1", "registry.example/bad:1", hostileReason)
			rec.DryRun = true
			rec.Images[1] = decisionlog.Image{Image: long, Allowed: false, Outcome: "inconclusive", Reason: "timeout"}
			a.Decisions(decisionlog.Discard).Write(rec)
			r := rc.wait(t, 1)
			tt.check(t, r[0])
			e.waitCount(t, "s", alert.OutcomeSent, 1)
		})
	}
}

// TestEventsThroughAPI fires the events that do not come from an
// admission through the Alerter's methods.
func TestEventsThroughAPI(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t)
	a := e.open(t, "cluster: c1\nsinks:\n  - name: all\n    type: webhook\n    url: "+rc.URL+"\n    dedupeWindow: 0s\n    events: [reverification-failed, policy-reload-failed, redis-breaker-open, warned]\n", rc.Client().Transport)
	a.ReverificationFailed("team-b", alert.Object{Kind: "Deployment", Name: "api"}, []alert.Image{{Image: "registry.example/api@sha256:" + strings.Repeat("1", 64), Outcome: "failed", Rule: "registry.example/**", Reason: "signature deleted"}})
	a.PolicyReloadFailed("/etc/signet/policy.yaml", fmt.Errorf("line 3: unknown field"))
	a.RedisBreakerOpen(fmt.Errorf("dial tcp: refused"))
	a.Decisions(decisionlog.Discard).Write(denial("ignored", "registry.example/bad:1", "no")) // denied: not this sink's
	w := denial("warned", "registry.example/w:1", "unsigned")
	w.Decision = "warned"
	w.Images[0].Allowed, w.Images[0].Mode = true, "warn"
	a.Decisions(decisionlog.Discard).Write(w)
	got := map[alert.Event]alert.Alert{}
	for _, r := range rc.wait(t, 4) {
		var p alert.Alert
		decodeJSON(t, r.body, &p)
		got[p.Event] = p
	}
	if r := got[alert.EventReverificationFailed]; r.Decision != "failed" || r.Namespace != "team-b" || r.Object.Name != "api" || len(r.Images) != 1 || r.Reasons[0] != "signature deleted" || r.Cluster != "c1" {
		t.Errorf("reverification-failed: %+v", r)
	}
	if r := got[alert.EventPolicyReloadFailed]; !strings.Contains(r.Message, "unknown field") || r.Object.Name != "/etc/signet/policy.yaml" {
		t.Errorf("policy-reload-failed: %+v", r)
	}
	if r := got[alert.EventRedisBreakerOpen]; !strings.Contains(r.Message, "refused") {
		t.Errorf("redis-breaker-open: %+v", r)
	}
	if r := got[alert.EventWarned]; r.Decision != "warned" || len(r.Images) != 1 || r.Images[0].Image != "registry.example/w:1" {
		t.Errorf("warned: %+v", r)
	}
	if len(rc.requests()) != 4 {
		t.Errorf("%d requests", len(rc.requests()))
	}
}

// TestTemplate renders an operator's template with the sink's escaping.
func TestTemplate(t *testing.T) {
	rc := newReceiver(t)
	e := newEnv(t)
	e.vars["U"] = rc.URL + "/services/x"
	a := e.open(t, `sinks:
  - name: custom
    type: slack
    urlFrom: {env: U}
    dedupeWindow: 0s
    template:
      title: "{{.Object.Kind}} denied in {{.Namespace}}"
      text: "{{range .Images}}{{.Image}}: {{.Reason}};{{end}} by {{.User}}"
`, rc.Client().Transport)
	a.Decisions(decisionlog.Discard).Write(denial("p", "registry.example/bad:1", "<@U123>"))
	body := string(rc.wait(t, 1)[0].body)
	for _, want := range []string{`"Pod denied in team-a"`, `registry.example/bad:1: \u0026lt;@U123\u0026gt;;`, "by system:serviceaccount:ci:deployer"} {
		if !strings.Contains(body, want) {
			t.Errorf("%s missing from %s", want, body)
		}
	}
}
