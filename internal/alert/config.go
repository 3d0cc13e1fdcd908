package alert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	"go.yaml.in/yaml/v3"
)

// Bounds and defaults of the alerts file.
const (
	MaxFileSize   = 1 << 20 // the alerts file
	MaxSecretSize = 64 << 10
	MaxSinks      = 32
	MaxTemplate   = 8 << 10 // a template's source, and what it renders (cut)
	MaxQueue      = 10000

	DefaultQueue        = 256
	DefaultDedupeWindow = time.Minute
	DefaultRetries      = 3
	DefaultBackoff      = time.Second
	DefaultMaxBackoff   = 30 * time.Second
	DefaultTimeout      = 10 * time.Second
	MaxRetries          = 10
	MaxBackoffLimit     = 5 * time.Minute // also the longest Retry-After honoured
	MaxDedupeWindow     = time.Hour
)

// Sink types.
const (
	TypeSlack    = "slack"
	TypeTeams    = "teams"
	TypeOpsgenie = "opsgenie"
	TypeWebhook  = "webhook"
)

// Opsgenie's Alert API endpoints (SinkConfig.Region).
const (
	OpsgenieUS = "https://api.opsgenie.com/v2/alerts"
	OpsgenieEU = "https://api.eu.opsgenie.com/v2/alerts"
)

// Config is the alerts file.
type Config struct {
	// Cluster names the cluster in every alert (.Cluster).
	Cluster string       `yaml:"cluster"`
	Sinks   []SinkConfig `yaml:"sinks"`
}

// SinkConfig is one sink.
type SinkConfig struct {
	// Name identifies the sink in logs and in the sink label of
	// signet_alerts_total: [a-z0-9-], ≤ 63 characters, unique.
	Name string `yaml:"name"`
	// Type is slack, teams, opsgenie or webhook.
	Type string `yaml:"type"`
	// URL is where alerts go when it holds no secret (a webhook without a
	// token in its URL; Opsgenie's endpoint, when Region does not do).
	URL string `yaml:"url"`
	// URLFrom reads the URL from a file or an environment variable: Slack
	// and Teams URLs are credentials.
	URLFrom *SecretRef `yaml:"urlFrom"`
	// Events fire this sink; default denied and reverification-failed.
	Events []Event `yaml:"events"`
	// Template overrides the title and text (Go text/template over Alert).
	Template *Template `yaml:"template"`
	// RateLimit bounds the alerts sent; beyond it they are dropped.
	RateLimit *RateLimit `yaml:"rateLimit"`
	// DedupeWindow folds occurrences of one alert into one sent at the
	// end of the window with their count; 0 sends each at once.
	DedupeWindow *time.Duration `yaml:"dedupeWindow"`
	// QueueSize bounds the alerts waiting to be sent (and the open
	// de-duplication groups).
	QueueSize int    `yaml:"queueSize"`
	Retry     *Retry `yaml:"retry"`
	// Timeout bounds one request.
	Timeout time.Duration `yaml:"timeout"`

	// Opsgenie: the API key (a GenieKey), us (default) or eu, the
	// priority (P1–P5, default P3) and tags.
	APIKeyFrom *SecretRef `yaml:"apiKeyFrom"`
	Region     string     `yaml:"region"`
	Priority   string     `yaml:"priority"`
	Tags       []string   `yaml:"tags"`

	// Webhook: the shared secret of the X-Signet-Signature-256 header.
	SecretFrom *SecretRef `yaml:"secretFrom"`
}

// SecretRef names a secret: a file (a mounted Secret; trailing white
// space dropped) or an environment variable.
type SecretRef struct {
	File string `yaml:"file"`
	Env  string `yaml:"env"`
}

// Template is a sink's title and text.
type Template struct {
	Title string `yaml:"title"`
	Text  string `yaml:"text"`
}

// RateLimit allows Count alerts per Per (a token bucket of Count).
type RateLimit struct {
	Count int           `yaml:"count"`
	Per   time.Duration `yaml:"per"`
}

// Retry is how failed sends (network errors, 429, 5xx) are retried.
type Retry struct {
	Max        *int          `yaml:"max"`
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff"`
}

// ConfigError lists what is wrong with an alerts file, each problem with
// its line.
type ConfigError struct {
	Source   string
	Problems []string
}

