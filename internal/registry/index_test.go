package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/testutil"
)

// TestIndexManifests: an index's manifests, nil for an image, a
// *TooManyManifestsError above the caller's bound, and one GET per
// digest in a shared context.
func TestIndexManifests(t *testing.T) {
	t.Parallel()
	reg := testutil.NewRegistry(t, false)
	c := registry.MustNew(registry.WithInsecureRegistries(reg.Host))
	img := reg.PushImage(t, "idx/app:image")
	idx, plats := reg.PushIndex(t, "idx/app:index", "linux/amd64", "linux/arm64", "linux/arm/v7")
	ctx := context.Background()

	ms, err := registry.IndexManifests(ctx, img, 8, c.Options(ctx))
	if err != nil || ms != nil {
		t.Errorf("image: %v, %v; want nil, nil", ms, err)
	}
	ms, err = registry.IndexManifests(ctx, idx, 8, c.Options(ctx))
	if err != nil || len(ms) != 3 || ms[0].Digest.String() != plats[0].DigestStr() || ms[1].Platform.Architecture != "arm64" || ms[2].Platform.Variant != "v7" {
		t.Errorf("index: %+v, %v", ms, err)
	}
	_, err = registry.IndexManifests(ctx, idx, 2, c.Options(ctx))
	var tm *registry.TooManyManifestsError
	if !errors.As(err, &tm) || tm.Count != 3 || tm.Max != 2 || tm.Index != idx.DigestStr() {
		t.Errorf("bound 2: %v, want a *TooManyManifestsError of 3 > 2", err)
	}

	shared := registry.WithShared(ctx)
	reg.Reset()
	for range 3 {
		if _, err := registry.IndexManifests(shared, idx, 8, c.Options(shared)); err != nil {
			t.Fatal(err)
		}
	}
	gets := 0
	for _, p := range reg.Paths() {
		if p == "GET /v2/idx/app/manifests/"+idx.DigestStr() {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("%d GETs of the index in one shared context, want 1: %v", gets, reg.Paths())
	}
}
