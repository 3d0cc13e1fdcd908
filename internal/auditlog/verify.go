package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// Report is what Verify found in a log that is intact.
type Report struct {
	Files       int
	Lines       uint64
	First, Last time.Time
	Checkpoints int
	// Covered is the number of lines the last checkpoint covers (its
	// count, plus the checkpoint itself); Uncovered the lines after it,
	// which a checkpoint does not yet vouch for.
	Covered, Uncovered uint64
	// UncoveredSince is the time of the last checkpoint (or of the first
	// line, without one); Interval the checkpoint interval the last
	// genesis line declares (0: none). Lines after the last checkpoint
	// that span more than twice the interval mean that a checkpoint the
	// writer would have written is missing (removed, or signing failed).
	UncoveredSince time.Time
	Interval       time.Duration
	// StartSeq is the seq of the first line given: lines before it (older
	// rotated files, removed by retention or not given) were not checked.
	StartSeq uint64
}

// TamperError names the first line where the log is not what signet
// wrote: File and Line (1-based) locate it.
type TamperError struct {
	File string
	Line int
	Msg  string
}

func (e *TamperError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Verify checks the files of one log, in the order of their chain (they
// are sorted by their first line's seq, so any order works): every line's
// prev is the hash of the line before it, seqs follow each other, and,
// with v, every checkpoint's count, head, key id and signature. A log that
// is not intact gives a *TamperError; an unreadable file another error.
func Verify(ctx context.Context, files []string, v signature.Verifier, keyID string) (*Report, error) {
	order, err := chainOrder(files)
	if err != nil {
		return nil, err
	}
	st := &state{v: v, keyID: keyID, ctx: ctx, rep: &Report{Files: len(files)}}
	for _, f := range order {
		if err := st.file(f); err != nil {
			return nil, err
		}
	}
	if st.n == 0 {
		return nil, errors.New("no lines")
	}
	st.rep.Uncovered = st.rep.Lines - st.rep.Covered
	if st.rep.Covered == 0 {
		st.rep.UncoveredSince = st.rep.First
	}
	return st.rep, nil
}

// chainOrder sorts files by the seq of their first line; a file whose
// first line cannot be read sorts first, so that it is reported.
func chainOrder(files []string) ([]string, error) {
	type fs struct {
		name string
		seq  int64
	}
	var all []fs
	for _, f := range files {
		h, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		var buf []byte
		first, err := readLine(bufio.NewReader(h), &buf)
		h.Close()
		seq := int64(-1)
		if err == nil {
			if l, err := ParseLine(first); err == nil {
				seq = int64(l.Seq)
			}
		}
		all = append(all, fs{f, seq})
	}
	slices.SortStableFunc(all, func(a, b fs) int { return int(min(max(a.seq-b.seq, -1), 1)) })
	out := make([]string, len(all))
	for i, f := range all {
		out[i] = f.name
	}
	return out, nil
}

type state struct {
	ctx     context.Context
	v       signature.Verifier
	keyID   string
	rep     *Report
	n       uint64 // lines read
	seq     uint64 // seq of the last line
	head    string // its hash
	file1   string // where the last line was
	line1   int
	buf     []byte
	started bool
}

func (s *state) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		line, err := readLine(r, &s.buf)
		if err == io.EOF {
			if n == 1 {
				return &TamperError{name, 1, "empty file"}
			}
			return nil
		}
		if err != nil {
			var te *TamperError
			if errors.As(err, &te) {
				te.File, te.Line = name, n
			}
			return err
		}
		if err := s.line(name, n, line); err != nil {
			return err
		}
	}
}

