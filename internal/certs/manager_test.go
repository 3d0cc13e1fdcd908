package certs

import (
	"context"
	"crypto/x509"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"
)

// memStore is a Store in memory with the API server's conditional writes
// (internal/kube's TLSStore is tested against a real API server in
// test/e2e). before, when set, runs before each Save: a concurrent writer.
type memStore struct {
	mu        sync.Mutex
	data      map[string][]byte
	version   int
	published [][]byte
	before    func(s *memStore)
}

func (s *memStore) Load(context.Context) (map[string][]byte, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		return nil, "", nil
	}
	return maps.Clone(s.data), strconv.Itoa(s.version), nil
}

func (s *memStore) Save(_ context.Context, data map[string][]byte, version string) error {
	if s.before != nil {
		s.before(s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if (version == "" && s.data != nil) || (version != "" && version != strconv.Itoa(s.version)) {
		return ErrConflict
	}
	s.data = maps.Clone(data)
	s.version++
	return nil
}

func (s *memStore) Published(context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.published) == 0 {
		return nil, nil
	}
	return s.published[len(s.published)-1], nil
}

func (s *memStore) Publish(_ context.Context, b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.published = append(s.published, b)
	return nil
}

func servedLeaf(t *testing.T, m *Manager) *x509.Certificate {
	t.Helper()
	c, err := m.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

// TestManagerOverTime follows a Manager through a year: it serves what is
// in the Secret, renews the serving certificate at 2/3 of its life, and
// publishes old and new CA together when the CA is replaced.
func TestManagerOverTime(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := &memStore{}
	m := NewManager(store, Options{Names: names, Now: func() time.Time { return now },
		CALifetime: 300 * 24 * time.Hour, ServingLifetime: 90 * 24 * time.Hour}, 0, nil)
	if _, err := m.GetCertificate(nil); err == nil {
		t.Fatal("a certificate before the first Sync")
	}
	steps := []struct {
		after       time.Duration
		newLeaf     bool
		bundle      int
		versionWant int
	}{
		{0, true, 1, 1},
		{24 * time.Hour, false, 1, 1},
		{58 * 24 * time.Hour, false, 1, 1},  // serving: 91 days of life, renewed after ~60.7
		{61 * 24 * time.Hour, true, 1, 2},   // renewed
		{150 * 24 * time.Hour, true, 1, 3},  // renewed again (after 61+60.7 days)
		{201 * 24 * time.Hour, true, 2, 4},  // CA at 2/3 of 301 days: new CA, old kept
		{202 * 24 * time.Hour, false, 2, 4}, // stable
		{301 * 24 * time.Hour, true, 1, 5},  // old CA expired: dropped (and the leaf at 2/3)
	}
	var last *x509.Certificate
	t0 := now
	for _, st := range steps {
		now = t0.Add(st.after)
		if err := m.Sync(ctx); err != nil {
			t.Fatalf("at +%s: %v", st.after, err)
		}
		leaf := servedLeaf(t, m)
		if got := last == nil || !leaf.Equal(last); got != st.newLeaf {
			t.Errorf("at +%s: new serving certificate %v, want %v", st.after, got, st.newLeaf)
		}
		last = leaf
		if store.version != st.versionWant {
			t.Errorf("at +%s: Secret version %d, want %d", st.after, store.version, st.versionWant)
		}
		pub := store.published[len(store.published)-1]
		cas, err := parseCerts(pub)
		if err != nil || len(cas) != st.bundle {
			t.Errorf("at +%s: published %d CAs (%v), want %d", st.after, len(cas), err, st.bundle)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pub)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: names[0], CurrentTime: now}); err != nil {
			t.Errorf("at +%s: the served certificate does not verify against the published bundle: %v", st.after, err)
		}
	}
}

// TestManagerConflict: a replica that loses a conditional write adopts
// what the winner wrote instead of writing its own CA.
func TestManagerConflict(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	winner := NewManager(store, Options{Names: names}, 0, nil)
	loser := NewManager(store, Options{Names: names}, 0, nil)
	store.before = func(s *memStore) {
		s.before = nil // once: the winner writes between the loser's Load and Save
		if err := winner.Sync(ctx); err != nil {
			t.Error(err)
		}
	}
	if err := loser.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if store.version != 1 {
		t.Fatalf("Secret written %d times, want once", store.version)
	}
	if !servedLeaf(t, loser).Equal(servedLeaf(t, winner)) {
		t.Fatal("the replicas serve different certificates")
	}

	// A store that always conflicts: Sync gives up after maxAttempts.
	always := &memStore{}
	always.before = func(s *memStore) { s.mu.Lock(); s.data = map[string][]byte{}; s.version++; s.mu.Unlock() }
	if err := NewManager(always, Options{Names: names}, 0, nil).Sync(ctx); err == nil {
		t.Fatal("no error after conflicting writes")
	}
}
