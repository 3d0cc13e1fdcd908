package decisionlog_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/signet-dev/signet/internal/decisionlog"
)

// TestWriter: one parseable line per record, slog's shape, whole lines
// under concurrent writers.
func TestWriter(t *testing.T) {
	var buf bytes.Buffer
	w := decisionlog.New(&buf)
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			w.Write(&decisionlog.Record{UID: strings.Repeat("u", i), Decision: "denied", Reason: "a \"quoted\"\nreason",
				Images: []decisionlog.Image{{Path: "/spec/containers/0/image", Image: "x/y:z", Outcome: "failed"}}})
		})
	}
	wg.Wait()
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if m["level"] != "INFO" || m["msg"] != "admission" || m["time"] == "" || m["reason"] != "a \"quoted\"\nreason" {
			t.Errorf("line = %s", l)
		}
		if imgs, _ := m["images"].([]any); len(imgs) != 1 {
			t.Errorf("images = %v", m["images"])
		}
	}
}

// TestEmptyImages: an admission without images logs an empty list, not null.
func TestEmptyImages(t *testing.T) {
	var buf bytes.Buffer
	w := decisionlog.New(&buf)
	w.Write(&decisionlog.Record{Decision: "skipped"})
	w.Flush()
	if !strings.Contains(buf.String(), `"images":[]`) {
		t.Errorf("line = %s", buf.String())
	}
}

// TestBuffered: a record reaches the output within FlushInterval without
// a Flush, and a full buffer is written at once.
func TestBuffered(t *testing.T) {
	writes := make(chanWriter, 4)
	w := decisionlog.New(writes)
	w.Write(&decisionlog.Record{UID: "a"})
	select {
	case b := <-writes:
		if !strings.Contains(string(b), `"uid":"a"`) {
			t.Fatalf("wrote %q", b)
		}
	case <-time.After(10 * decisionlog.FlushInterval):
		t.Fatalf("record not written within %v", 10*decisionlog.FlushInterval)
	}
	full := make([]decisionlog.Image, decisionlog.BufferSize/decisionlog.MaxReasonBytes+1)
	for i := range full {
		full[i].Reason = strings.Repeat("x", decisionlog.MaxReasonBytes)
	}
	w.Write(&decisionlog.Record{UID: "b", Images: full})
	select {
	case b := <-writes:
		if !strings.Contains(string(b), `"uid":"b"`) {
			t.Fatalf("wrote %q", b)
		}
	default:
		t.Error("a full buffer was not written at once")
	}
}

// chanWriter hands every write to a channel.
type chanWriter chan []byte

func (c chanWriter) Write(p []byte) (int, error) {
	c <- append([]byte(nil), p...)
	return len(p), nil
}

// TestBound: every string a request chooses is cut to its limit, at a
// UTF-8 boundary, saying how much was cut.
func TestBound(t *testing.T) {
	huge := strings.Repeat("é", 3<<20) // 6 MiB
	var buf bytes.Buffer
	w := decisionlog.New(&buf)
	img := decisionlog.Image{Path: huge, Image: huge, Digest: huge, Pinned: huge, Outcome: huge, Mode: huge, Rule: huge, Validator: huge, Reason: huge}
	w.Write(&decisionlog.Record{UID: huge, Webhook: huge, Kind: huge, Namespace: huge, Name: huge, Operation: huge, User: huge,
		Decision: huge, Reason: huge, Images: []decisionlog.Image{img, img}})
	w.Flush()
	line := buf.String()
	fields := 8 + 2 + 2*9
	if max := fields*(decisionlog.MaxReasonBytes+32) + 1024; len(line) > max {
		t.Fatalf("line of %d bytes, want under %d", len(line), max)
	}
	var r decisionlog.Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		got string
		max int
	}{"uid": {r.UID, decisionlog.MaxFieldBytes}, "kind": {r.Kind, decisionlog.MaxFieldBytes}, "user": {r.User, decisionlog.MaxFieldBytes},
		"name": {r.Name, decisionlog.MaxFieldBytes}, "reason": {r.Reason, decisionlog.MaxReasonBytes},
		"image": {r.Images[1].Image, decisionlog.MaxFieldBytes}, "image reason": {r.Images[1].Reason, decisionlog.MaxReasonBytes}} {
		kept, cut, ok := strings.Cut(tc.got, "…(+")
		if !ok || len(kept) > tc.max || len(kept) < tc.max-1 || !strings.HasSuffix(cut, " bytes)") || !utf8.ValidString(kept) {
			t.Errorf("%s: %d bytes kept, want %d, then the count cut: %.40q", name, len(kept), tc.max, cut)
		}
	}
	if got := decisionlog.Truncate("short", 10); got != "short" {
		t.Errorf("Truncate(short) = %q", got)
	}
}

// TestTee: every sink gets every record.
func TestTee(t *testing.T) {
	var a, b bytes.Buffer
	wa, wb := decisionlog.New(&a), decisionlog.New(&b)
	tee := decisionlog.Tee(wa, decisionlog.Discard, wb)
	for _, uid := range []string{"x", "y"} {
		tee.Write(&decisionlog.Record{UID: uid})
	}
	wa.Flush()
	wb.Flush()
	for _, out := range []string{a.String(), b.String()} {
		if !strings.Contains(out, `"uid":"x"`) || !strings.Contains(out, `"uid":"y"`) {
			t.Errorf("output %q", out)
		}
	}
}
