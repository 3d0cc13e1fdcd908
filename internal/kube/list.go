package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// The pages List asks for. Only one page is held at a time, and its size
// follows the objects: a page is at most ListPageSize objects and, past
// the first, about ListPageBytes of JSON (the average object size of the
// page before decides how many the next asks for), never under
// MinListPageSize objects. A Pod is a few KiB, so pages are full; objects
// near etcd's 1.5 MiB limit make pages of MinListPageSize (~15 MiB).
const (
	ListPageSize    = 100
	MinListPageSize = 10
	ListPageBytes   = 4 << 20
)

// listResources are the kinds List lists: every kind package workload
// reads a pod spec from, except the pods/ephemeralcontainers subresource
// (its images are the Pod's).
var listResources = map[string]schema.GroupVersionResource{
	"Pod":         {Version: "v1", Resource: "pods"},
	"PodTemplate": {Version: "v1", Resource: "podtemplates"},
}

func init() {
	for k, v := range resources {
		listResources[k] = v
	}
}

// Lister lists the objects of a kind, page by page, through the dynamic
// client.
type Lister struct {
	client dynamic.Interface
}

// NewLister returns a Lister for a REST config.
func NewLister(cfg *rest.Config) (*Lister, error) {
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Lister{client: c}, nil
}

// ListKinds lists the kinds List accepts, sorted.
func ListKinds() []string {
	return slices.Sorted(maps.Keys(listResources))
}

// List calls fn with the JSON of every object of kind in namespace (every
// namespace when ""), one page per API request (see ListPageSize),
// following the continue token, so that memory holds one page whatever the
// number and size of objects. An error from fn ends the listing and is returned; API errors are returned wrapped, so apierrors.IsForbidden works
// on them.
func (l *Lister) List(ctx context.Context, kind, namespace string, fn func(raw []byte) error) error {
	gvr, ok := listResources[kind]
	if !ok {
		return fmt.Errorf("listing %s: not a kind with a pod spec", kind)
	}
	return l.list(ctx, gvr, namespace, fn)
}

// list is List of a resource.
func (l *Lister) list(ctx context.Context, gvr schema.GroupVersionResource, namespace string, fn func(raw []byte) error) error {
	opts := metav1.ListOptions{Limit: MinListPageSize}
	for {
		page, err := l.client.Resource(gvr).Namespace(namespace).List(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
		}
		size := 0
		for i := range page.Items {
			raw, err := json.Marshal(page.Items[i].Object)
			if err != nil {
				return fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
			}
			size += len(raw)
			if err := fn(raw); err != nil {
				return err
			}
		}
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			return nil
		}
		opts.Limit = nextPage(size, len(page.Items))
	}
}

// nextPage returns the limit of the page after one of n objects and size
// bytes of JSON.
func nextPage(size, n int) int64 {
	if n == 0 || size == 0 {
		return ListPageSize
	}
	return int64(min(max(ListPageBytes/(size/n+1), MinListPageSize), ListPageSize))
}

// ClientConfig returns the REST config and the current context's namespace
// from kubeconfig; when it is empty, from $KUBECONFIG or ~/.kube/config as
// kubectl finds them, else the in-cluster config and namespace. For
// command-line tools; signet serve uses Config.
func ClientConfig(kubeconfig string) (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := cc.ClientConfig()
	if kubeconfig == "" && clientcmd.IsEmptyConfig(err) {
		cfg, err := rest.InClusterConfig()
		return cfg, InClusterNamespace(), err
	}
	if err != nil {
		return nil, "", err
	}
	ns, _, err := cc.Namespace()
	return cfg, ns, err
}
