package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/signet-dev/signet/internal/kube"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
)

// maxExtraNamespaces bounds the namespaces whose ImagePolicies signet
// check lists besides --namespace: each costs a listing of the cluster's
// policies.
const maxExtraNamespaces = 64

// clusterEngine lists the policy objects the webhook decides with for a
// workload of --namespace (default: the kubeconfig context's) — every
// ClusterImagePolicy and the namespace's ImagePolicies, and doc (the
// --policy file, when given) as one more ClusterImagePolicy — and compiles
// them as the webhook does: an object that does not compile is reported
// on stderr and left out; the file not compiling is a usage error.
//
// The ImagePolicies of each extra namespace (signet check's objects' own)
// take part too, at most maxExtraNamespaces of them.
func clusterEngine(ctx context.Context, f *verifyFlags, doc *policy.Document, reg *registry.Client, opts []policy.CompileOption, stderr io.Writer, extra ...string) (*policy.Engine, string, error) {
	ns := f.namespace
	if ns == "" {
		var err error
		if ns, err = kube.KubeconfigNamespace(f.kubeconfig); err != nil {
			return nil, "", usageError("--kubeconfig: %v", err)
		}
	}
	cfg, err := kube.Config(f.kubeconfig)
	if err != nil {
		return nil, "", usageError("--kubeconfig: %v", err)
	}
	lister, err := kube.NewLister(cfg)
	if err != nil {
		return nil, "", usageError("--kubeconfig: %v", err)
	}
	set, err := lister.ListPolicies(ctx, ns)
	if err != nil {
		// Not a verdict on any image: the policy could not be read.
		return nil, "", &exitError{code: ExitInconclusive, err: fmt.Errorf("reading the cluster's policies: %w", err)}
	}
	if len(extra) > maxExtraNamespaces {
		return nil, "", usageError("the objects name %d namespaces, more than %d: check them a few namespaces at a time", len(extra), maxExtraNamespaces)
	}
	for _, other := range extra {
		if other == ns {
			continue
		}
		more, err := lister.ListPolicies(ctx, other)
		if err != nil {
			return nil, "", &exitError{code: ExitInconclusive, err: fmt.Errorf("reading the cluster's policies: %w", err)}
		}
		for _, o := range more.Objects {
			if o.Ref.Namespace != "" {
				set.Objects = append(set.Objects, o)
			}
		}
	}
	file := policy.ObjectRef{Kind: policy.KindCluster, Name: f.policy}
	if doc != nil {
		set.Objects = append(set.Objects, policy.Object{Ref: file, Doc: doc})
	}
	eng, errs := policy.CompileSet(set, reg, opts...)
	clusterPolicies := 0
	for _, o := range set.Objects {
		if o.Ref.Namespace == "" {
			clusterPolicies++
		}
	}
	for _, e := range errs {
		if doc != nil && e.Object == file {
			if ie, ok := errors.AsType[*policy.InvalidError](e.Err); ok {
				ie.Source = f.policy
			}
			return nil, "", &exitError{code: ExitUsage, err: e.Err}
		}
		if e.Object.Namespace == "" {
			clusterPolicies--
		}
		fmt.Fprintf(stderr, "warning: %s is left out, as the webhook leaves it out: %v\n", e.Object, e.Err)
	}
	if clusterPolicies == 0 {
		fmt.Fprintln(stderr, "warning: no ClusterImagePolicy is in force: every image is denied")
	}
	return eng, ns, nil
}
