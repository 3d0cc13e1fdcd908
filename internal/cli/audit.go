package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/kube"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/workload"
)

type auditFlags struct {
	policy            string
	output            string
	kubeconfig        string
	namespace         string
	excludeNamespaces []string
	signetNamespace   string
	timeout           time.Duration
	registryCA        string
	pullSecrets       bool
}

func (f *auditFlags) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.policy, "policy", "p", "", "policy file (ImagePolicy YAML): the one in force (required)")
	fl.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG or ~/.kube/config, else in-cluster)")
	fl.StringVarP(&f.namespace, "namespace", "n", "", "audit this namespace only (default: every namespace)")
	fl.StringSliceVar(&f.excludeNamespaces, "exclude-namespace", nil, "namespaces not audited (default: none; the webhook's are kube-system and signet's own)")
	fl.StringVar(&f.signetNamespace, "signet-namespace", "", "signet's namespace, where validators' auth.secretName Secrets live (default: the kubeconfig context's namespace)")
	fl.DurationVar(&f.timeout, "timeout", DefaultTimeout, "deadline per image, registry requests included")
	fl.StringVar(&f.registryCA, "registry-ca", "", "PEM file of CA certificates for registries with a private CA (added to the system roots)")
	fl.BoolVar(&f.pullSecrets, "pull-secrets", true, "verify with each workload's registry credentials, as signet serve does: its imagePullSecrets and its service account's")
}

