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
	w.Write(&decisionlog.Record{UID: "b", Reason: strings.Repeat("x", decisionlog.BufferSize)})
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
