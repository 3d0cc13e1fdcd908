package registry_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
	"github.com/signet-dev/signet/internal/verify"
)

// TestStateBoundedByRepositories resolves ever new repository names, with
// the Client's own credentials and with MaxPullers-1 keychains in turn
// (the worst case: every puller kept, each filling up to
// MaxReposPerPuller repositories), and measures the heap: once the bounds
// are reached it must stop growing. For comparison it first measures
// go-containerregistry's Puller alone, which keeps an authenticated
// transport per repository forever (the test logs its cost per name).
func TestStateBoundedByRepositories(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("resolves tens of thousands of repositories and measures the heap (not under -short or -race)")
	}
	reg := testutil.NewRegistry(t, false)
	c := registry.MustNew(registry.WithKeychain(authn.NewMultiKeychain()), registry.WithInsecureRegistries(reg.Host))
	kcs := make([]*registry.Keychain, registry.MaxPullers-1)
	for i := range kcs {
		kcs[i] = registry.NewKeychain(authn.NewMultiKeychain())
	}
	n := 0
	resolve := func(count int) {
		for range count {
			ctx := context.Background()
			if k := n % (len(kcs) + 1); k < len(kcs) {
				ctx = registry.ContextWithKeychain(ctx, kcs[k])
			}
			ref, err := imageref.Parse(fmt.Sprintf("%s/ns%d/app:v1", reg.Host, n))
			if err != nil {
				t.Fatal(err)
			}
			// The repository does not exist: a ping and a 404, as an
			// attacker's made-up names get.
			if _, err := c.Resolve(ctx, ref); verify.Classify(err) != verify.Failed {
				t.Fatalf("resolving %s: %v", ref, err)
			}
			n++
		}
		reg.Reset() // the test registry's own request log
	}
	heap := heapAfterGC
	// Exactly enough names to fill every puller with its maximum of
	// repositories (the most state the bounds allow; the parse memo is
	// full too), then twice and four times as many.
	fill := registry.MaxPullers * registry.MaxReposPerPuller
	const MiB = 1 << 20
	start := time.Now()
	h0 := heap()
	p, err := remote.NewPuller()
	if err != nil {
		t.Fatal(err)
	}
	for i := range fill {
		repo, _ := name.NewRepository(fmt.Sprintf("%s/ggcr%d/app", reg.Host, i))
		if _, err := p.Head(context.Background(), repo.Tag("v1")); err == nil {
			t.Fatal("HEAD of a repository that does not exist worked")
		}
	}
	reg.Reset()
	hp := heap()
	t.Logf("go-containerregistry's Puller alone: %.0f bytes per repository (%d repositories)", float64(hp-h0)/float64(fill), fill)
	runtime.KeepAlive(p)
	p = nil
	h0 = heap()
	resolve(fill)
	h1 := heap()
	resolve(fill)
	h2 := heap()
	resolve(2 * fill)
	h3 := heap()
	t.Logf("%d repositories in %s; heap %.1f MiB at start, %.1f after %d (every puller full: %.0f bytes per repository), %.1f after %d, %.1f after %d",
		n, time.Since(start).Round(time.Millisecond), float64(h0)/MiB, float64(h1)/MiB, fill, float64(h1-h0)/float64(fill), float64(h2)/MiB, 2*fill, float64(h3)/MiB, n)
	// After the bounds: no growth beyond noise (2 MiB for 2×fill names:
	// under 8 bytes a name, i.e. nothing kept per name).
	if grown := max(h2, h3) - h1; grown > 2*MiB {
		t.Errorf("heap grew by %.1f MiB over %d more repositories after the bounds were reached", float64(grown)/MiB, n-fill)
	}
}

// heapAfterGC returns the live heap after two collections.
func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}
