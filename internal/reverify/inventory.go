package reverify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"

	"github.com/signet-dev/signet/internal/workload"
)

// watched are the kinds the inventory watches: Pods (what runs) and the
// workload kinds that make Pods (what will run, and whom a Pod's report
// and Events are about).
var watched = []struct {
	kind string
	gvr  schema.GroupVersionResource
}{
	{"Pod", schema.GroupVersionResource{Version: "v1", Resource: "pods"}},
	{"ReplicaSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}},
	{"Deployment", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}},
	{"StatefulSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}},
	{"DaemonSet", schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}},
	{"Job", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}},
	{"CronJob", schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}},
	{"ReplicationController", schema.GroupVersionResource{Version: "v1", Resource: "replicationcontrollers"}},
}

// object is what the inventory keeps of a watched object: its identity,
// its controller, the credentials its Pods pull with and its images —
// nothing else, so memory follows the number of objects and images, not
// the size of their specs (a transform trims each object before it is
// stored).
type object struct {
	metav1.ObjectMeta // Name, Namespace, UID, ResourceVersion, OwnerReferences (the controller only), DeletionTimestamp
	apiVersion        string
	kind              string
	serviceAccount    string
	pullSecrets       []string
	images            []workload.Image // Path dropped
	// running maps a Pod's container key (workload.Image.Key) to the
	// digest its node reports running (status imageID), when that is a
	// repository digest.
	running map[string]string
	// done: a Pod that succeeded or failed, a finished Job — nothing of it
	// runs, or will.
	done bool
	// err is why the object's images could not be read ("" when they
	// were); such an object is reported with an error result.
	err string
}

// GetObjectKind implements runtime.Object.
func (o *object) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object. The inventory never modifies
// an object once stored, so slices are shared.
func (o *object) DeepCopyObject() runtime.Object {
	c := *o
	o.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// controller returns the controlling owner, if any.
func (o *object) controller() *metav1.OwnerReference {
	if len(o.OwnerReferences) == 1 {
		return &o.OwnerReferences[0]
	}
	return nil
}

// trim turns an object from the API (an *unstructured.Unstructured) into
// an *object. It is the informers' transform: it runs before an object is
// stored.
func trim(kind, apiVersion string) cache.TransformFunc {
	return func(in any) (any, error) {
		u, ok := in.(*unstructured.Unstructured)
		if !ok {
			return in, nil // already trimmed (a tombstone's object)
		}
		o := &object{apiVersion: apiVersion, kind: kind}
		o.Name, o.Namespace, o.UID, o.ResourceVersion = u.GetName(), u.GetNamespace(), u.GetUID(), u.GetResourceVersion()
		o.DeletionTimestamp = u.GetDeletionTimestamp()
		if c := metav1.GetControllerOfNoCopy(u); c != nil {
			o.OwnerReferences = []metav1.OwnerReference{{APIVersion: c.APIVersion, Kind: c.Kind, Name: c.Name, UID: c.UID}}
		}
		raw, err := json.Marshal(u.Object)
		if err == nil {
			var w *workload.Object
			if w, err = workload.Decode(kind, raw); err == nil {
				o.serviceAccount, o.pullSecrets = w.ServiceAccount, w.PullSecrets
				o.images = make([]workload.Image, len(w.Images))
				for i, im := range w.Images {
					im.Path = ""
					o.images[i] = im
				}
			}
		}
		if err != nil {
			o.err = truncate(fmt.Sprintf("reading the images of %s %s/%s: %v", kind, o.Namespace, o.Name, err), MaxReasonBytes)
		}
		switch kind {
		case "Pod":
			phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
			o.done = phase == "Succeeded" || phase == "Failed"
			o.running = runningDigests(u)
		case "Job":
			o.done = jobFinished(u)
		}
		return o, nil
	}
}

// runningDigests reads a Pod's container statuses: for each container
// whose imageID is a repository digest (repo@sha256:…), the digest.
func runningDigests(u *unstructured.Unstructured) map[string]string {
	var out map[string]string
	for _, s := range []struct{ field, section string }{
		{"containerStatuses", string(workload.Containers)},
		{"initContainerStatuses", string(workload.InitContainers)},
		{"ephemeralContainerStatuses", string(workload.EphemeralContainers)},
	} {
		list, _, _ := unstructured.NestedSlice(u.Object, "status", s.field)
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			name, _ := m["name"].(string)
			id, _ := m["imageID"].(string)
			_, digest, ok := strings.Cut(id, "@")
			if !ok || name == "" || !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[s.section+"/"+name] = digest
		}
	}
	return out
}

