package auditlog_test

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/signet-dev/signet/internal/auditlog"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/metrics"
)

// TestRotation: a log over many files verifies from any suffix of its
// files (older ones removed by retention); MaxFiles bounds the files kept;
// a restart continues the chain; both key kinds sign.
func TestRotation(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"ed25519", "ecdsa"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			priv, pub := keyPair(t, kind)
			dir := t.TempDir()
			o := signerOpts(t, priv, auditlog.Options{Path: filepath.Join(dir, "audit.jsonl"), MaxFileBytes: 32 << 10, MaxFiles: 3, CheckpointLines: 50})
			writeLog(t, o, 300)
			files := writeLog(t, o, 300) // a restart: the chain goes on
			if len(files) != 4 {
				t.Fatalf("files %v, want 3 rotated and the active one", files)
			}
			v, id := verifier(t, pub)
			rep, err := auditlog.Verify(context.Background(), files, v, id)
			if err != nil {
				t.Fatal(err)
			}
			if rep.StartSeq == 0 || rep.Uncovered != 0 || rep.Lines < 100 || !rep.Last.After(rep.First) {
				t.Errorf("report %+v", rep)
			}
			first := lines(t, files[0])[0]
			if !strings.Contains(first, `"type":"rotate"`) && !strings.Contains(first, `"type":"genesis"`) {
				t.Errorf("first line of a rotated file: %s", first)
			}
		})
	}
}

// TestCheckpointCadence: a checkpoint every CheckpointLines lines, and
// after CheckpointInterval when a line was written since the last one.
func TestCheckpointCadence(t *testing.T) {
	t.Parallel()
	priv, pub := keyPair(t, "ed25519")
	t.Run("count", func(t *testing.T) {
		t.Parallel()
		o := signerOpts(t, priv, auditlog.Options{Path: filepath.Join(t.TempDir(), "a.jsonl"), CheckpointLines: 10, CheckpointInterval: time.Hour})
		files := writeLog(t, o, 95)
		var at []int
		for i, l := range lines(t, files[len(files)-1]) {
			if strings.Contains(l, `"type":"checkpoint"`) {
				at = append(at, i)
			}
		}
		// genesis is line 0: lines 0..9 then a checkpoint at 10, then every 11th line; the last at Close
		if len(at) != 10 || at[0] != 10 || at[1] != 21 {
			t.Errorf("checkpoints at %v", at)
		}
		v, id := verifier(t, pub)
		if rep, err := auditlog.Verify(context.Background(), files, v, id); err != nil || rep.Checkpoints != 10 {
			t.Errorf("%+v %v", rep, err)
		}
	})
	t.Run("time", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "a.jsonl")
		w, err := auditlog.Open(signerOpts(t, priv, auditlog.Options{Path: path, CheckpointLines: 1000, CheckpointInterval: 20 * time.Millisecond}))
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(context.Background())
		w.Write(record(1))
		count := func() int {
			b, _ := os.ReadFile(path)
			return strings.Count(string(b), `"type":"checkpoint"`)
		}
		for deadline := time.Now().Add(5 * time.Second); count() == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("no checkpoint after the interval")
			}
		}
		time.Sleep(100 * time.Millisecond) // five intervals without a line: no more checkpoints
		if n := count(); n != 1 {
			t.Errorf("%d checkpoints, want 1: nothing was written since the first", n)
		}
		v, id := verifier(t, pub)
		if rep, err := auditlog.Verify(context.Background(), []string{path}, v, id); err != nil || rep.Uncovered != 0 {
			t.Errorf("%+v %v", rep, err)
		}
	})
}

