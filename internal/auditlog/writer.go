package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
)

// Defaults of Options.
const (
	DefaultMaxFileBytes       = 100 << 20
	DefaultMaxFiles           = 10
	DefaultCheckpointLines    = 1000
	DefaultCheckpointInterval = time.Minute
)

// Queue bounds: at most QueueLines lines and QueueBytes bytes wait for the
// writer goroutine; beyond that a line is dropped and counted.
const (
	QueueLines = 4096
	QueueBytes = 16 << 20
)

// SignTimeout bounds one checkpoint signature (a KMS request).
const SignTimeout = 10 * time.Second

// ErrorLogInterval is the least time between two logged write errors; the
// ones in between are counted in the next message.
const ErrorLogInterval = 10 * time.Second

// Options configure a Writer.
type Options struct {
	// Path is the active file; "-" writes to Stdout, without rotation.
	Path string
	// Stdout is where "-" writes.
	Stdout io.Writer
	// Instance names this signet process in the genesis line (host or Pod
	// name).
	Instance string
	// MaxFileBytes rotates the active file before it would grow beyond
	// this size. Default DefaultMaxFileBytes.
	MaxFileBytes int64
	// MaxFiles is how many rotated files are kept beside the active one;
	// older ones are removed. Default DefaultMaxFiles; negative keeps all.
	MaxFiles int
	// Signer signs checkpoints (nil: none), KeyID names its key.
	Signer signature.Signer
	KeyID  string
	// CheckpointLines and CheckpointInterval set the checkpoint cadence.
	// Defaults DefaultCheckpointLines, DefaultCheckpointInterval.
	CheckpointLines    int
	CheckpointInterval time.Duration
	Log                *slog.Logger
	Metrics            *metrics.Metrics
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// item is one queued line's payload.
type item struct {
	record  []byte
	omitted int
}

// Writer is the audit log: a decisionlog.Sink whose Write returns at once.
// Close it to write what is queued and a last checkpoint.
type Writer struct {
	opts   Options
	queue  chan item
	queued atomic.Int64 // bytes in queue
	closed atomic.Bool
	done   chan struct{}
	exited chan struct{}
	err    atomic.Pointer[error]

	// owned by the writer goroutine
	out       io.Writer
	file      *os.File
	size      int64
	seq       uint64
	head      string
	sinceCkpt int

	logMu     sync.Mutex // lastErrAt, suppress: fail runs in callers too
	lastErrAt time.Time
	suppress  int
	genesis   *Genesis // until it is written
}

var _ decisionlog.Sink = (*Writer)(nil)

// Open starts a Writer: it rotates away a file left at Path by a previous
// process (linking the new genesis line to its last line) and writes the
// genesis line. A file that cannot be created or written is no error here
// (Err says so, and each line tries again): only options are.
func Open(opts Options) (*Writer, error) {
	if opts.Path == "" || (opts.Path == "-" && opts.Stdout == nil) {
		return nil, errors.New("audit log: no path, or no stdout for \"-\"")
	}
	if opts.MaxFileBytes <= 0 {
		opts.MaxFileBytes = DefaultMaxFileBytes
	}
	if opts.MaxFiles == 0 {
		opts.MaxFiles = DefaultMaxFiles
	}
	if opts.CheckpointLines <= 0 {
		opts.CheckpointLines = DefaultCheckpointLines
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	w := &Writer{opts: opts, queue: make(chan item, QueueLines), done: make(chan struct{}), exited: make(chan struct{})}
	if opts.Path == "-" {
		w.out = opts.Stdout
	} else if err := w.start(); err != nil {
		// Counted and logged like any write that fails: the next line
		// tries again (with --audit-required, admission denies meanwhile).
		w.fail("write", err)
	}
	g := &Genesis{Instance: opts.Instance, Start: opts.Now().UTC(), KeyID: opts.KeyID}
	if opts.Signer != nil {
		g.CheckpointLines, g.CheckpointInterval = opts.CheckpointLines, opts.CheckpointInterval.String()
	}
	w.genesis = g
	w.appendGenesis() // a failure is counted and retried before the next line
	go w.run()
	return w, nil
}

// Err is nil while the log is being written, else the last failure (a
// write or a full queue) until a line is written again. It does not touch
// the disk.
func (w *Writer) Err() error {
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Write queues r as a decision line. It never waits: when the queue is
// full the record is dropped and counted. r is not kept.
func (w *Writer) Write(r *decisionlog.Record) {
	if w.closed.Load() {
		return
	}
	rec := *r
	if rec.Time.IsZero() {
		rec.Time = w.opts.Now()
	}
	if rec.Level == "" {
		rec.Level = "INFO"
	}
	if rec.Msg == "" {
		rec.Msg = "admission"
	}
	rec.Bound()
	if rec.Images == nil {
		rec.Images = []decisionlog.Image{}
	}
	b, omitted, err := encodeRecord(&rec)
	if err != nil {
		w.fail("encode", err)
		return
	}
	if w.queued.Add(int64(len(b))) > QueueBytes {
		w.queued.Add(-int64(len(b)))
		w.fail("queue_full", errors.New("audit log queue full"))
		return
	}
	select {
	case w.queue <- item{record: b, omitted: omitted}:
	default:
		w.queued.Add(-int64(len(b)))
		w.fail("queue_full", errors.New("audit log queue full"))
	}
}

// lineOverhead is room left in a line for everything but the record.
const lineOverhead = 512

// encodeRecord encodes r, leaving images out from the end once the line
// would grow beyond MaxLineBytes: an image is encoded only while there is
// room for it, so a record of many images costs no more than a line.
func encodeRecord(r *decisionlog.Record) ([]byte, int, error) {
	imgs := r.Images
	r.Images = []decisionlog.Image{}
	b, err := json.Marshal(r)
	r.Images = imgs
	if err != nil {
		return nil, 0, err
	}
	// Every string of r is escaped: only the field itself reads so.
	at := bytes.Index(b, []byte(`"images":[]`))
	if at < 0 {
		return nil, 0, errors.New("record without images")
	}
	at += len(`"images":[`)
	room := MaxLineBytes - lineOverhead - len(b)
	var list []byte
	kept := 0
	for i := range imgs {
		ib, err := json.Marshal(&imgs[i])
		if err != nil {
			return nil, 0, err
		}
		if len(list)+len(ib)+1 > room {
			break
		}
		if kept > 0 {
			list = append(list, ',')
		}
		list = append(list, ib...)
		kept++
	}
	if room < 0 {
		return nil, 0, fmt.Errorf("record of %d bytes without images", len(b))
	}
	out := make([]byte, 0, len(b)+len(list))
	out = append(append(append(out, b[:at]...), list...), b[at:]...)
	return out, len(imgs) - kept, nil
}

// Queued is the number of bytes waiting to be written.
func (w *Writer) Queued() int64 { return w.queued.Load() }

// Close writes what is queued and a last checkpoint, and closes the file.
// It waits at most until ctx is done.
func (w *Writer) Close(ctx context.Context) error {
	if w.closed.Swap(true) {
		return nil
	}
	close(w.done)
	select {
	case <-w.exited:
	case <-ctx.Done():
		return ctx.Err()
	}
	if w.file != nil {
		return w.file.Close()
	}
	return nil
}

func (w *Writer) run() {
	defer close(w.exited)
	tick := time.NewTicker(w.opts.CheckpointInterval)
	defer tick.Stop()
	for {
		select {
		case it := <-w.queue:
			w.decision(it)
		case <-tick.C:
			w.checkpoint()
		case <-w.done:
			for {
				select {
				case it := <-w.queue:
					w.decision(it)
				default:
					w.checkpoint()
					return
				}
			}
		}
	}
}

func (w *Writer) decision(it item) {
	w.queued.Add(-int64(len(it.record)))
	if w.genesis != nil && w.appendGenesis() != nil {
		return
	}
	if err := w.append(&Line{Type: TypeDecision, Decision: it.record, OmittedImages: it.omitted}); err != nil {
		return
	}
	if w.sinceCkpt >= w.opts.CheckpointLines {
		w.checkpoint()
	}
}

// checkpoint writes a signed checkpoint when lines were written since the
// last one.
func (w *Writer) checkpoint() {
	if w.opts.Signer == nil || w.sinceCkpt == 0 {
		return
	}
	now := w.opts.Now().UTC()
	// A KMS that does not answer holds the writer (and so the queue) no
	// longer than SignTimeout.
	ctx, cancel := context.WithTimeout(context.Background(), SignTimeout)
	defer cancel()
	sig, err := w.opts.Signer.SignMessage(bytes.NewReader(CheckpointMessage(w.seq, w.head, timeField(now))), options.WithContext(ctx))
	if err != nil {
		w.fail("sign", err)
		return
	}
	c := &Checkpoint{Count: w.seq, Head: w.head, KeyID: w.opts.KeyID, Signature: sig}
	if w.appendAt(&Line{Type: TypeCheckpoint, Checkpoint: c}, now) == nil {
		w.sinceCkpt = 0
		if w.file != nil {
			if err := w.file.Sync(); err != nil {
				w.fail("write", err)
			}
		}
	}
}

func (w *Writer) append(l *Line) error { return w.appendAt(l, w.opts.Now().UTC()) }

// appendGenesis writes the genesis line, first of the process's lines.
func (w *Writer) appendGenesis() error {
	g := w.genesis
	w.genesis = nil
	if err := w.append(&Line{Type: TypeGenesis, Genesis: g}); err != nil {
		w.genesis = g
		return err
	}
	return nil
}

// appendAt chains l to the head, rotating first when it would not fit,
// and writes it. A failed write leaves the chain as it was.
func (w *Writer) appendAt(l *Line, now time.Time) error {
	if w.file == nil && w.out == nil {
		if err := w.openFile(); err != nil {
			w.fail("write", err)
			return err
		}
	}
	b, err := w.encode(l, now)
	if err != nil {
		w.fail("encode", err)
		return err
	}
	if w.file != nil && w.size > 0 && w.size+int64(len(b)) > w.opts.MaxFileBytes && l.Type != TypeCheckpoint {
		if err := w.rotate(); err != nil {
			w.fail("write", err)
			return err
		}
		if b, err = w.encode(l, now); err != nil {
			return err
		}
	}
	if err := w.writeLine(b); err != nil {
		w.fail("write", err)
		return err
	}
	return nil
}

func (w *Writer) encode(l *Line, now time.Time) ([]byte, error) {
	l.Seq, l.Prev, l.Time = w.seq, w.head, timeField(now)
	b, err := json.Marshal(l)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// writeLine writes b and advances the chain; on failure it cuts a partly
// written line off (or, failing that, starts a new file at the next line).
func (w *Writer) writeLine(b []byte) error {
	n, err := w.out.Write(b)
	if err != nil {
		if n > 0 && w.file != nil {
			if w.file.Truncate(w.size) != nil {
				// Set the torn file aside: the next line starts a new one.
				_, _ = w.renameAside()
			}
		}
		return err
	}
	w.size += int64(n)
	w.seq++
	w.head = Hash(b)
	w.sinceCkpt++
	w.err.Store(nil)
	return nil
}

// rotate ends the active file with a checkpoint, renames it aside, removes
// rotated files beyond MaxFiles and opens a new active file whose first
// line links to the old one.
func (w *Writer) rotate() error {
	w.checkpoint()
	prev, err := w.renameAside()
	if err != nil {
		return err
	}
	if err := w.openFile(); err != nil {
		return err
	}
	w.prune()
	b, err := w.encode(&Line{Type: TypeRotate, Rotate: &Rotate{Previous: filepath.Base(prev)}}, w.opts.Now().UTC())
	if err != nil {
		return err
	}
	return w.writeLine(b)
}

// renameAside closes the active file and renames it to
// <base>-<UTC time><ext>, which sorts in rotation order.
func (w *Writer) renameAside() (string, error) {
	if w.file != nil {
		w.file.Close()
		w.file, w.out = nil, nil
	}
	ext := filepath.Ext(w.opts.Path)
	to := strings.TrimSuffix(w.opts.Path, ext) + "-" + w.opts.Now().UTC().Format("20060102T150405.000000000Z") + ext
	return to, os.Rename(w.opts.Path, to)
}

func (w *Writer) openFile() error {
	f, err := os.OpenFile(w.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.file, w.out, w.size = f, f, st.Size()
	return nil
}

// Rotated lists the rotated files of the log at path, oldest first.
func Rotated(path string) ([]string, error) {
	ext := filepath.Ext(path)
	m, err := filepath.Glob(globEscape(strings.TrimSuffix(path, ext)) + "-" + rotatedGlob + globEscape(ext))
	slices.Sort(m)
	return m, err
}

// rotatedGlob matches the time renameAside names a rotated file with, and
// nothing else, so that retention removes no other file.
const rotatedGlob = "[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9].[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]Z"

func globEscape(s string) string {
	r := strings.NewReplacer(`*`, `\*`, `?`, `\?`, `[`, `\[`, `\`, `\\`)
	return r.Replace(s)
}

func (w *Writer) prune() {
	if w.opts.MaxFiles < 0 {
		return
	}
	old, err := Rotated(w.opts.Path)
	if err != nil || len(old) <= w.opts.MaxFiles {
		return
	}
	for _, f := range old[:len(old)-w.opts.MaxFiles] {
		if err := os.Remove(f); err != nil {
			w.opts.Log.Warn("audit log: removing an old file", "file", f, "error", err.Error())
		}
	}
}

// start creates Path's directory, continues the chain of a file left
// there, and opens the active file.
func (w *Writer) start() error {
	if err := os.MkdirAll(filepath.Dir(w.opts.Path), 0o700); err != nil {
		return err
	}
	if err := w.resume(); err != nil {
		return err
	}
	return w.openFile()
}

// resume continues the chain of a file a previous process left at Path:
// the seq and hash of its last complete line, and the file renamed aside.
func (w *Writer) resume() error {
	f, err := os.Open(w.opts.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return err
	}
	// The last whole line is within the file's last 2*MaxLineBytes (a
	// torn line after it, left by a crash, is at most MaxLineBytes).
	tail := make([]byte, min(st.Size(), 2*MaxLineBytes))
	if _, err := f.ReadAt(tail, st.Size()-int64(len(tail))); err != nil {
		return err
	}
	tail = tail[:bytes.LastIndexByte(tail, '\n')+1] // without a torn line
	last := tail[bytes.LastIndexByte(tail[:max(len(tail)-1, 0)], '\n')+1:]
	if l, err := ParseLine(bytes.TrimSuffix(last, []byte("\n"))); err == nil {
		w.seq, w.head = l.Seq+1, Hash(last)
	} else {
		w.opts.Log.Warn("audit log: the last line of the previous file is unreadable; a new chain starts", "file", w.opts.Path, "error", err.Error())
	}
	_, err = w.renameAside()
	if err == nil {
		w.prune()
	}
	return err
}

// fail records a lost line: Err, the metric, and a rate-limited log line.
func (w *Writer) fail(reason string, err error) {
	e := fmt.Errorf("audit log %s: %s: %w", w.opts.Path, reason, err)
	w.err.Store(&e)
	w.opts.Metrics.AuditWriteError(reason)
	w.logMu.Lock()
	defer w.logMu.Unlock()
	now := w.opts.Now()
	if now.Sub(w.lastErrAt) < ErrorLogInterval {
		w.suppress++
		return
	}
	w.opts.Log.Error("audit log: a line was not written", "reason", reason, "error", err.Error(), "suppressed", w.suppress)
	w.lastErrAt, w.suppress = now, 0
}
