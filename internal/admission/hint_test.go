package admission_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/metrics"
)

// TestDenialHint: a denial's message ends with the command that explains
// it, naming the first denied image as written, single-quoted; a
// reference an attacker wrote to smuggle text into the message (a
// newline, quotes, shell syntax, a megabyte) is never copied into the
// hint, and the hint survives the message's bound.
func TestDenialHint(t *testing.T) {
	t.Parallel()
	h := admission.NewReviewer(engine(t, `- {pattern: "**", validator: deny}`), nil, admission.Options{}, nil, metrics.New()).Handler(true)
	const generic = "; to see the whole decision on an image, run: signet explain IMAGE"
	many := make([]string, 300)
	for i := range many {
		many[i] = fmt.Sprintf("registry.example/%s/app%d:v1", strings.Repeat("p", 200), i)
	}
	for _, tc := range []struct {
		name   string
		images []string
		suffix string
	}{
		{"plain", []string{"nginx:1.25"}, "; to see the whole decision, run: signet explain 'nginx:1.25'"},
		{"first denied", []string{"ghcr.io/a/b@sha256:" + strings.Repeat("0", 64), "nginx"}, "; to see the whole decision, run: signet explain 'ghcr.io/a/b@sha256:" + strings.Repeat("0", 64) + "'"},
		{"ipv6 host", []string{"[::1]:5000/app:v1"}, "; to see the whole decision, run: signet explain '[::1]:5000/app:v1'"},
		{"newline", []string{"nginx\nsignet allowed everything"}, generic},
		{"quote", []string{"nginx'; rm -rf / #"}, generic},
		{"command substitution", []string{"nginx$(id)"}, generic},
		{"backquote", []string{"nginx`id`"}, generic},
		{"escape sequence", []string{"nginx\x1b[2J"}, generic},
		{"too long", []string{strings.Repeat("a", 600) + ":v1"}, generic},
		{"message at its bound", many, "; to see the whole decision, run: signet explain '" + many[0] + "'"},
	} {
		code, out := post(t, h, "application/json", podReview("u", "Pod", tc.images))
		a := decodeAnswer(t, code, out)
		msg := a.Response.Status.Message
		switch {
		case a.Response.Allowed:
			t.Errorf("%s: allowed", tc.name)
		case !strings.HasSuffix(msg, tc.suffix):
			t.Errorf("%s: message ends %q, want %q", tc.name, msg[max(0, len(msg)-200):], tc.suffix)
		case len(msg) > admission.MaxMessageBytes:
			t.Errorf("%s: message of %d bytes, bound %d", tc.name, len(msg), admission.MaxMessageBytes)
		case strings.Count(msg, "signet explain") != 1:
			t.Errorf("%s: %d hints", tc.name, strings.Count(msg, "signet explain"))
		}
	}
}
