package policysource

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/policy/v1alpha1"
)

// DefaultDebounce is Options.Debounce's default: changes arriving within
// it of each other are assembled into one engine.
const DefaultDebounce = 100 * time.Millisecond

// Options configure a Source.
type Options struct {
	// Registry and Compile are what every unit is compiled with, and
	// every engine assembled with (policy.CompileUnit, policy.Assemble).
	Registry policy.Registry
	Compile  []policy.CompileOption
	// Debounce: see DefaultDebounce.
	Debounce time.Duration
	// NoStatus leaves the objects' status alone (a read-only replica, or
	// a caller without update rights on the status subresource).
	NoStatus bool
	Log      *slog.Logger
	Metrics  *metrics.Metrics
	// Rejected, when set, is told of each generation of an object that
	// does not compile (package alert's PolicyReloadFailed); it must not
	// block.
	Rejected func(object string, err error)
}

// Source serves the engine assembled from the policy resources.
type Source struct {
	client dynamic.Interface
	opts   Options

	current atomic.Pointer[policy.Engine]
	synced  atomic.Bool
	gen     int64 // engines put in force; the worker's

	mu      sync.Mutex
	pending map[key]*unstructured.Unstructured // nil value: deleted
	file    *policy.Unit
	fileID  string
	fileNew bool
	dirty   chan struct{}

	// objects is every object read, by key; the worker's alone.
	objects map[key]*entry

	// statuses are the statuses to write, by object (the latest wins),
	// written by their own goroutine: a slow API server delays status,
	// never the next engine.
	statusMu    sync.Mutex
	statuses    map[key]statusJob
	statusDirty chan struct{}
}

// key identifies an object: kind, namespace, name.
type key struct{ kind, namespace, name string }

// entry is what the source knows of one object.
type entry struct {
	uid types.UID
	// seen is the generation last compiled; problems its problems ("" if
	// it compiled).
	seen     int64
	problems string
	// unit is the last valid form, in force; nil when none compiled.
	unit *policy.Unit
	obj  *unstructured.Unstructured
}

// New returns a Source reading through client. Nothing is read until Run.
func New(client dynamic.Interface, opts Options) *Source {
	if opts.Debounce <= 0 {
		opts.Debounce = DefaultDebounce
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Source{client: client, opts: opts, pending: map[key]*unstructured.Unstructured{}, objects: map[key]*entry{}, dirty: make(chan struct{}, 1),
		statuses: map[key]statusJob{}, statusDirty: make(chan struct{}, 1)}
}

// Engine returns the engine in force; nil until the informers have synced.
func (s *Source) Engine() *policy.Engine { return s.current.Load() }

// Synced says whether the policy resources have been read and an engine
// is in force.
func (s *Source) Synced() bool { return s.synced.Load() }

// SetFile puts the policy file's unit (compiled as a ClusterImagePolicy
// named FileName(path)) in force beside the resources, replacing the
// previous one; id names its content (a hash) for the engine's hash. It
// may be called before Run.
func (s *Source) SetFile(u *policy.Unit, id string) {
	s.mu.Lock()
	s.file, s.fileID, s.fileNew = u, id, true
	s.mu.Unlock()
	s.wake()
}

// FileName is the name a policy file's unit carries: one more
// ClusterImagePolicy, whose name no resource can have (a colon).
func FileName(path string) string { return "file:" + path }

func (s *Source) wake() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

// Run watches the resources until ctx is done.
func (s *Source) Run(ctx context.Context) {
	var syncs []cache.InformerSynced
	for _, kind := range []struct {
		name string
		gvr  schema.GroupVersionResource
	}{{policy.KindCluster, v1alpha1.ClusterImagePolicies}, {policy.Kind, v1alpha1.ImagePolicies}} {
		ri := s.client.Resource(kind.gvr)
		inf := cache.NewSharedIndexInformer(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return ri.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return ri.Watch(ctx, o)
			},
		}, &unstructured.Unstructured{}, 0, cache.Indexers{})
		_ = inf.SetTransform(trim)
		_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			s.opts.Log.Error("reading policy resources; the policy in force stays (none before the first read: admissions are denied)", "resource", kind.gvr.Resource, "error", err.Error())
		})
		name := kind.name
		reg, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.observe(name, obj, false) },
			UpdateFunc: func(_, obj any) { s.observe(name, obj, false) },
			DeleteFunc: func(obj any) { s.observe(name, obj, true) },
		})
		if err != nil { // only once the informer has stopped
			s.opts.Log.Error("watching policy resources", "error", err.Error())
			return
		}
		syncs = append(syncs, reg.HasSynced)
		go inf.RunWithContext(ctx)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		return
	}
	s.opts.Log.Info("policy resources read")
	if !s.opts.NoStatus {
		go s.writeStatuses(ctx)
	}
	for {
		s.sync(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.dirty:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.Debounce):
		}
	}
}

// trim drops what the source never reads from the objects it caches.
func trim(obj any) (any, error) {
	if u, ok := obj.(*unstructured.Unstructured); ok {
		u.SetManagedFields(nil)
		if a := u.GetAnnotations(); a != nil {
			delete(a, "kubectl.kubernetes.io/last-applied-configuration")
			u.SetAnnotations(a)
		}
	}
	return obj, nil
}

// observe records an informer's event for the worker.
func (s *Source) observe(kind string, obj any, deleted bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	k := key{kind, u.GetNamespace(), u.GetName()}
	s.mu.Lock()
	if deleted {
		s.pending[k] = nil
	} else {
		s.pending[k] = u
	}
	s.mu.Unlock()
	s.wake()
}

