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

// ListPageSize is how many objects List asks the API for at once. Only one
// page is held at a time: a Pod is a few KiB (at most 1.5 MiB, etcd's
// limit), so a page is well under a MiB in practice and at most ~150 MiB
// of JSON however large the cluster.
const ListPageSize = 100

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
// namespace when ""), ListPageSize objects per API request, following the
// continue token, so that memory holds one page whatever the number of
// objects. An error from fn ends the listing and is returned; API errors are returned wrapped, so apierrors.IsForbidden works
// on them.
func (l *Lister) List(ctx context.Context, kind, namespace string, fn func(raw []byte) error) error {
	gvr, ok := listResources[kind]
	if !ok {
		return fmt.Errorf("listing %s: not a kind with a pod spec", kind)
	}
	opts := metav1.ListOptions{Limit: ListPageSize}
	for {
		page, err := l.client.Resource(gvr).Namespace(namespace).List(ctx, opts)
		if err != nil {
			return fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
		}
		for i := range page.Items {
			raw, err := json.Marshal(page.Items[i].Object)
			if err != nil {
				return fmt.Errorf("listing %s: %w", gvr.GroupResource(), err)
			}
			if err := fn(raw); err != nil {
				return err
			}
		}
		if opts.Continue = page.GetContinue(); opts.Continue == "" {
			return nil
		}
	}
}

// ClientConfig returns the REST config from kubeconfig; when it is empty,
// from $KUBECONFIG or ~/.kube/config as kubectl finds them, else the
// in-cluster config. For command-line tools; signet serve uses Config.
func ClientConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if kubeconfig == "" && clientcmd.IsEmptyConfig(err) {
		return rest.InClusterConfig()
	}
	return cfg, err
}