func (e *ConfigError) Error() string {
	src := e.Source
	if src == "" {
		src = "alerts"
	}
	return src + ": " + strings.Join(e.Problems, "; ")
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Parse decodes and checks an alerts file strictly: unknown fields, wrong
// types and invalid values are errors naming their line.
func Parse(data []byte) (*Config, error) {
	if len(data) > MaxFileSize {
		return nil, &ConfigError{Problems: []string{fmt.Sprintf("larger than %d bytes", MaxFileSize)}}
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, &ConfigError{Problems: te.Errors}
		}
		return nil, &ConfigError{Problems: []string{err.Error()}}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &ConfigError{Problems: []string{"more than one YAML document"}}
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // decoded above: it parses
	if p := c.check(lines{&root}); len(p) > 0 {
		return nil, &ConfigError{Problems: p}
	}
	return &c, nil
}

// lines finds the line of a field for error messages.
type lines struct{ root *yaml.Node }

// of returns "line N: " for sinks[i].field (field "" for the sink).
func (l lines) of(i int, field string) string {
	n := l.root
	if n == nil || n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return ""
	}
	sinks := mapValue(n.Content[0], "sinks")
	if sinks == nil || sinks.Kind != yaml.SequenceNode || i >= len(sinks.Content) {
		return ""
	}
	s := sinks.Content[i]
	line := s.Line
	if field != "" && s.Kind == yaml.MappingNode {
		for j := 0; j+1 < len(s.Content); j += 2 {
			if s.Content[j].Value == field {
				line = s.Content[j].Line
			}
		}
	}
	return fmt.Sprintf("line %d: ", line)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			return n.Content[j+1]
		}
	}
	return nil
}

func (c *Config) check(l lines) []string {
	var p []string
	if len(c.Sinks) > MaxSinks {
		p = append(p, fmt.Sprintf("sinks: more than %d", MaxSinks))
		return p
	}
	if len(c.Cluster) > MaxString {
		p = append(p, fmt.Sprintf("cluster: longer than %d bytes", MaxString))
	}
	names := map[string]bool{}
	for i := range c.Sinks {
		s := &c.Sinks[i]
		bad := func(field, format string, args ...any) {
			path := fmt.Sprintf("sinks[%d]", i)
			if field != "" {
				path += "." + field
			}
			p = append(p, l.of(i, field)+path+": "+fmt.Sprintf(format, args...))
		}
		switch {
		case !nameRE.MatchString(s.Name):
			bad("name", "want 1-63 characters of a-z, 0-9 and -, got %q", s.Name)
		case names[s.Name]:
			bad("name", "%q names two sinks", s.Name)
		}
		names[s.Name] = true
		switch s.Type {
		case TypeSlack, TypeTeams, TypeWebhook:
			if (s.URL == "") == (s.URLFrom == nil) {
				bad("url", "give url or urlFrom (one of them)")
			}
			if s.Type != TypeWebhook && s.URL != "" {
				bad("url", "a %s webhook URL is a credential: give it in urlFrom (a file or an environment variable)", s.Type)
			}
		case TypeOpsgenie:
			if s.URLFrom != nil {
				bad("urlFrom", "opsgenie's URL is not secret: use url or region")
			}
			if s.APIKeyFrom == nil {
				bad("apiKeyFrom", "opsgenie needs its API key (a file or an environment variable)")
			}
			switch s.Region {
			case "", "us", "eu":
			default:
				bad("region", "want us or eu, got %q", s.Region)
			}
			switch s.Priority {
			case "", "P1", "P2", "P3", "P4", "P5":
			default:
				bad("priority", "want P1 to P5, got %q", s.Priority)
			}
			if len(s.Tags) > 20 {
				bad("tags", "more than 20")
			}
			for _, t := range s.Tags {
				if t == "" || len(t) > 50 {
					bad("tags", "a tag is 1-50 characters, got %q", t)
				}
			}
		default:
			bad("type", "want slack, teams, opsgenie or webhook, got %q", s.Type)
		}
		if s.Type != TypeOpsgenie && (s.APIKeyFrom != nil || s.Region != "" || s.Priority != "" || len(s.Tags) > 0) {
			bad("", "apiKeyFrom, region, priority and tags are for opsgenie")
		}
		if s.Type != TypeWebhook && s.SecretFrom != nil {
			bad("secretFrom", "only a webhook signs its payload")
		}
		if s.URL != "" {
			if err := checkURL(s.URL); err != nil {
				bad("url", "%v", err)
			}
		}
		for _, r := range []struct {
			field string
			ref   *SecretRef
		}{{"urlFrom", s.URLFrom}, {"apiKeyFrom", s.APIKeyFrom}, {"secretFrom", s.SecretFrom}} {
			if r.ref != nil && (r.ref.File == "") == (r.ref.Env == "") {
				bad(r.field, "give file or env (one of them)")
			}
		}
		for _, e := range s.Events {
			if e.bit() == 0 {
				bad("events", "unknown event %q (want one of %v)", e, Events)
			}
		}
		if t := s.Template; t != nil {
			for _, src := range []string{t.Title, t.Text} {
				if _, err := parseTemplate(src); err != nil {
					bad("template", "%v", err)
				}
			}
		}
		if r := s.RateLimit; r != nil && (r.Count <= 0 || r.Per <= 0) {
			bad("rateLimit", "want a count > 0 per a duration > 0")
		}
		if w := s.DedupeWindow; w != nil && (*w < 0 || *w > MaxDedupeWindow) {
			bad("dedupeWindow", "want 0 to %s, got %s", MaxDedupeWindow, *w)
		}
		if s.QueueSize < 0 || s.QueueSize > MaxQueue {
			bad("queueSize", "want 1 to %d, got %d", MaxQueue, s.QueueSize)
		}
		if r := s.Retry; r != nil {
			if r.Max != nil && (*r.Max < 0 || *r.Max > MaxRetries) {
				bad("retry", "max: want 0 to %d", MaxRetries)
			}
			if r.Backoff < 0 || r.MaxBackoff < 0 || r.Backoff > MaxBackoffLimit || r.MaxBackoff > MaxBackoffLimit {
				bad("retry", "backoffs: want 0 to %s", MaxBackoffLimit)
			}
		}
		if s.Timeout < 0 || s.Timeout > time.Minute {
			bad("timeout", "want up to 1m, got %s", s.Timeout)
		}
	}
	return p
}

