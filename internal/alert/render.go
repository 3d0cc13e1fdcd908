package alert

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"text/template"
	"unicode/utf8"
)

// The default title and text, for every sink; each sink escapes the
// alert's strings for its markup before a template sees them.
const (
	DefaultTitle = `signet: {{.Event}}{{if .Object.Name}} {{.Object.Kind}} {{if .Namespace}}{{.Namespace}}/{{end}}{{.Object.Name}}{{end}}{{if gt .Count 1}} ({{.Count}} times){{end}}`
	DefaultText  = `{{range .Images}}• {{.Image}} ({{.Outcome}}{{if .Rule}}, rule {{.Rule}}{{end}}): {{.Reason}}
{{end}}{{if .MoreImages}}… and {{.MoreImages}} more images
{{end}}{{if not .Images}}{{range .Reasons}}{{.}}
{{end}}{{end}}{{if .Message}}{{.Message}}
{{end}}{{if .User}}user: {{.User}}
{{end}}{{if .Cluster}}cluster: {{.Cluster}}
{{end}}{{if gt .Count 1}}{{.Count}} times from {{.Time.Format "15:04:05"}} to {{.LastTime.Format "15:04:05 MST"}}{{else}}at {{.Time.Format "2006-01-02 15:04:05 MST"}}{{end}}`
)

var defaultTitle, defaultText = template.Must(parseTemplate(DefaultTitle)), template.Must(parseTemplate(DefaultText))

// Sizes of the services' fields (their documented limits).
const (
	slackHeaderMax   = 150   // plain_text of a header block
	slackSectionMax  = 3000  // text of a section block
	teamsTextMax     = 10000 // kept well under the 28 KB card limit
	opsgenieMessage  = 130
	opsgenieDescMax  = 15000
	opsgenieAliasMax = 512
	opsgenieDetail   = 8000 // a detail's value
)

// renderer turns an alert into a request body and sets its headers.
type renderer interface {
	render(a *Alert, title, text string) ([]byte, error)
	header(h http.Header, body []byte)
	// escape makes a string from a request safe in the sink's markup.
	escape(s string) string
}

// texts executes the sink's templates over a copy of a whose strings are
// escaped for the sink.
func texts(r renderer, title, text *template.Template, a *Alert) (string, string, error) {
	e := escaped(a, r.escape)
	var tb, xb limitedBuffer
	tb.max, xb.max = MaxTemplate, MaxTemplate
	if err := title.Execute(&tb, e); err != nil {
		return "", "", fmt.Errorf("title template: %w", err)
	}
	if err := text.Execute(&xb, e); err != nil {
		return "", "", fmt.Errorf("text template: %w", err)
	}
	return strings.TrimSpace(tb.String()), strings.TrimSpace(xb.String()), nil
}

func escaped(a *Alert, esc func(string) string) *Alert {
	e := *a
	e.Namespace, e.Object.Kind, e.Object.Name, e.User, e.Rule, e.Message, e.Cluster =
		esc(a.Namespace), esc(a.Object.Kind), esc(a.Object.Name), esc(a.User), esc(a.Rule), esc(a.Message), esc(a.Cluster)
	e.Images = make([]Image, len(a.Images))
	for i, im := range a.Images {
		e.Images[i] = Image{Image: esc(im.Image), Digest: esc(im.Digest), Outcome: esc(im.Outcome), Rule: esc(im.Rule), Reason: esc(im.Reason)}
	}
	e.Reasons = make([]string, len(a.Reasons))
	for i, r := range a.Reasons {
		e.Reasons[i] = esc(r)
	}
	return &e
}

// cut shortens s to max bytes on a rune boundary.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max - len("…")
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// cutRunes shortens s to max characters.
func cutRunes(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// slack posts Block Kit to an incoming webhook: a header, a section with
// the text, and the plain-text fallback Slack shows in notifications.
type slack struct{}

var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// escape applies Slack's mrkdwn escaping (&, <, >): no link, mention
// (<!channel>) or user reference can come from an image name or reason.
func (slack) escape(s string) string { return slackEscaper.Replace(s) }

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}
type slackBlock struct {
	Type string     `json:"type"`
	Text *slackText `json:"text,omitempty"`
}

func (slack) render(_ *Alert, title, text string) ([]byte, error) {
	// A header is plain_text: Slack shows it verbatim, so the entities
	// the escaping made are turned back.
	plain := strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">").Replace(title)
	return json.Marshal(struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks"`
	}{
		Text: cut(title, slackSectionMax),
		Blocks: []slackBlock{
			{Type: "header", Text: &slackText{Type: "plain_text", Text: cutRunes(plain, slackHeaderMax)}},
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: cut(text, slackSectionMax)}},
		},
	})
}

func (slack) header(h http.Header, _ []byte) { h.Set("Content-Type", "application/json") }

