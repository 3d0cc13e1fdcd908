package faults_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/test/harness"
	"github.com/signet-dev/signet/test/hostile"
)

func TestMain(m *testing.M) {
	code := m.Run()
	harness.Cleanup()
	os.Exit(code)
}

// image is an image in a test registry and whether the policy's key signed
// it.
type image struct {
	ref    string // as written in the pod: host/repo:tag
	digest name.Digest
	signed bool
}

// pushImages pushes demo/signed:v1, signed with key, and demo/unsigned:v1.
func pushImages(t *testing.T, reg *hostile.Registry, key *testutil.Key) (signed, unsigned image) {
	t.Helper()
	signed = image{ref: reg.Ref("demo/signed:v1"), digest: reg.Push(t, "demo/signed:v1"), signed: true}
	testutil.SignLegacy(t, signed.digest, key)
	unsigned = image{ref: reg.Ref("demo/unsigned:v1"), digest: reg.Push(t, "demo/unsigned:v1")}
	return signed, unsigned
}

// keyPolicy requires key's signature on everything in host.
func keyPolicy(key *testutil.Key, host string) string {
	return testutil.Policy(key.PEM, `- {pattern: "`+host+`/**", validator: signed}`+"\n")
}

// judge says what is wrong with an answer to a review of img through
// webhook, or "" when it is right: HTTP 200, a whole AdmissionReview that
// echoes uid, allowed exactly when img is signed, and, when /mutate allows
// it, pinned to the digest that was signed.
func judge(webhook, uid string, img image, a *harness.Answer) string {
	switch {
	case a.Status != http.StatusOK:
		return fmt.Sprintf("HTTP %d: %s", a.Status, a.Body)
	case a.Response == nil:
		return fmt.Sprintf("not a whole AdmissionReview (truncated?): %q", a.Body)
	case string(a.Response.UID) != uid:
		return fmt.Sprintf("uid %q, want %q", a.Response.UID, uid)
	case a.Response.Allowed != img.signed:
		return fmt.Sprintf("allowed=%v for %s (signed=%v): %s", a.Response.Allowed, img.ref, img.signed, a.Message())
	case webhook == "mutate" && img.signed && !pins(a, img):
		return fmt.Sprintf("%s allowed but not pinned to %s: %v", img.ref, img.digest.DigestStr(), a.Patch)
	case webhook == "validate" && len(a.Patch) > 0:
		return fmt.Sprintf("/validate answered with a patch: %v", a.Patch)
	}
	return ""
}

// pins reports whether a's patch sets the container's image to img's
// repository at the signed digest.
func pins(a *harness.Answer, img image) bool {
	for _, op := range a.Patch {
		v, _ := op.Value.(string)
		if op.Path == "/spec/containers/0/image" && strings.HasPrefix(v, img.digest.Context().String()) && strings.HasSuffix(v, "@"+img.digest.DigestStr()) {
			return true
		}
	}
	return false
}

// result is one request of a load run.
type result struct {
	webhook, uid string
	img          image
	sent, done   time.Time
	answer       *harness.Answer
	err          error // no (whole) answer received
}

// load is clients admitting images in turn, through /validate and /mutate
// alternately, until stopped.
type load struct {
	answered atomic.Int64
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	results  []result
}

// startLoad starts workers clients sharing c. Each worker stops after
// maxPerWorker requests, when stopped, or — when stopOnError — at its
// first request without an answer (a server that is going away).
func startLoad(s *harness.Serve, c *http.Client, workers, maxPerWorker int, stopOnError bool, imgs ...image) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	for w := range workers {
		l.wg.Go(func() {
			for i := 0; i < maxPerWorker && ctx.Err() == nil; i++ {
				r := result{webhook: []string{"validate", "mutate"}[(w+i)%2], uid: fmt.Sprintf("w%d-%d", w, i), img: imgs[(w+i/2)%len(imgs)]}
				r.sent = time.Now()
				// Not ctx: stopping the load must not cut answers short.
				r.answer, r.err = s.Admit(context.Background(), c, r.webhook, r.uid, r.img.ref, 10*time.Second)
				r.done = time.Now()
				l.mu.Lock()
				l.results = append(l.results, r)
				l.mu.Unlock()
				if r.err == nil {
					l.answered.Add(1)
				} else if stopOnError {
					return
				}
			}
		})
	}
	return l
}

// waitAnswered waits up to d until n more answers than now have arrived.
func (l *load) waitAnswered(t *testing.T, n int64, d time.Duration) {
	t.Helper()
	want := l.answered.Load() + n
	deadline := time.Now().Add(d)
	for l.answered.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("load: %d answers after %s, want %d", l.answered.Load(), d, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop stops the workers, waits for their last requests, and returns
// every result.
func (l *load) stop() []result {
	l.cancel()
	l.wg.Wait()
	return l.results
}

// eventually polls f every 50 ms for up to d.
func eventually(t *testing.T, what string, d time.Duration, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metric returns the value of the sample line of /metrics starting with
// series (name and labels, exactly as exposed), or "" when absent.
func metric(t *testing.T, s *harness.Serve, series string) string {
	t.Helper()
	for line := range strings.Lines(s.Metrics(t)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			return v
		}
	}
	return ""
}
