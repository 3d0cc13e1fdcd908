package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/spf13/cobra"

	"github.com/signet-dev/signet/internal/imageref"
	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/kube"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/verify"
	"github.com/signet-dev/signet/internal/version"
)

// DefaultTimeout is the per-image deadline of signet verify.
const DefaultTimeout = 10 * time.Second

// maxParallel bounds how many images signet verify checks at once.
const maxParallel = 8

type verifyFlags struct {
	policy     string
	output     string
	timeout    time.Duration
	registryCA string
	kubeconfig string
	namespace  string
	// source is --policy-source: file, or cluster (the cluster's
	// ClusterImagePolicies and the namespace's ImagePolicies, and the
	// --policy file as one more ClusterImagePolicy when given).
	source string
	// signetNamespace is where validators' auth.secretName Secrets live.
	signetNamespace string
}

// The policy sources of signet verify.
const (
	sourceFile    = "file"
	sourceCluster = "cluster"
)

func (f *verifyFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	f.addPolicyFlags(cmd)
}

// addPolicyFlags adds the flags that say where the policy comes from and
// how images are checked (all of verifyFlags but --output).
func (f *verifyFlags) addPolicyFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.policy, "policy", "p", "", "policy file (ImagePolicy YAML); with --policy-source=cluster, one more ClusterImagePolicy")
	cmd.Flags().DurationVar(&f.timeout, "timeout", DefaultTimeout, "deadline per image, registry requests included")
	cmd.Flags().StringVar(&f.registryCA, "registry-ca", "", "PEM file of CA certificates for registries with a private CA (added to the system roots)")
	cmd.Flags().StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig to read validators' auth.secretName Secrets through (default: none; signet's own credentials, the Docker config then the cloud keychains, are used instead)")
	cmd.Flags().StringVar(&f.namespace, "namespace", "", "--policy-source=cluster: the workload's namespace, whose ImagePolicies take part; file: signet's namespace, where validators' Secrets live (default: the kubeconfig context's namespace)")
	cmd.Flags().StringVar(&f.source, "policy-source", "", "file: the --policy file; cluster: the ClusterImagePolicies and the --namespace's ImagePolicies, listed through --kubeconfig, as the webhook decides for that namespace (default: cluster with --kubeconfig and no --policy, else file)")
	cmd.Flags().StringVar(&f.signetNamespace, "signet-namespace", "", "signet's namespace, where validators' auth.secretName Secrets live (default: --namespace with --policy-source=file, else the kubeconfig context's namespace)")
}

// checkSource settles --policy-source and what it needs.
func (f *verifyFlags) checkSource() error {
	if f.source == "" {
		f.source = sourceFile
		if f.kubeconfig != "" && f.policy == "" {
			f.source = sourceCluster
		}
	}
	switch {
	case f.source != sourceFile && f.source != sourceCluster:
		return usageError("--policy-source must be file or cluster, got %q", f.source)
	case f.source == sourceCluster && f.kubeconfig == "":
		return usageError("--policy-source=cluster needs --kubeconfig: the policies are read from the cluster")
	case f.source == sourceFile && f.policy == "":
		return usageError("--policy is required (or --kubeconfig, for the cluster's policies)")
	}
	return nil
}