// teams posts a message with one Adaptive Card attachment, the envelope a
// Teams workflow ("Post to a channel when a webhook request is received")
// takes.
type teams struct{}

// The characters Adaptive Cards' Markdown subset acts on, escaped with a
// backslash: no link or emphasis from a request.
var teamsEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "_", `\_`, "[", `\[`, "]", `\]`, "(", `\(`, ")", `\)`, "#", `\#`, "`", "\\`", "<", `\<`, ">", `\>`, "~", `\~`, "|", `\|`)

func (teams) escape(s string) string { return teamsEscaper.Replace(s) }

type teamsCard struct {
	Schema  string      `json:"$schema"`
	Type    string      `json:"type"`
	Version string      `json:"version"`
	Body    []teamsText `json:"body"`
}
type teamsText struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Wrap   bool   `json:"wrap"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Color  string `json:"color,omitempty"`
}
type teamsAttachment struct {
	ContentType string    `json:"contentType"`
	ContentURL  *string   `json:"contentUrl"`
	Content     teamsCard `json:"content"`
}

func (teams) render(a *Alert, title, text string) ([]byte, error) {
	color := "Warning"
	if a.Event != EventWarned {
		color = "Attention"
	}
	// Adaptive Cards join single newlines: a list needs blank lines.
	text = strings.ReplaceAll(cut(text, teamsTextMax), "\n", "\n\n")
	return json.Marshal(struct {
		Type        string            `json:"type"`
		Attachments []teamsAttachment `json:"attachments"`
	}{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content: teamsCard{
				Schema: "http://adaptivecards.io/schemas/adaptive-card.json", Type: "AdaptiveCard", Version: "1.4",
				Body: []teamsText{
					{Type: "TextBlock", Text: cut(title, 500), Wrap: true, Weight: "Bolder", Size: "Medium", Color: color},
					{Type: "TextBlock", Text: text, Wrap: true},
				},
			},
		}},
	})
}

func (teams) header(h http.Header, _ []byte) { h.Set("Content-Type", "application/json") }

// opsgenie creates an alert (Alert API v2, POST /v2/alerts). The alias is
// the de-duplication key's hash, so Opsgenie itself folds repeats of an
// open alert into its count too.
type opsgenie struct {
	key, priority string
	tags          []string
}

func (opsgenie) escape(s string) string { return s }

type opsgenieAlert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Tags        []string          `json:"tags"`
	Details     map[string]string `json:"details"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
}

func (o opsgenie) render(a *Alert, title, text string) ([]byte, error) {
	sum := sha256.Sum256([]byte(a.key))
	images := make([]string, len(a.Images))
	for i, im := range a.Images {
		images[i] = im.Image
	}
	details := map[string]string{
		"event": string(a.Event), "count": strconv.Itoa(a.Count), "cluster": a.Cluster, "namespace": a.Namespace,
		"kind": a.Object.Kind, "name": a.Object.Name, "user": a.User, "rule": a.Rule, "images": cut(strings.Join(images, " "), opsgenieDetail),
	}
	for k, v := range details {
		if v == "" {
			delete(details, k)
		}
	}
	entity := a.Object.Name
	if a.Namespace != "" && entity != "" {
		entity = a.Namespace + "/" + entity
	}
	tags := append(append(make([]string, 0, len(o.tags)+2), o.tags...), "signet", string(a.Event))
	return json.Marshal(opsgenieAlert{
		Message:     cutRunes(title, opsgenieMessage),
		Alias:       cut("signet-"+hex.EncodeToString(sum[:16]), opsgenieAliasMax),
		Description: cut(text, opsgenieDescMax),
		Tags:        tags,
		Details:     details,
		Entity:      cut(entity, 512),
		Source:      "signet",
		Priority:    o.priority,
	})
}

func (o opsgenie) header(h http.Header, _ []byte) {
	h.Set("Content-Type", "application/json")
	h.Set("Authorization", "GenieKey "+o.key)
}

// webhook posts the alert object as JSON with the rendered title and
// text, signed when it has a secret.
type webhook struct{ secret []byte }

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of the body
// under the webhook's secret.
const SignatureHeader = "X-Signet-Signature-256"

func (webhook) escape(s string) string { return s }

func (webhook) render(a *Alert, title, text string) ([]byte, error) {
	return json.Marshal(struct {
		*Alert
		Title string `json:"title"`
		Text  string `json:"text"`
	}{a, title, text})
}

func (w webhook) header(h http.Header, body []byte) {
	h.Set("Content-Type", "application/json")
	if len(w.secret) > 0 {
		h.Set(SignatureHeader, Sign(w.secret, body))
	}
}

// Sign returns the signature header value of body under secret, for
// receivers to compare with hmac.Equal.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
