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
	// PolicyGeneration and PolicyHash identify the policy in force
	// (policy.Engine.Generation, Hash): the generation is
	// signet_policy_generation; the hash is alike on every replica with
	// the same policy; 0 and "" before one is in force.
	PolicyGeneration int64  `json:"policyGeneration"`
	PolicyHash       string `json:"policyHash,omitempty"`
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

// Tee returns a Sink that writes each record to every sink in turn.
func Tee(sinks ...Sink) Sink { return tee(sinks) }

type tee []Sink

func (t tee) Write(r *Record) {
	for _, s := range t {
		s.Write(r)
	}
}

// Writer writes records as JSON lines to an io.Writer, buffered: records
// are gathered for up to FlushInterval (or BufferSize bytes) and written
// together, so a busy webhook makes one write a few times a second rather
// than one per admission. Flush writes what is pending; call it before the
// process exits.
type Writer struct {
	mu      sync.Mutex
	out     io.Writer
	pending []byte
	armed   bool // a flush is scheduled
}

// FlushInterval bounds how long a record waits in the buffer.
const FlushInterval = 100 * time.Millisecond

// BufferSize is how many bytes are gathered before they are written at once.
const BufferSize = 64 << 10

// New returns a Writer to out.
func New(out io.Writer) *Writer { return &Writer{out: out} }

var bufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Write encodes r as one line, its strings bounded (Record.Bound). Level
// and Msg default to INFO and "admission"; Time to now. A failed write is dropped: the decision has
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
	r.Bound()
	buf := bufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= BufferSize { // a record of many images is not kept
			bufs.Put(buf)
		}
	}()
	buf.Reset()
	if err := json.MarshalWrite(buf, r); err != nil {
		return
	}
	buf.WriteByte('\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, buf.Bytes()...)
	switch {
	case len(w.pending) >= BufferSize:
		w.flushLocked()
	case !w.armed:
		w.armed = true
		time.AfterFunc(FlushInterval, func() { _ = w.Flush() })
	}
}

// Flush writes the records gathered so far.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	w.armed = false
	if len(w.pending) == 0 {
		return nil
	}
	_, err := w.out.Write(w.pending)
	if cap(w.pending) > 4*BufferSize {
		w.pending = nil // after a burst, give the memory back
	} else {
		w.pending = w.pending[:0]
	}
	return err
}
