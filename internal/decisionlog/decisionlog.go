package decisionlog

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
)

// Image is the decision on one image of an object.
type Image struct {
	Path      string `json:"path"`
	Image     string `json:"image"`
	Digest    string `json:"digest,omitempty"`
	Pinned    string `json:"pinned,omitempty"`
	Allowed   bool   `json:"allowed"`
	Outcome   string `json:"outcome"`
	Mode      string `json:"mode"`
	Rule      string `json:"rule,omitempty"`
	Validator string `json:"validator,omitempty"`
	Reason    string `json:"reason"`
}

// Record is one admission decision.
type Record struct {
	Time      time.Time `json:"time"`
	Level     string    `json:"level"`
	Msg       string    `json:"msg"`
	UID       string    `json:"uid"`
	Webhook   string    `json:"webhook"`
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Operation string    `json:"operation"`
	User      string    `json:"user"`
	DryRun    bool      `json:"dryRun"`
	Decision  string    `json:"decision"`
	Reason    string    `json:"reason"`
	Images    []Image   `json:"images"`
	LatencyMs float64   `json:"latencyMs"`
}

// Sink receives decision records. Implementations must be safe for
// concurrent use and must not keep r after returning.
type Sink interface {
	Write(r *Record)
}

// Discard drops every record.
var Discard Sink = discard{}

type discard struct{}

func (discard) Write(*Record) {}

// Writer writes records as JSON lines to an io.Writer.
type Writer struct {
	mu  sync.Mutex
	out io.Writer
}

// New returns a Writer to out.
func New(out io.Writer) *Writer { return &Writer{out: out} }

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Write encodes r as one line. Level and Msg default to INFO and
// "admission"; Time to now. A failed write is dropped: the decision has
// been made and answered, and the log's destination (stderr) has no one
// to report to.
func (w *Writer) Write(r *Record) {
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	if r.Level == "" {
		r.Level = "INFO"
	}
	if r.Msg == "" {
		r.Msg = "admission"
	}
	if r.Images == nil {
		r.Images = []Image{}
	}
	buf := bufs.Get().(*bytes.Buffer)
	defer bufs.Put(buf)
	buf.Reset()
	if err := json.MarshalWrite(buf, r); err != nil {
		return
	}
	buf.WriteByte('\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.out.Write(buf.Bytes())
}