// sync compiles what changed, puts a new engine in force when anything
// did (and always the first time), then writes the statuses that differ.
func (s *Source) sync(ctx context.Context) {
	s.mu.Lock()
	pending := s.pending
	s.pending = map[key]*unstructured.Unstructured{}
	file, fileID, fileNew := s.file, s.fileID, s.fileNew
	s.fileNew = false
	s.mu.Unlock()

	changed := fileNew || s.current.Load() == nil
	touched := map[key]*entry{}
	for k, obj := range pending {
		e := s.objects[k]
		if obj == nil {
			if e != nil {
				delete(s.objects, k)
				changed = true
				s.opts.Log.Info("policy resource deleted; its rules are no longer in force", "object", ref(k, 0).String())
			}
			continue
		}
		if e == nil || e.uid != obj.GetUID() {
			e = &entry{uid: obj.GetUID(), seen: -1}
			s.objects[k] = e
			changed = true
		}
		e.obj = obj
		touched[k] = e
		if e.seen == obj.GetGeneration() {
			continue // a status or metadata change
		}
		e.seen = obj.GetGeneration()
		u, err := s.compile(k, obj)
		s.opts.Metrics.Reload(err == nil)
		if err != nil {
			e.problems = err.Error()
			msg := "the previous generation stays in force"
			if e.unit == nil {
				msg = "no generation of it compiled: it has no rules in force"
			}
			s.opts.Log.Error("policy resource rejected; "+msg, "object", ref(k, e.seen).String(), "error", e.problems)
			if s.opts.Rejected != nil {
				s.opts.Rejected(ref(k, e.seen).String(), err)
			}
			continue
		}
		e.unit, e.problems = u, ""
		changed = true
	}
	if changed {
		s.publish(file, fileID)
	}
	if !s.opts.NoStatus && len(touched) > 0 {
		s.statusMu.Lock()
		for k, e := range touched {
			s.statuses[k] = statusJob{obj: e.obj, want: e.status()}
		}
		s.statusMu.Unlock()
		select {
		case s.statusDirty <- struct{}{}:
		default:
		}
	}
}

// ref is the policy identity of the object at k.
func ref(k key, gen int64) policy.ObjectRef {
	return policy.ObjectRef{Kind: k.kind, Namespace: k.namespace, Name: k.name, Generation: gen}
}

// compile compiles one object into a unit.
func (s *Source) compile(k key, obj *unstructured.Unstructured) (*policy.Unit, error) {
	var doc *policy.Document
	switch k.kind {
	case policy.KindCluster:
		var p v1alpha1.ClusterImagePolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.UnstructuredContent(), &p); err != nil {
			return nil, fmt.Errorf("reading the object: %w", err)
		}
		doc = p.Document()
	default:
		var p v1alpha1.ImagePolicy
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.UnstructuredContent(), &p); err != nil {
			return nil, fmt.Errorf("reading the object: %w", err)
		}
		doc = p.Document()
	}
	return policy.CompileUnit(policy.Object{Ref: ref(k, obj.GetGeneration()), Doc: doc}, s.opts.Registry, s.opts.Compile...)
}

// publish assembles the units in force into an engine and puts it in
// force.
func (s *Source) publish(file *policy.Unit, fileID string) {
	units := make([]*policy.Unit, 0, len(s.objects)+1)
	ready := map[string][2]int{policy.KindCluster: {}, policy.Kind: {}}
	for k, e := range s.objects {
		c := ready[k.kind]
		if e.problems == "" {
			c[0]++
		} else {
			c[1]++
		}
		ready[k.kind] = c
		if e.unit != nil {
			units = append(units, e.unit)
		}
	}
	if file != nil {
		units = append(units, file)
	}
	// Assemble keeps equally specific rules in the order given: make it
	// the same on every replica.
	slices.SortFunc(units, func(a, b *policy.Unit) int {
		x, y := a.Object(), b.Object()
		return strings.Compare(x.Kind+"/"+x.Namespace+"/"+x.Name, y.Kind+"/"+y.Namespace+"/"+y.Name)
	})
	s.gen++
	hash := unitsHash(units, fileID)
	eng := policy.Assemble(units, s.opts.Registry, s.opts.Compile...).Stamped(s.gen, hash)
	s.current.Store(eng)
	s.synced.Store(true)
	s.opts.Metrics.PolicyGeneration(s.gen)
	s.opts.Metrics.Policy(engineName(file), hash)
	for kind, c := range ready {
		s.opts.Metrics.PolicyObjects(kind, c[0], c[1])
	}
	if len(eng.InsecureRegistries()) > 0 {
		s.opts.Log.Warn("the policy lets signet reach these registries over plain HTTP (insecureRegistries): answers from them can be altered on the way", "insecureRegistries", eng.InsecureRegistries())
	}
	s.opts.Log.Info("policy in force", "generation", s.gen, "hash", hash, "objects", len(units))
}

// engineName is the name signet_policy_info carries: bounded, whatever
// the objects' names.
func engineName(file *policy.Unit) string {
	if file != nil {
		return "resources+" + file.Object().Name
	}
	return "resources"
}

// unitsHash names a set of units by their objects and generations (and
// the file's content): alike on every replica that has them in force.
func unitsHash(units []*policy.Unit, fileID string) string {
	h := fnv.New64a()
	for _, u := range units {
		o := u.Object()
		fmt.Fprintf(h, "%s/%s/%s/%d\n", o.Kind, o.Namespace, o.Name, o.Generation)
	}
	fmt.Fprintf(h, "%s\n", fileID)
	return fmt.Sprintf("%016x", h.Sum64())
}
