package policy_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/testutil"
)

// manyNamespaces returns a ClusterImagePolicy delegating host/** to the
// namespaces and, for each of n namespaces, an ImagePolicy of 10 rules
// with a validator trusting keys[i%len(keys)]; the last rule of each
// matches host/demo/**.
func manyNamespaces(host string, n int, keys []*testutil.Key) []obj {
	objs := []obj{cip("base", "insecureRegistries: ["+host+"]\nvalidators: [{name: unused, type: static, approve: false}]\nrules: [{pattern: \""+host+"/**\", validator: namespace}]\n")}
	for i := range n {
		var rules strings.Builder
		for j := range 9 {
			fmt.Fprintf(&rules, "- {pattern: \"%s/ns%d/app%d/**\"}\n", host, i, j)
		}
		fmt.Fprintf(&rules, "- {pattern: \"%s/demo/**\"}\n", host)
		objs = append(objs, ip(fmt.Sprintf("ns%d", i), "keys", "validators:\n"+cosignValidator("default", keys[i%len(keys)].PEM)+"rules:\n"+rules.String()))
	}
	return objs
}

// BenchmarkEvaluateManyNamespaces: one image in one namespace, the
// verification cached, among 10 and 1,000 namespaces' ImagePolicies of 10
// rules each. The time must not grow with the number of namespaces: an
// evaluation reads the cluster's rules and its namespace's only.
func BenchmarkEvaluateManyNamespaces(b *testing.B) {
	reg := testutil.NewRegistry(b, false)
	key := testutil.NewKey(b)
	img := reg.PushImage(b, "demo/app:v1")
	testutil.SignLegacy(b, img, key)
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("namespaces=%d", n), func(b *testing.B) {
			c, err := cache.New(cache.Config{})
			if err != nil {
				b.Fatal(err)
			}
			eng, errs := compileSet(b, manyNamespaces(reg.Host, n, []*testutil.Key{key}), policy.WithCache(c))
			if errs != nil {
				b.Fatal(errs)
			}
			ns, ref := fmt.Sprintf("ns%d", n/2), reg.Host+"/demo/app:v1"
			if d := eng.EvaluateFor(context.Background(), ns, ref); !d.Allowed {
				b.Fatal(d.Reason)
			}
			reg.Reset()
			b.ReportAllocs()
			for b.Loop() {
				if d := eng.EvaluateFor(context.Background(), ns, ref); !d.Allowed || !d.Cached {
					b.Fatal(d.Reason)
				}
			}
			if reg.Requests() != 0 {
				b.Fatalf("%d registry requests for cached verifications", reg.Requests())
			}
		})
	}
}

// TestMemoryThousandPolicies: 1,000 ImagePolicies of 10 rules each, each
// with its own key, held in one engine (their documents kept too, as an
// informer's cache keeps the objects), take less than 100 MiB of heap.
func TestMemoryThousandPolicies(t *testing.T) {
	if testing.Short() {
		t.Skip("generates 1,000 keys")
	}
	keys := make([]*testutil.Key, 1000)
	for i := range keys {
		keys[i] = testutil.NewKey(t)
	}
	objs := manyNamespaces("registry.example.com", 1000, keys)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var set policy.Set
	for _, o := range objs {
		set.Objects = append(set.Objects, o.object(t))
	}
	eng, errs := policy.CompileSet(set, nil)
	if errs != nil {
		t.Fatal(errs)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	extra := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / (1 << 20)
	t.Logf("1,000 ImagePolicies × 10 rules: %.1f MiB of heap (%d units)", extra, len(eng.Units()))
	if extra > 100 {
		t.Errorf("%.1f MiB of heap, want less than 100", extra)
	}
	runtime.KeepAlive(set)
	runtime.KeepAlive(eng)
}