func newAudit(stdout, stderr io.Writer) *cobra.Command {
	audit := &cobra.Command{
		Use:   "audit",
		Short: "Check what already runs against a policy, or an audit log",
		Args:  cobra.NoArgs,
	}
	f := &auditFlags{}
	cluster := &cobra.Command{
		Use:   "cluster --policy FILE [--namespace NS] [--output text|json]",
		Short: "List every workload and Pod whose images the policy would deny",
		Long: `audit cluster lists every Pod, PodTemplate, Deployment, ReplicaSet,
StatefulSet, DaemonSet, Job, CronJob and ReplicationController in the
cluster, decides every image each one makes a node pull — containers,
initContainers, ephemeralContainers and image volumes, in workload templates
too, images pinned by digest included — with the policy as the webhook
would, and prints the objects with an image the policy denies.

Each distinct image is evaluated once (per set of registry credentials),
8 at a time; objects are listed a page at a time (up to ` + fmt.Sprint(kube.ListPageSize) + ` objects,
about ` + fmt.Sprint(kube.ListPageBytes>>20) + ` MiB), so memory holds one page, not the cluster.

Exit codes: 0 nothing denied; 1 an image denied; 2 usage error or invalid
policy (or the cluster could not be listed); 3 an image inconclusive
(registry unreachable, timeout) and none denied.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAuditCluster(cmd.Context(), f, stdout, stderr)
		},
	}
	f.addFlags(cluster)
	audit.AddCommand(cluster, newAuditVerify(stdout))
	return audit
}

// auditImage is a denied image of an audited object.
type auditImage struct {
	Path      string         `json:"path"`
	Container string         `json:"container"` // section[name]
	Image     string         `json:"image"`
	Outcome   verify.Outcome `json:"outcome"`
	Mode      string         `json:"mode,omitempty"`
	Rule      string         `json:"rule,omitempty"`
	Digest    string         `json:"digest,omitempty"`
	Reason    string         `json:"reason"`
}

// auditObject is an object with at least one denied image.
type auditObject struct {
	Kind      string       `json:"kind"`
	Namespace string       `json:"namespace,omitempty"`
	Name      string       `json:"name"`
	Images    []auditImage `json:"images"`
}

// auditReport is what audit cluster prints.
type auditReport struct {
	Policy  string        `json:"policy"`
	Objects int           `json:"objectsAudited"`
	Images  int           `json:"imagesEvaluated"`
	Denied  []auditObject `json:"denied"`
}

func runAuditCluster(ctx context.Context, f *auditFlags, stdout, stderr io.Writer) error {
	if err := checkDecisionFlags(f.policy, f.output, f.timeout); err != nil {
		return err
	}
	doc, reg, err := loadPolicy(f.policy, f.registryCA)
	if err != nil {
		return err
	}
	rc, ns, err := kube.ClientConfig(f.kubeconfig)
	if err != nil {
		return usageError("--kubeconfig: %v", err)
	}
	if f.signetNamespace != "" {
		ns = f.signetNamespace
	}
	lister, err := kube.NewLister(rc)
	if err != nil {
		return usageError("--kubeconfig: %v", err)
	}
	secrets, err := kube.NewSecretsForConfig(rc, 0)
	if err != nil {
		return usageError("--kubeconfig: %v", err)
	}
	kcs := kube.NewKeychains(secrets, kube.KeychainsOptions{Namespace: ns, ServiceAccounts: f.pullSecrets})
	// Verified results are shared between credentials (package cache), so
	// an image named in many namespaces is verified once.
	vc, err := cache.New(cache.Config{})
	if err != nil {
		return err
	}
	eng, err := policy.Compile(doc, reg, policy.WithCache(vc), policy.WithSecretKeychains(kcs), policy.WithKeySecrets(kube.SecretData{S: secrets}))
	if err != nil {
		if ie, ok := err.(*policy.InvalidError); ok {
			ie.Source = f.policy
		}
		return &exitError{code: ExitUsage, err: err}
	}
	if ins := eng.InsecureRegistries(); len(ins) > 0 {
		fmt.Fprintf(stderr, "warning: the policy lets signet reach these registries over plain HTTP (insecureRegistries): %s\n", strings.Join(ins, ", "))
	}

	a := &auditor{eng: eng, timeout: f.timeout, decided: map[auditKey]policy.Decision{}, report: auditReport{Policy: eng.Name(), Denied: []auditObject{}}}
	if f.pullSecrets {
		a.keychains = kcs
	}
	for _, kind := range kube.ListKinds() {
		err := lister.List(ctx, kind, f.namespace, func(raw []byte) error {
			a.add(ctx, kind, raw, f.excludeNamespaces)
			if len(a.pending) >= kube.ListPageSize {
				a.flush(ctx)
			}
			return nil
		})
		if err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		a.flush(ctx)
	}

	if f.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(a.report); err != nil {
			return err
		}
	} else {
		printAudit(stdout, a.report)
	}
	return &exitError{code: a.exitCode()}
}

// auditKey is an image under one set of registry credentials.
type auditKey struct {
	image string
	kc    *registry.Keychain
}

type pendingObject struct {
	obj *workload.Object
	kc  *registry.Keychain
	err error // the object cannot be verified (over signet's limits)
}

// auditor decides the objects of a cluster, page by page: only the
// decisions of distinct images (without their checks) and the denied
// objects are kept.
type auditor struct {
	eng       *policy.Engine
	keychains *kube.Keychains // nil: the registry client's own credentials
	timeout   time.Duration
	pending   []pendingObject
	decided   map[auditKey]policy.Decision
	report    auditReport
}

// add decodes one listed object and queues it.
func (a *auditor) add(ctx context.Context, kind string, raw []byte, excluded []string) {
	obj, err := workload.Decode(kind, raw)
	if err != nil {
		// Name and namespace are read again, for the report.
		var meta struct {
			Metadata workload.Metadata `json:"metadata"`
		}
		json.Unmarshal(raw, &meta) //nolint:errcheck // best effort: the error is what is reported
		obj = &workload.Object{Kind: kind, Metadata: meta.Metadata}
	}
	if slices.Contains(excluded, obj.Metadata.Namespace) {
		return
	}
	a.report.Objects++
	p := pendingObject{obj: obj, err: err}
	if err == nil && a.keychains != nil {
		kc, kerr := a.keychains.Workload(ctx, obj.Metadata.Namespace, obj.ServiceAccount, obj.PullSecrets)
		if kerr != nil {
			kc = registry.UnreadableKeychain(fmt.Errorf("%w; check that you may get secrets and serviceaccounts in namespace %s", kerr, obj.Metadata.Namespace))
		}
		p.kc = kc
	}
	a.pending = append(a.pending, p)
}

// flush evaluates the images of the queued objects not decided yet,
// maxParallel at a time, and reports the queued objects with a denied
// image.
func (a *auditor) flush(ctx context.Context) {
	var todo []auditKey
	for _, p := range a.pending {
		if p.err != nil {
			continue
		}
		for _, img := range p.obj.Images {
			k := auditKey{img.Ref, p.kc}
			if _, ok := a.decided[k]; !ok {
				a.decided[k] = policy.Decision{} // decided below
				todo = append(todo, k)
			}
		}
	}
	out := make([]policy.Decision, len(todo))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, k := range todo {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ictx, cancel := context.WithTimeout(ctx, a.timeout)
			defer cancel()
			if k.kc != nil {
				ictx = registry.ContextWithKeychain(ictx, k.kc)
			}
			d := a.eng.Evaluate(ictx, k.image)
			d.Checks = nil
			out[i] = d
		})
	}
	wg.Wait()
	for i, k := range todo {
		a.decided[k] = out[i]
	}
	a.report.Images += len(todo)

	for _, p := range a.pending {
		o := auditObject{Kind: p.obj.Kind, Namespace: p.obj.Metadata.Namespace, Name: p.obj.Metadata.Name}
		if p.err != nil {
			o.Images = append(o.Images, auditImage{Outcome: verify.Failed, Reason: p.err.Error()})
		}
		for _, img := range p.obj.Images {
			d := a.decided[auditKey{img.Ref, p.kc}]
			if d.Allowed {
				continue
			}
			o.Images = append(o.Images, auditImage{
				Path: img.Path, Container: fmt.Sprintf("%s[%s]", img.Section, img.Container), Image: img.Ref,
				Outcome: d.Outcome, Mode: d.Mode, Rule: d.Rule, Digest: d.Digest, Reason: d.Reason,
			})
		}
		if len(o.Images) > 0 {
			a.report.Denied = append(a.report.Denied, o)
		}
	}
	a.pending = a.pending[:0]
}

// exitCode is signet verify's: 1 if an image is denied (not only
// inconclusive), else 3 if one is inconclusive, else 0.
func (a *auditor) exitCode() int {
	code := ExitAllowed
	for _, o := range a.report.Denied {
		for _, img := range o.Images {
			if img.Outcome != verify.Inconclusive {
				return ExitDenied
			}
			code = ExitInconclusive
		}
	}
	return code
}

func printAudit(w io.Writer, r auditReport) {
	fmt.Fprintf(w, "policy %s: %d objects audited, %d images evaluated, %d objects denied\n", r.Policy, r.Objects, r.Images, len(r.Denied))
	if len(r.Denied) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAMESPACE\tNAME\tCONTAINER\tIMAGE\tOUTCOME\tREASON")
	for _, o := range r.Denied {
		for _, img := range o.Images {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", o.Kind, orDash(o.Namespace), o.Name, orDash(img.Container), orDash(img.Image), img.Outcome, img.Reason)
		}
	}
	tw.Flush()
}