func newVerify(stdout, stderr io.Writer) *cobra.Command {
	f := &verifyFlags{}
	cmd := &cobra.Command{
		Use:   "verify (--policy FILE | --kubeconfig FILE [--namespace NS]) [--output text|json] [--timeout D] IMAGE...",
		Short: "Decide whether images may run, as the admission webhook would",
		Long: `verify finds the policy rule matching each image, resolves its tag to a
digest, verifies the signatures of that digest and prints the decision.

The policy is the --policy file, or with --kubeconfig (and no --policy, or
--policy-source=cluster) the cluster's: every ClusterImagePolicy and the
ImagePolicies of --namespace, as the webhook decides for a workload of that
namespace. An object that does not compile is reported on stderr and left
out, as the webhook leaves it out; with --policy too, the file is one more
ClusterImagePolicy.

Exit codes: 0 every image allowed; 1 any image denied; 2 usage error or
invalid policy; 3 any image inconclusive (registry unreachable, timeout) and
none denied.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVerify(cmd.Context(), f, args, stdout, stderr)
		},
	}
	f.addFlags(cmd)
	return cmd
}

func runVerify(ctx context.Context, f *verifyFlags, images []string, stdout, stderr io.Writer) error {
	if err := f.checkSource(); err != nil {
		return err
	}
	if err := checkOutputFlags(f.output, f.timeout); err != nil {
		return err
	}
	for i, img := range images {
		if _, err := imageref.Parse(img); err != nil {
			return usageError("image argument %d: %v", i+1, err)
		}
	}
	eng, namespace, err := f.engine(ctx, stderr)
	if err != nil {
		return err
	}
	decisions := evaluateAll(ctx, eng, namespace, images, f.timeout)
	switch f.output {
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(decisions); err != nil {
			return err
		}
	default:
		printText(stdout, decisions)
	}
	return &exitError{code: exitCode(decisions)}
}

// engine builds the policy engine the flags name, and the namespace a
// workload is decided for ("" with a policy file: the cluster policy
// alone). With --policy-source=cluster, the ImagePolicies of the extra
// namespaces take part too.
func (f *verifyFlags) engine(ctx context.Context, stderr io.Writer, extra ...string) (*policy.Engine, string, error) {
	var doc *policy.Document
	var reg *registry.Client
	var err error
	if f.policy != "" {
		doc, reg, err = loadPolicy(f.policy, f.registryCA)
	} else {
		reg, err = newRegistry(f.registryCA)
	}
	if err != nil {
		return nil, "", &exitError{code: ExitUsage, err: err}
	}
	secrets, keys, err := verifySecrets(f, doc, stderr)
	if err != nil {
		return nil, "", &exitError{code: ExitUsage, err: err}
	}
	opts := []policy.CompileOption{policy.WithSecretKeychains(secrets)}
	if keys != nil {
		opts = append(opts, policy.WithKeySecrets(keys))
	}
	var eng *policy.Engine
	namespace := ""
	if f.source == sourceCluster {
		if eng, namespace, err = clusterEngine(ctx, f, doc, reg, opts, stderr, extra...); err != nil {
			return nil, "", err
		}
	} else if eng, err = policy.Compile(doc, reg, opts...); err != nil {
		if ie, ok := err.(*policy.InvalidError); ok {
			ie.Source = f.policy
		}
		return nil, "", &exitError{code: ExitUsage, err: err}
	}
	if ins := eng.InsecureRegistries(); len(ins) > 0 {
		fmt.Fprintf(stderr, "warning: the policy lets signet reach these registries over plain HTTP (insecureRegistries): %s\n", strings.Join(ins, ", "))
	}
	return eng, namespace, nil
}

// verifySecrets says where validators' auth.secretName credentials come
// from: the Secrets, read through --kubeconfig, or without one the Docker
// config (then the client's own cloud keychains), with a note on stderr for
// each validator that names a Secret. With --kubeconfig it also returns the
// reader of k8s:// trust-root keys.
func verifySecrets(f *verifyFlags, doc *policy.Document, stderr io.Writer) (policy.SecretKeychains, keysource.Secrets, error) {
	if f.kubeconfig != "" {
		ns := f.signetNamespace
		if ns == "" && f.source == sourceFile {
			ns = f.namespace
		}
		if ns == "" {
			var err error
			if ns, err = kube.KubeconfigNamespace(f.kubeconfig); err != nil {
				return nil, nil, fmt.Errorf("--kubeconfig: %w", err)
			}
		}
		cfg, err := kube.Config(f.kubeconfig)
		if err != nil {
			return nil, nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		s, err := kube.NewSecretsForConfig(cfg, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("--kubeconfig: %w", err)
		}
		return kube.NewKeychains(s, kube.KeychainsOptions{Namespace: ns}), kube.SecretData{S: s}, nil
	}
	for _, v := range doc.Validators { // no --kubeconfig: a file
		if v.Auth != nil && v.Auth.SecretName != "" {
			fmt.Fprintf(stderr, "note: validator %q reads its credentials from Secret %q in a cluster; without --kubeconfig, signet verify uses its own credentials instead (the Docker config, then the cloud keychains)\n", v.Name, v.Auth.SecretName)
		}
	}
	return dockerConfigKeychain{registry.NewKeychain(authn.DefaultKeychain)}, nil, nil
}

// dockerConfigKeychain stands in for every validator Secret when there is
// no cluster to read them from.
type dockerConfigKeychain struct{ kc *registry.Keychain }

func (d dockerConfigKeychain) Secret(context.Context, string) (*registry.Keychain, error) {
	return d.kc, nil
}

// evaluateAll evaluates images concurrently, each under its own deadline,
// for a workload of namespace ("": the cluster policy alone), and returns
// the decisions in argument order.
func evaluateAll(ctx context.Context, eng *policy.Engine, namespace string, images []string, timeout time.Duration) []policy.Decision {
	reqs := make([]nsImage, len(images))
	for i, img := range images {
		reqs[i] = nsImage{namespace, img}
	}
	return evaluateEach(ctx, eng, reqs, timeout)
}

// nsImage is an image of a workload of a namespace ("": the cluster
// policy alone).
type nsImage struct{ namespace, image string }

// evaluateEach evaluates each request concurrently, maxParallel at a time,
// each under its own deadline, and returns the decisions in order.
func evaluateEach(ctx context.Context, eng *policy.Engine, reqs []nsImage, timeout time.Duration) []policy.Decision {
	out := make([]policy.Decision, len(reqs))
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, r := range reqs {
		sem <- struct{}{} // at most maxParallel goroutines, however many images
		wg.Go(func() {
			defer func() { <-sem }()
			ictx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if r.namespace == "" {
				out[i] = eng.Evaluate(ictx, r.image)
			} else {
				out[i] = eng.EvaluateFor(ictx, r.namespace, r.image)
			}
		})
	}
	wg.Wait()
	return out
}

// newRegistry returns the registry client of signet verify and signet
// serve, trusting the CA bundle at path when given. Its own credentials
// are signet's: the Docker config, then the cloud keychains
// (kube.AmbientKeychain), with or without a cluster and pull secrets.
// checkDecisionFlags checks the flags signet verify and signet audit
// cluster share.
func checkDecisionFlags(policyFile, output string, timeout time.Duration) error {
	if policyFile == "" {
		return usageError("--policy is required")
	}
	return checkOutputFlags(output, timeout)
}

// checkOutputFlags checks --output and --timeout.
func checkOutputFlags(output string, timeout time.Duration) error {
	switch {
	case output != "text" && output != "json":
		return usageError("--output must be text or json, got %q", output)
	case timeout <= 0:
		return usageError("--timeout must be positive, got %s", timeout)
	}
	return nil
}

// loadPolicy reads the policy and builds the registry client a command
// decides with; either failing is a usage error.
func loadPolicy(policyFile, caFile string) (*policy.Document, *registry.Client, error) {
	doc, err := policy.Load(policyFile)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, err: err}
	}
	reg, err := newRegistry(caFile)
	if err != nil {
		return nil, nil, &exitError{code: ExitUsage, err: err}
	}
	return doc, reg, nil
}

func newRegistry(caFile string, extra ...registry.Option) (*registry.Client, error) {
	opts := append([]registry.Option{registry.WithUserAgent("signet/" + version.Version), registry.WithKeychain(kube.AmbientKeychain())}, extra...)
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--registry-ca: %w", err)
		}
		opts = append(opts, registry.WithCABundle(pem))
	}
	c, err := registry.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("--registry-ca %s: %w", caFile, err)
	}
	return c, nil
}

func exitCode(ds []policy.Decision) int {
	code := ExitAllowed
	for _, d := range ds {
		switch {
		case d.Allowed:
		case d.Outcome == verify.Inconclusive:
			code = max(code, ExitInconclusive)
		default:
			return ExitDenied
		}
	}
	return code
}

func printText(w io.Writer, ds []policy.Decision) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tDECISION\tOUTCOME\tDIGEST\tRULE\tVALIDATOR")
	for _, d := range ds {
		decision := "denied"
		if d.Allowed {
			decision = "allowed"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Image, decision, d.Outcome, orDash(d.Digest), orDash(d.Rule), orDash(d.Validator))
	}
	tw.Flush()
	for _, d := range ds {
		fmt.Fprintf(w, "\n%s\n  %s\n", d.Image, d.Reason)
		if d.Pinned != "" {
			fmt.Fprintf(w, "  pinned: %s\n", d.Pinned)
		}
		for _, a := range d.Attestations {
			mark := "✗"
			if a.Outcome == verify.Verified {
				mark = "✓"
			}
			fmt.Fprintf(w, "  %s attestation %s (%s) %s: %s\n", mark, a.Name, a.Type, a.Outcome, a.Reason)
		}
		for _, c := range d.Checks {
			mark := "✗"
			if c.Passed {
				mark = "✓"
			}
			var who []string
			if c.TrustRoot != "" {
				who = append(who, "trust root "+c.TrustRoot)
			}
			if c.Signature != "" {
				who = append(who, c.Signature)
			}
			fmt.Fprintf(w, "  %s %s: %s\n", mark, strings.Join(who, ", "), c.Reason)
		}
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
