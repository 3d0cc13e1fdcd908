package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/signet-dev/signet/internal/workload"
)

// resources maps owner kinds to their API resources.
var resources = map[string]schema.GroupVersionResource{
	"Deployment":            {Group: "apps", Version: "v1", Resource: "deployments"},
	"ReplicaSet":            {Group: "apps", Version: "v1", Resource: "replicasets"},
	"StatefulSet":           {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"DaemonSet":             {Group: "apps", Version: "v1", Resource: "daemonsets"},
	"Job":                   {Group: "batch", Version: "v1", Resource: "jobs"},
	"CronJob":               {Group: "batch", Version: "v1", Resource: "cronjobs"},
	"ReplicationController": {Group: "", Version: "v1", Resource: "replicationcontrollers"},
}

// Owners fetches owners with a dynamic client.
type Owners struct {
	client dynamic.Interface
}

// NewOwners returns Owners for a REST config.
func NewOwners(cfg *rest.Config) (*Owners, error) {
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Owners{client: c}, nil
}

// Config returns the REST config from kubeconfig, or the in-cluster config
// when kubeconfig is empty.
func Config(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		return rest.InClusterConfig()
	}
	return clientcmd.BuildConfigFromFlags("", kubeconfig)
}

// Get implements admission.Owners. The owner must have the UID the child
// names: a name reused by a new object is not the child's owner.
func (o *Owners) Get(ctx context.Context, namespace string, ref workload.OwnerReference) (*workload.Object, error) {
	gvr, ok := resources[ref.Kind]
	if !ok {
		return nil, fmt.Errorf("owner kind %s is not a workload", ref.Kind)
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil || gv.Group != gvr.Group {
		return nil, fmt.Errorf("owner apiVersion %q is not %s", ref.APIVersion, gvr.GroupVersion())
	}
	u, err := o.client.Resource(gvr).Namespace(namespace).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("fetching %s %s/%s: %w", ref.Kind, namespace, ref.Name, err)
	}
	if string(u.GetUID()) != ref.UID {
		return nil, fmt.Errorf("%s %s/%s has uid %s, not %s", ref.Kind, namespace, ref.Name, u.GetUID(), ref.UID)
	}
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	return workload.Decode(ref.Kind, raw)
}

// KubeconfigNamespace returns the namespace of kubeconfig's current
// context, "default" when it names none.
func KubeconfigNamespace(kubeconfig string) (string, error) {
	ns, _, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).Namespace()
	return ns, err
}

// InClusterNamespace returns the namespace signet runs in: $POD_NAMESPACE,
// else the service account's namespace file, else "".
func InClusterNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