// jobFinished says whether a Job's Complete or Failed condition is true.
func jobFinished(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if (m["type"] == "Complete" || m["type"] == "Failed") && m["status"] == "True" {
			return true
		}
	}
	return false
}

// inventory is the set of informers, one per watched kind.
type inventory struct {
	informers []cache.SharedIndexInformer
}

// newInventory makes the informers (not started).
func newInventory(client dynamic.Interface, log *slog.Logger) (*inventory, error) {
	inv := &inventory{}
	for _, w := range watched {
		ri, resource := client.Resource(w.gvr), w.gvr.Resource
		tr := trim(w.kind, w.gvr.GroupVersion().String())
		inf := cache.NewSharedIndexInformer(&cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				return listTrimmed(ctx, ri, o, tr)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				return ri.Watch(ctx, o)
			},
		}, &unstructured.Unstructured{}, 0, cache.Indexers{})
		if err := inf.SetTransform(tr); err != nil {
			return nil, err
		}
		_ = inf.SetWatchErrorHandlerWithContext(func(_ context.Context, _ *cache.Reflector, err error) {
			log.Error("re-verification: reading workloads (retried with backoff)", "resource", resource, "error", err.Error())
		})
		inv.informers = append(inv.informers, inf)
	}
	return inv, nil
}

// listPage is the objects asked for per list request.
const listPage = 500

// objectList is a list of trimmed objects, as listTrimmed returns it to an
// informer (whose transform passes them through).
type objectList struct {
	metav1.ListMeta
	Items []*object
}

// GetObjectKind implements runtime.Object.
func (l *objectList) GetObjectKind() schema.ObjectKind { return schema.EmptyObjectKind }

// DeepCopyObject implements runtime.Object; the objects are shared (see
// object.DeepCopyObject).
func (l *objectList) DeepCopyObject() runtime.Object {
	c := *l
	l.ListMeta.DeepCopyInto(&c.ListMeta)
	c.Items = slices.Clone(l.Items)
	return &c
}

// listTrimmed lists every object of a resource, listPage at a time, and
// trims each page before asking for the next: an informer's own list keeps
// every object decoded (an unstructured map, tens of KiB for a Pod) until
// the whole list has arrived, and the API server answers the informer's
// first list (resourceVersion "0", from its watch cache) in one page
// whatever the limit — at 10,000 Pods, some 250 MiB at once and a peak RSS
// of 450 MiB, over the chart's memory limit, for a live heap of 20 MiB. A
// paged list is read from etcd (resourceVersion ""): the most recent
// state, which is never older than what the informer asked for.
func listTrimmed(ctx context.Context, ri dynamic.ResourceInterface, o metav1.ListOptions, tr cache.TransformFunc) (runtime.Object, error) {
	o.ResourceVersion, o.ResourceVersionMatch, o.Limit, o.Continue = "", "", listPage, ""
	out := &objectList{}
	for {
		page, err := ri.List(ctx, o)
		if err != nil {
			return nil, err
		}
		for i := range page.Items {
			x, err := tr(&page.Items[i])
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, x.(*object))
		}
		out.ResourceVersion = page.GetResourceVersion()
		if o.Continue = page.GetContinue(); o.Continue == "" {
			return out, nil
		}
	}
}

// run starts the informers, until ctx is done.
func (inv *inventory) run(ctx context.Context) {
	for _, inf := range inv.informers {
		go inf.RunWithContext(ctx)
	}
}

// wait waits for the informers' first lists, at most timeout.
func (inv *inventory) wait(ctx context.Context, timeout time.Duration) error {
	synced := make([]cache.InformerSynced, len(inv.informers))
	for i, inf := range inv.informers {
		synced[i] = inf.HasSynced
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !cache.WaitForCacheSync(wctx.Done(), synced...) {
		return fmt.Errorf("listing Pods and workloads: not done within %s (may signet list and watch them?)", timeout)
	}
	return nil
}

// snapshot returns every object the informers hold.
func (inv *inventory) snapshot() []*object {
	var out []*object
	for _, inf := range inv.informers {
		for _, x := range inf.GetStore().List() {
			if o, ok := x.(*object); ok {
				out = append(out, o)
			}
		}
	}
	return out
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n - len("…")
	for i > 0 && (s[i]&0xC0) == 0x80 {
		i--
	}
	return s[:i] + "…"
}
