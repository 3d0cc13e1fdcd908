package auditlog_test

import (
	"testing"

	"github.com/signet-dev/signet/internal/auditlog"
)

// FuzzParseLine: the verifier's line parser returns a line or an error,
// never panics, for any bytes.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		`{"seq":0,"prev":"","time":"2026-12-05T03:00:00Z","type":"genesis","genesis":{"instance":"a","start":"2026-12-05T03:00:00Z"}}`,
		`{"seq":1,"prev":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","time":"2026-12-05T03:00:00.5Z","type":"decision","decision":{"uid":"x","images":[]}}`,
		`{"seq":2,"prev":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","time":"2026-12-05T03:00:01Z","type":"checkpoint","checkpoint":{"count":2,"head":"e3","keyId":"k","signature":"AAAA"}}`,
		`{"seq":3,"prev":"","time":"x","type":"rotate","rotate":{"previous":"a.jsonl"}}`,
		`{"seq":1,"seq":2}`, `[]`, `{"type":"decision","decision":null}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := auditlog.ParseLine(b)
		if err == nil && (l == nil || l.Type == "") {
			t.Fatalf("no error and no line for %q", b)
		}
	})
}
