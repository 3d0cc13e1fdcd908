package cosign

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signet-dev/signet/internal/fixture"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/test/tufrepo"
)

type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// settle waits for a background fetch to end.
func (m *tufMaterial) settle() { m.lazy.Wait() }

// TestTUFStaleness: a trusted root fetched from a TUF mirror is served
// while refreshes fail for at most TUFMaxStaleness after the last
// successful one, or until the TUF metadata expires if that comes first;
// then keyless verification is inconclusive, saying why, until a refresh
// succeeds.
func TestTUFStaleness(t *testing.T) {
	t.Parallel()
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	type step struct {
		at   time.Duration // since t0
		down bool          // the mirror answers 503
		want verify.Outcome
		has  string
	}
	tests := []struct {
		name    string
		expires time.Duration // of the TUF metadata, after t0
		steps   []step
	}{
		{"maximum staleness", 30 * 24 * time.Hour, []step{
			{at: 0, want: verify.Verified},
			{at: 25 * time.Hour, down: true, want: verify.Verified}, // refresh due, fails: still served
			{at: TUFMaxStaleness - time.Minute, down: true, want: verify.Verified},
			{at: TUFMaxStaleness + time.Minute, down: true, want: verify.Inconclusive, has: "too old to trust"},
			{at: TUFMaxStaleness + 2*time.Minute, want: verify.Verified}, // the mirror is back
		}},
		{"TUF metadata expires first", 2 * 24 * time.Hour, []step{
			{at: 0, want: verify.Verified},
			{at: 25 * time.Hour, down: true, want: verify.Verified}, // refresh due at half the validity
			{at: 48*time.Hour + time.Minute, down: true, want: verify.Inconclusive, has: "too old to trust"},
			// Back, but still serving metadata that expired: the TUF
			// client refuses it.
			{at: 48*time.Hour + 2*time.Minute, want: verify.Inconclusive, has: "expired"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			repo := tufrepo.Start(t, t0)
			repo.Publish(t, 1, trustedRootTarget, trustedRoot, t0.Add(tc.expires), false)
			clk := &testClock{now: t0}
			m := newTUFMaterial(repo.URL, repo.Root, clk.Now)
			for i, s := range tc.steps {
				clk.set(t0.Add(s.at))
				repo.Down.Store(s.down)
				tm, err := m.TrustedMaterial(context.Background())
				m.settle()
				fp, ferr := m.Fingerprint(context.Background())
				got := verify.Classify(err)
				if got != s.want || (err == nil) != (tm != nil) || !strings.Contains(errString(err), s.has) {
					t.Errorf("step %d (+%s): %s (%v), want %s containing %q", i, s.at, got, err, s.want, s.has)
				}
				if s.want == verify.Verified && (ferr != nil || fp != fingerprint(trustedRoot)) {
					t.Errorf("step %d: fingerprint %q, %v; want the trusted root's", i, fp, ferr)
				}
				if s.want != verify.Verified && ferr == nil {
					t.Errorf("step %d: fingerprint %q although the material is unusable", i, fp)
				}
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestTUFRollback: once a version of the repository was trusted, an older
// one (validly signed, unexpired) is refused at refresh: the trusted root
// in use stays, and once it is too old the denial names the rollback.
func TestTUFRollback(t *testing.T) {
	t.Parallel()
	ss, err := fixture.NewSigstore()
	if err != nil {
		t.Fatal(err)
	}
	trustedRoot, err := ss.TrustedRootJSON()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Truncate(time.Second)
	repo := tufrepo.Start(t, t0)
	repo.Publish(t, 2, trustedRootTarget, trustedRoot, t0.Add(48*time.Hour), false)
	clk := &testClock{now: t0}
	m := newTUFMaterial(repo.URL, repo.Root, clk.Now)
	get := func(at time.Duration) error {
		clk.set(t0.Add(at))
		_, err := m.TrustedMaterial(context.Background())
		m.settle()
		return err
	}
	if err := get(0); err != nil {
		t.Fatal(err)
	}
	other := []byte(strings.Replace(string(trustedRoot), "{", "{ ", 1))
	repo.Publish(t, 1, trustedRootTarget, other, t0.Add(30*24*time.Hour), false)
	if err := get(25 * time.Hour); err != nil { // refresh due: refused, version 2 served
		t.Fatalf("refresh: %v", err)
	}
	if fp, _ := m.Fingerprint(context.Background()); fp != fingerprint(trustedRoot) {
		t.Fatalf("fingerprint %s: the rolled-back trusted root is in use", fp)
	}
	err = get(48*time.Hour + time.Minute)
	if verify.Classify(err) != verify.Inconclusive || !strings.Contains(errString(err), "rolled back: it serves timestamp version 1 after version 2") {
		t.Fatalf("got %v, want inconclusive naming the rollback", err)
	}
}