// checkURL wants HTTPS, or plain HTTP to a loopback address (a receiver
// on the same host), and no user information.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.User != nil {
		return errors.New("no user information in the URL")
	}
	switch {
	case u.Host == "":
		return errors.New("no host in the URL")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return errors.New("want https:// (plain http only to a loopback address)")
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// read reads the secret; a relative file is relative to dir (the alerts
// file's).
func (r *SecretRef) read(dir string, getenv func(string) (string, bool)) (string, error) {
	if r.Env != "" {
		v, ok := getenv(r.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", r.Env)
		}
		return strings.TrimSpace(v), nil
	}
	path := r.File
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretSize+1))
	if err != nil {
		return "", fmt.Errorf("reading secret file %s: %w", r.File, err)
	}
	if len(b) > MaxSecretSize {
		return "", fmt.Errorf("secret file %s: larger than %d bytes", r.File, MaxSecretSize)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", r.File)
	}
	return v, nil
}

func parseTemplate(src string) (*template.Template, error) {
	if len(src) > MaxTemplate {
		return nil, fmt.Errorf("longer than %d bytes", MaxTemplate)
	}
	t, err := template.New("alert").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, err
	}
	// Executed once on a sample, so a template naming a field the alert
	// does not have fails here, not when an alert is due.
	if err := t.Execute(&limitedBuffer{max: MaxTemplate}, sample); err != nil {
		return nil, err
	}
	return t, nil
}

var sample = func() *Alert {
	a := &Alert{Event: EventDenied, Decision: "denied", Namespace: "default", Object: Object{Kind: "Pod", Name: "web"}, User: "alice",
		Images: []Image{{Image: "docker.io/library/nginx:1.25", Outcome: "failed", Rule: "docker.io/**", Reason: "no valid signature"}}}
	a.normalise("prod", time.Unix(0, 0).UTC())
	return a
}()

// limitedBuffer keeps the first max bytes written and drops the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
	cut bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.cut = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}
