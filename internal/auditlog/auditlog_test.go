package auditlog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/signet-dev/signet/internal/auditlog"
	"github.com/signet-dev/signet/internal/decisionlog"
)

// keyPair writes a PEM private and public key ("ed25519" or "ecdsa") and
// returns their paths.
func keyPair(t testing.TB, kind string) (priv, pub string) {
	t.Helper()
	var privPEM, pubPEM []byte
	var err error
	switch kind {
	case "ecdsa":
		privPEM, pubPEM, err = cryptoutils.GeneratePEMEncodedECDSAKeyPair(elliptic.P256(), cryptoutils.SkipPassword)
	default:
		var pk ed25519.PublicKey
		var sk ed25519.PrivateKey
		if pk, sk, err = ed25519.GenerateKey(rand.Reader); err == nil {
			privPEM, _ = cryptoutils.MarshalPrivateKeyToPEM(sk)
			pubPEM, _ = cryptoutils.MarshalPublicKeyToPEM(pk)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub = filepath.Join(dir, "key.pem"), filepath.Join(dir, "key.pub")
	if err := os.WriteFile(priv, privPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

func signerOpts(t testing.TB, priv string, o auditlog.Options) auditlog.Options {
	t.Helper()
	s, id, err := auditlog.LoadSigner(context.Background(), priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	o.Signer, o.KeyID = s, id
	return o
}

func record(i int) *decisionlog.Record {
	return &decisionlog.Record{Time: time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC), UID: fmt.Sprintf("uid-%04d", i), Kind: "Pod", Namespace: "team-a", Name: fmt.Sprintf("web-%d", i),
		Operation: "CREATE", User: "alice", Decision: "allowed", Reason: "verified",
		Images: []decisionlog.Image{{Path: "/spec/containers/0/image", Image: "registry.example/app:v1", Allowed: true, Outcome: "verified", Mode: "enforce"}}}
}

// writeLog writes n decisions and closes the log; it returns every file,
// oldest first.
func writeLog(t testing.TB, o auditlog.Options, n int) []string {
	t.Helper()
	w, err := auditlog.Open(o)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		w.Write(record(i))
		if i%512 == 511 { // stay within the queue: this test is about the log, not drops
			waitQueue(t, w)
		}
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
	files, err := auditlog.Rotated(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	return append(files, o.Path)
}

// waitQueue waits until the writer has written what was queued.
func waitQueue(t testing.TB, w *auditlog.Writer) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); w.Queued() > 0; {
		if time.Now().After(deadline) {
			t.Fatal("queue not drained")
		}
		time.Sleep(time.Millisecond)
	}
}

func verifier(t testing.TB, pub string) (signature.Verifier, string) {
	t.Helper()
	v, id, err := auditlog.LoadVerifier(context.Background(), pub)
	if err != nil {
		t.Fatal(err)
	}
	return v, id
}

func lines(t testing.TB, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(string(b), "\n")[:strings.Count(string(b), "\n")]
}

func writeLines(t testing.TB, file string, ls []string) {
	t.Helper()
	if err := os.WriteFile(file, []byte(strings.Join(ls, "")), 0o600); err != nil {
		t.Fatal(err)
	}
}

var (
	seqPrev   = regexp.MustCompile(`^\{"seq":\d+,"prev":"[0-9a-f]*"`)
	countHead = regexp.MustCompile(`"count":\d+,"head":"[0-9a-f]*"`)
)

// rechain rewrites seq and prev of every line from line i of file on (and
// of every later file), as someone without the key can: only a checkpoint
// tells.
func rechain(t testing.TB, files []string, from int, i int) {
	t.Helper()
	var seq uint64
	var head string
	for fi, f := range files {
		ls := lines(t, f)
		for li, l := range ls {
			if fi > from || (fi == from && li >= i) {
				l = seqPrev.ReplaceAllString(l, fmt.Sprintf(`{"seq":%d,"prev":"%s"`, seq, head))
				l = countHead.ReplaceAllString(l, fmt.Sprintf(`"count":%d,"head":"%s"`, seq, head))
				ls[li] = l
			}
			sum := sha256.Sum256([]byte(strings.TrimSuffix(l, "\n")))
			seq, head = seq+1, hex.EncodeToString(sum[:])
		}
		writeLines(t, f, ls)
	}
}

// TestTampering: 1,000 decisions over several rotated files verify; each
// kind of tampering is found, at the line it concerns.
func TestTampering(t *testing.T) {
	t.Parallel()
	priv, pub := keyPair(t, "ed25519")
	_, otherPub := keyPair(t, "ed25519")
	tests := []struct {
		name   string
		tamper func(t *testing.T, files []string) []string
		key    string
		want   string // substring of the error; "" : verifies
		file   int    // index of the file named, -1 for the last
		line   int
	}{
		{"intact", func(_ *testing.T, f []string) []string { return f }, "", "", 0, 0},
		{"files in any order", func(_ *testing.T, f []string) []string {
			r := append([]string(nil), f...)
			r[0], r[len(r)-1] = r[len(r)-1], r[0]
			return r
		}, "", "", 0, 0},
		{"alter a field", func(t *testing.T, f []string) []string {
			ls := lines(t, f[1])
			ls[5] = strings.Replace(ls[5], `"decision":"allowed"`, `"decision":"denied"`, 1)
			writeLines(t, f[1], ls)
			return f
		}, "", "line altered", 1, 6},
		{"delete a line", func(t *testing.T, f []string) []string {
			ls := lines(t, f[1])
			writeLines(t, f[1], append(ls[:5:5], ls[6:]...))
			return f
		}, "", "1 line(s) missing", 1, 6},
		{"swap two lines", func(t *testing.T, f []string) []string {
			ls := lines(t, f[2])
			ls[3], ls[4] = ls[4], ls[3]
			writeLines(t, f[2], ls)
			return f
		}, "", "missing before this line", 2, 4},
		{"insert a copy of a line", func(t *testing.T, f []string) []string {
			ls := lines(t, f[1])
			writeLines(t, f[1], append(ls[:8:8], append([]string{ls[3]}, ls[8:]...)...))
			return f
		}, "", "reordered or inserted", 1, 9},
		{"insert a line and rechain", func(t *testing.T, f []string) []string {
			ls := lines(t, f[1])
			forged := strings.Replace(ls[7], `uid-`, `uid-forged-`, 1)
			writeLines(t, f[1], append(ls[:8:8], append([]string{forged}, ls[8:]...)...))
			rechain(t, f, 1, 8)
			return f
		}, "", "checkpoint signature invalid", 1, -1},
		{"truncate mid-line", func(t *testing.T, f []string) []string {
			last := f[len(f)-1]
			st, _ := os.Stat(last)
			os.Truncate(last, st.Size()-10)
			return f
		}, "", "incomplete", -1, -1},
		{"truncate a rotated file", func(t *testing.T, f []string) []string {
			ls := lines(t, f[1])
			writeLines(t, f[1], ls[:len(ls)-3])
			return f
		}, "", "missing before this line", 2, 1},
		{"delete a middle rotated file", func(_ *testing.T, f []string) []string {
			return append(f[:2:2], f[3:]...)
		}, "", "missing before this line", 3, 1},
		{"replace a checkpoint signature", func(t *testing.T, f []string) []string {
			ls := lines(t, f[1])
			for i, l := range ls {
				if strings.Contains(l, `"type":"checkpoint"`) {
					ls[i] = regexp.MustCompile(`"signature":"[^"]*"`).ReplaceAllString(l, `"signature":"AAAA"`)
					break
				}
			}
			writeLines(t, f[1], ls)
			return f
		}, "", "checkpoint signature invalid", 1, -1},
		{"wrong key", func(_ *testing.T, f []string) []string { return f }, otherPub, "not the given key", 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			o := signerOpts(t, priv, auditlog.Options{Path: filepath.Join(dir, "audit.jsonl"), Instance: "signet-0",
				MaxFileBytes: 64 << 10, MaxFiles: -1, CheckpointLines: 100})
			files := writeLog(t, o, 1000)
			if len(files) < 4 {
				t.Fatalf("%d files, want 4 or more", len(files))
			}
			given := tc.tamper(t, files)
			key := pub
			if tc.key != "" {
				key = tc.key
			}
			v, id := verifier(t, key)
			rep, err := auditlog.Verify(context.Background(), given, v, id)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				// genesis + 1,000 decisions + checkpoints (every 100 lines, at each rotation and at the end)
				if rep.Lines < 1011 || rep.Uncovered != 0 || rep.Checkpoints < 10 || rep.StartSeq != 0 || rep.Files != len(files) {
					t.Errorf("report %+v", rep)
				}
				return
			}
			var te *auditlog.TamperError
			if !errors.As(err, &te) || !strings.Contains(te.Msg, tc.want) {
				t.Fatalf("error %v, want a TamperError with %q", err, tc.want)
			}
			wantFile := files[len(files)-1]
			if tc.file >= 0 {
				wantFile = files[tc.file]
			}
			if te.File != wantFile || (tc.line > 0 && te.Line != tc.line) {
				t.Errorf("error at %s:%d, want %s:%d: %v", te.File, te.Line, wantFile, tc.line, err)
			}
		})
	}
}

// TestTailTruncation: lines removed from the end of the log, the last
// checkpoint with them, cannot be detected from the lines left: the
// report counts the lines not covered by a checkpoint, and says a
// checkpoint is missing when they span more than twice the interval.
func TestTailTruncation(t *testing.T) {
	t.Parallel()
	priv, pub := keyPair(t, "ed25519")
	now := time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(2 * time.Second); return now }
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	// 200 lines 2 s apart (the records carry their time: only the writer
	// reads the clock): 6m40s; checkpoints every 100 lines only (the
	// interval's ticker does not fire in the test), and at Close.
	files := writeLog(t, signerOpts(t, priv, auditlog.Options{Path: path, CheckpointLines: 100, CheckpointInterval: time.Minute, Now: clock}), 200)
	ls := lines(t, files[0])
	var ck []int
	for i, l := range ls {
		if strings.Contains(l, `"type":"checkpoint"`) {
			ck = append(ck, i)
		}
	}
	if len(ck) != 3 || ck[2] != len(ls)-1 {
		t.Fatalf("checkpoints at %v of %d lines", ck, len(ls))
	}
	v, id := verifier(t, pub)
	for _, tc := range []struct {
		name      string
		keep      int // lines kept
		uncovered uint64
		overdue   bool
	}{
		{"intact", len(ls), 0, false},
		{"last checkpoint removed", ck[2], uint64(ck[2] - ck[1] - 1), false},
		{"cut 30 lines after a checkpoint (a minute)", ck[0] + 31, 30, false},
		// 100 lines, 200 s: more than twice the 1m interval
		{"last two checkpoints and the lines between removed", ck[1], uint64(ck[1] - ck[0] - 1), true},
	} {
		writeLines(t, path, ls[:tc.keep])
		rep, err := auditlog.Verify(context.Background(), files, v, id)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if rep.Uncovered != tc.uncovered || rep.Overdue() != tc.overdue {
			t.Errorf("%s: %d lines not covered, overdue %v; want %d, %v", tc.name, rep.Uncovered, rep.Overdue(), tc.uncovered, tc.overdue)
		}
	}
}