// readLine returns the next line without its newline. A last line
// without a newline (a torn write, a truncation) and a line of more than
// MaxLineBytes are TamperErrors.
func readLine(r *bufio.Reader, buf *[]byte) ([]byte, error) {
	*buf = (*buf)[:0]
	for {
		chunk, err := r.ReadSlice('\n')
		*buf = append(*buf, chunk...)
		if len(*buf) > MaxLineBytes {
			return nil, &TamperError{Msg: fmt.Sprintf("line longer than %d bytes: altered", MaxLineBytes)}
		}
		switch {
		case err == nil:
			return (*buf)[:len(*buf)-1], nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(*buf) == 0:
			return nil, io.EOF
		case err == io.EOF:
			return nil, &TamperError{Msg: "last line incomplete (no newline): truncated or altered"}
		default:
			return nil, err
		}
	}
}

func (s *state) line(file string, n int, b []byte) error {
	bad := func(format string, a ...any) error {
		return &TamperError{file, n, fmt.Sprintf(format, a...)}
	}
	l, err := ParseLine(b)
	if err != nil {
		return bad("not an audit log line (altered or inserted): %v", err)
	}
	switch {
	case !s.started:
		s.rep.StartSeq = l.Seq
		if l.Seq == 0 && (l.Prev != "" || l.Type != TypeGenesis) {
			return bad("seq 0 is not a genesis line: altered")
		}
	case l.Seq > s.seq+1:
		return bad("%d line(s) missing before this line, removed or moved (seq %d follows %d at %s:%d)", l.Seq-s.seq-1, l.Seq, s.seq, s.file1, s.line1)
	case l.Seq <= s.seq:
		return bad("line reordered or inserted (seq %d follows %d at %s:%d)", l.Seq, s.seq, s.file1, s.line1)
	case l.Prev != s.head:
		return &TamperError{s.file1, s.line1, fmt.Sprintf("line altered: its hash is not the prev of the next line, %s:%d (or that line's prev was altered)", file, n)}
	}
	t, _ := time.Parse(time.RFC3339Nano, l.Time) // ParseLine checked it
	switch l.Type {
	case TypeCheckpoint:
		if err := s.checkpoint(l); err != nil {
			return bad("%v", err)
		}
		s.rep.Covered, s.rep.UncoveredSince = s.n+1, t
	case TypeGenesis:
		if s.v != nil && l.Genesis.KeyID != "" && l.Genesis.KeyID != s.keyID {
			return bad("this log is signed by key %s, not the given key %s", l.Genesis.KeyID, s.keyID)
		}
		s.rep.Interval, _ = time.ParseDuration(l.Genesis.CheckpointInterval)
	}
	if s.n == 0 || t.Before(s.rep.First) {
		s.rep.First = t
	}
	if t.After(s.rep.Last) {
		s.rep.Last = t
	}
	s.started = true
	s.n++
	s.rep.Lines = s.n
	s.seq, s.head, s.file1, s.line1 = l.Seq, Hash(b), file, n
	return nil
}

func (s *state) checkpoint(l *Line) error {
	c := l.Checkpoint
	switch {
	case c.Count != l.Seq:
		return fmt.Errorf("checkpoint count %d is not its seq %d: altered", c.Count, l.Seq)
	case c.Head != l.Prev:
		return fmt.Errorf("checkpoint head is not its prev: altered")
	case s.v == nil:
		return nil
	case c.KeyID != s.keyID:
		return fmt.Errorf("checkpoint signed by key %s, not the given key %s", c.KeyID, s.keyID)
	}
	msg := CheckpointMessage(c.Count, c.Head, l.Time)
	if err := s.v.VerifySignature(bytes.NewReader(c.Signature), bytes.NewReader(msg), options.WithContext(s.ctx)); err != nil {
		return fmt.Errorf("checkpoint signature invalid (altered, or another key): %w", err)
	}
	s.rep.Checkpoints++
	return nil
}

// Overdue says whether the lines after the last checkpoint span more than
// twice the checkpoint interval: the writer checkpoints at every interval
// when lines were written, so one is missing.
func (r *Report) Overdue() bool {
	return r.Interval > 0 && r.Uncovered > 0 && r.Last.Sub(r.UncoveredSince) > 2*r.Interval
}