// TestStdout: "-" writes the chain to Stdout.
func TestStdout(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer // written by the writer goroutine, read after Close
	w, err := auditlog.Open(auditlog.Options{Path: "-", Stdout: &out, Instance: "pod-x"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		w.Write(record(i))
	}
	w.Close(context.Background())
	path := filepath.Join(t.TempDir(), "out.jsonl")
	os.WriteFile(path, out.Bytes(), 0o600)
	rep, err := auditlog.Verify(context.Background(), []string{path}, nil, "")
	if err != nil || rep.Lines != 11 || rep.Uncovered != 11 {
		t.Fatalf("%+v %v\n%s", rep, err, out.Bytes())
	}
	if !strings.Contains(string(out.Bytes()), `"instance":"pod-x"`) {
		t.Errorf("genesis: %s", out.Bytes())
	}
}

// TestDiskFull: /dev/full refuses every write: lines are counted as
// errors, Err says so, and Write still returns at once.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	var logged bytes.Buffer // read after Close
	w, err := auditlog.Open(auditlog.Options{Path: "/dev/full", Metrics: m, MaxFiles: -1, Log: slog.New(slog.NewJSONHandler(&logged, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		w.Close(context.Background())
		if n := strings.Count(logged.String(), "a line was not written"); n != 1 {
			t.Errorf("%d error lines logged, want 1 (rate-limited):\n%s", n, logged.String())
		}
	}()
	start := time.Now()
	for i := range 100 {
		w.Write(record(i))
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("100 writes took %v", d)
	}
	waitQueue(t, w)
	if w.Err() == nil || !strings.Contains(w.Err().Error(), "no space left") {
		t.Errorf("Err = %v", w.Err())
	}
	if n := errorsTotal(t, m, "write"); n < 100 {
		t.Errorf("signet_audit_write_errors_total{reason=write} = %v, want 100 or more", n)
	}
}

// TestBoundedQueue: a writer that cannot keep up (its output blocks)
// holds at most QueueBytes of lines; the rest are dropped, counted, and
// Write never blocks. Heap measured.
func TestBoundedQueue(t *testing.T) {
	r, wp, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m := metrics.New()
	w, err := auditlog.Open(auditlog.Options{Path: "-", Stdout: wp, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	big := record(0)
	big.Images = make([]decisionlog.Image, 1000)
	for i := range big.Images {
		big.Images[i] = decisionlog.Image{Path: strings.Repeat("p", 600), Image: strings.Repeat("i", 600), Reason: strings.Repeat("r", 5000)}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	const n = 1000 // 1,000 records of ~256 KiB: 250 MiB if they were all kept
	for range n {
		w.Write(big)
	}
	el := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew %d KiB with %d max-size records written to a blocked output (%v)", grown>>10, n, el)
	if grown > auditlog.QueueBytes+8<<20 {
		t.Errorf("heap grew %d MiB, bound %d MiB", grown>>20, auditlog.QueueBytes>>20)
	}
	if q := w.Queued(); q > auditlog.QueueBytes {
		t.Errorf("queued %d bytes", q)
	}
	if d := errorsTotal(t, m, "queue_full"); d < n/2 {
		t.Errorf("dropped %v, want most of %d", d, n)
	}
	if w.Err() == nil {
		t.Error("Err nil with a full queue")
	}
	wp.Close() // the writer's blocked write fails; Close returns
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { _, _ = bytes.NewBuffer(nil).ReadFrom(r) }()
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestLineBound: a decision too long for a line loses images from its
// end, counted in omittedImages.
func TestLineBound(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer // written by the writer goroutine, read after Close
	w, _ := auditlog.Open(auditlog.Options{Path: "-", Stdout: &out})
	big := record(0)
	big.Images = make([]decisionlog.Image, 1000)
	for i := range big.Images {
		big.Images[i].Reason = strings.Repeat("r", decisionlog.MaxReasonBytes)
	}
	w.Write(big)
	w.Close(context.Background())
	ls := strings.Split(strings.TrimSpace(string(out.Bytes())), "\n")
	if len(ls) != 2 || len(ls[1]) >= auditlog.MaxLineBytes || !strings.Contains(ls[1], `"omittedImages":9`) {
		t.Errorf("%d lines, last of %d bytes: %.200s", len(ls), len(ls[len(ls)-1]), ls[len(ls)-1][max(0, len(ls[len(ls)-1])-100):])
	}
	if _, err := auditlog.ParseLine([]byte(ls[1])); err != nil {
		t.Error(err)
	}
}

// errorsTotal reads signet_audit_write_errors_total{reason} from m's
// registry.
func errorsTotal(t testing.TB, m *metrics.Metrics, reason string) float64 {
	t.Helper()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "signet_audit_write_errors_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRestart: a restart links its genesis line to the last whole line of
// the file left behind, a torn line after it (a crash mid-write) left out;
// the torn line is reported, the files after it verify.
func TestRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	o := auditlog.Options{Path: path, MaxFiles: -1}
	writeLog(t, o, 10)
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.WriteString(`{"seq":11,"prev":"ab`) // torn
	f.Close()
	files := writeLog(t, o, 10)
	if len(files) != 2 {
		t.Fatalf("files %v", files)
	}
	_, err := auditlog.Verify(context.Background(), files, nil, "")
	var te *auditlog.TamperError
	if !errors.As(err, &te) || te.File != files[0] || te.Line != 12 || !strings.Contains(te.Msg, "incomplete") {
		t.Errorf("%v, want %s:12 incomplete", err, files[0])
	}
	rep, err := auditlog.Verify(context.Background(), files[1:], nil, "")
	if err != nil || rep.StartSeq != 11 || rep.Lines != 11 {
		t.Errorf("%+v %v", rep, err)
	}
}

// TestUnwritableDirectory: a log whose directory cannot be created starts
// anyway, counting every line lost, so that admission goes on (or denies,
// with --audit-required) rather than signet not starting.
func TestUnwritableDirectory(t *testing.T) {
	t.Parallel()
	m := metrics.New()
	w, err := auditlog.Open(auditlog.Options{Path: "/dev/full/audit/audit.jsonl", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(context.Background())
	w.Write(record(1))
	waitQueue(t, w)
	if w.Err() == nil || errorsTotal(t, m, "write") < 2 {
		t.Errorf("Err %v, errors %v", w.Err(), errorsTotal(t, m, "write"))
	}
}

// BenchmarkWrite: what an admission pays to log a typical decision (the
// encoding and the queue; the disk is the writer goroutine's).
func BenchmarkWrite(b *testing.B) {
	priv, _ := keyPair(b, "ed25519")
	w, err := auditlog.Open(signerOpts(b, priv, auditlog.Options{Path: filepath.Join(b.TempDir(), "audit.jsonl"), MaxFiles: 2}))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(context.Background())
	r := record(1)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		w.Write(r)
		if i%1024 == 1023 {
			waitQueue(b, w)
		}
	}
}

// TestEncryptedKey: a key in cosign's encrypted format (cosign
// generate-key-pair) signs with its password, and is refused without it.
func TestEncryptedKey(t *testing.T) {
	t.Parallel()
	privPEM, pubPEM, err := cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.StaticPasswordFunc([]byte("s3cret")))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	os.WriteFile(priv, privPEM, 0o600)
	os.WriteFile(pub, pubPEM, 0o600)
	if _, _, err := auditlog.LoadSigner(context.Background(), priv, nil); err == nil {
		t.Error("encrypted key loaded without its password")
	}
	s, id, err := auditlog.LoadSigner(context.Background(), priv, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	files := writeLog(t, auditlog.Options{Path: filepath.Join(dir, "audit.jsonl"), Signer: s, KeyID: id}, 5)
	v, vid := verifier(t, pub)
	if rep, err := auditlog.Verify(context.Background(), files, v, vid); err != nil || rep.Checkpoints != 1 {
		t.Errorf("%+v %v", rep, err)
	}
}
