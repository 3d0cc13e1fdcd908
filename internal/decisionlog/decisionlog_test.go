package decisionlog_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

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
// a Flush, and not before a Flush or the interval.
func TestBuffered(t *testing.T) {
	out := &syncBuffer{}
	w := decisionlog.New(out)
	w.Write(&decisionlog.Record{UID: "a"})
	deadline := time.Now().Add(10 * decisionlog.FlushInterval)
	for out.String() == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(out.String(), `"uid":"a"`) {
		t.Fatalf("record not written within %v: %q", 10*decisionlog.FlushInterval, out.String())
	}
	// A full buffer is written at once.
	big := strings.Repeat("x", decisionlog.BufferSize)
	w.Write(&decisionlog.Record{UID: "b", Reason: big})
	if !strings.Contains(out.String(), `"uid":"b"`) {
		t.Error("a full buffer was not written at once")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
