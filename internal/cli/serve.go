package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/decisionlog"
	"github.com/signet-dev/signet/internal/externaldata"
	"github.com/signet-dev/signet/internal/kube"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/server"
)

type serveFlags struct {
	policy, certFile, keyFile string
	policySource              string
	tls                       managedTLSFlags
	clientCA                  string
	addr, metricsAddr         string
	kubeconfig                string
	namespace                 string
	excludeNamespaces         []string
	childApproval             bool
	unchangedApproval         bool
	timeout                   time.Duration
	externalDataClientCA      string
	externalDataTimeout       time.Duration
	reloadInterval            time.Duration
	shutdownGrace             time.Duration
	logLevel                  string
	decisionLog               string
	profiling                 bool
	releasePages              bool
	registryCA                string
	cache                     cache.Config
	redisURL                  string
	pullSecrets               bool
	audit                     auditFlagsServe
	alerts                    string
	reverify                  reverifyFlags
}

func (f *serveFlags) addFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.policy, "policy", "p", "", "policy file, watched for changes (required with --policy-source=file; with cluster, one more ClusterImagePolicy)")
	fl.StringVar(&f.policySource, "policy-source", server.SourceFile, `where the policy comes from: "file" (--policy alone, no API access needed) or "cluster" (the ClusterImagePolicy and ImagePolicy resources, watched; not ready and denying every admission until they are read)`)
	fl.StringVar(&f.certFile, "tls-cert", "", "serving certificate (PEM), reloaded when it changes (required with --tls-mode=files)")
	fl.StringVar(&f.keyFile, "tls-key", "", "serving key (PEM), reloaded when it changes (required with --tls-mode=files)")
	f.tls.addFlags(fl)
	fl.StringVar(&f.clientCA, "client-ca", "", "PEM CA bundle: require a client certificate chaining to it on --addr (the API server's, from its AdmissionConfiguration), reloaded when it changes; probes then use /healthz and /readyz on --metrics-addr")
	fl.StringVar(&f.externalDataClientCA, "externaldata-client-ca", "", "PEM CA bundle: answer Gatekeeper's external-data requests at POST /externaldata on --addr, only to clients presenting a certificate chaining to it (Gatekeeper's), reloaded when it changes; unset, /externaldata answers 403")
	fl.DurationVar(&f.externalDataTimeout, "externaldata-timeout", externaldata.DefaultTimeout, "deadline for one external-data request's verifications (keep below the Gatekeeper Provider's timeout)")
	fl.StringVar(&f.addr, "addr", ":8443", "HTTPS address for /mutate, /validate, /healthz, /readyz")
	fl.StringVar(&f.metricsAddr, "metrics-addr", ":9090", `HTTP address for /metrics, /healthz and /readyz ("" to disable; required with --client-ca)`)
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig for API lookups (default: in-cluster; none: child approval off)")
	fl.StringVar(&f.namespace, "namespace", kube.InClusterNamespace(), "signet's own namespace: always excluded, and where validators' auth.secretName Secrets live (default $POD_NAMESPACE, else the in-cluster namespace)")
	fl.StringSliceVar(&f.excludeNamespaces, "exclude-namespace", []string{"kube-system"}, "namespaces admitted without verification")
	fl.BoolVar(&f.childApproval, "child-approval", true, "name, in the decision log, the controlling owner (fetched through the API) whose digest-pinned images an admitted object carries; every image is verified under the policy in force either way")
	fl.BoolVar(&f.unchangedApproval, "unchanged-approval", false, "admit UPDATEs that change no image without verifying again")
	fl.DurationVar(&f.timeout, "timeout", admission.DefaultTimeout, "deadline for one admission request's verifications (keep below the webhook timeout)")
	fl.DurationVar(&f.reloadInterval, "reload-interval", 2*time.Second, "how often the policy and certificate files are checked for changes")
	fl.DurationVar(&f.shutdownGrace, "shutdown-grace", 25*time.Second, "how long requests in flight may finish after SIGTERM")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error (of signet's own log; the decision log is --decision-log)")
	fl.BoolVar(&f.releasePages, "release-startup-pages", true, "once serving, let the kernel reclaim the executable's pages only start-up used (Linux madvise MADV_PAGEOUT; ~40 MiB of resident memory)")
	fl.BoolVar(&f.profiling, "profiling", false, "serve Go's /debug/pprof/ profiles on --metrics-addr (keep that address private)")
	fl.StringVar(&f.decisionLog, "decision-log", "stderr", "where the decision log goes, one JSON line per admission: stderr, stdout or off")
	fl.StringVar(&f.registryCA, "registry-ca", "", "PEM file of CA certificates for registries with a private CA (added to the system roots)")
	fl.IntVar(&f.cache.Size, "cache-size", cache.DefaultSize, "verification results (and tag resolutions) kept in memory")
	fl.DurationVar(&f.cache.TTL, "cache-ttl", cache.DefaultTTL, "how long a verified result is reused (negative: never cache)")
	fl.DurationVar(&f.cache.FailedTTL, "cache-failed-ttl", cache.DefaultFailedTTL, "how long a failed (definitive) result is reused; inconclusive results are never cached (negative: never)")
	fl.DurationVar(&f.cache.TagTTL, "tag-ttl", cache.DefaultTagTTL, "how long a tag's digest is reused before asking the registry again (negative: never)")
	fl.StringVar(&f.redisURL, "redis-url", os.Getenv("SIGNET_REDIS_URL"), "Redis shared by replicas, redis://[:password@]host:port/db or rediss:// (default $SIGNET_REDIS_URL; prefer the variable for passwords)")
	f.audit.addFlags(fl)
	fl.StringVar(&f.alerts, "alerts", "", "alerts file (YAML): Slack, Teams, Opsgenie and webhook sinks for denials, warnings, policy reload failures and the Redis breaker, reloaded when it changes (docs/operations.md)")
	f.reverify.addFlags(fl)
	fl.BoolVar(&f.pullSecrets, "pull-secrets", true, "verify with each workload's registry credentials: its imagePullSecrets and its service account's (needs get on secrets and serviceaccounts in every namespace)")
}

func newServe(stderr io.Writer) *cobra.Command {
	f := &serveFlags{}
	cmd := &cobra.Command{
		Use:   "serve (--policy FILE | --policy-source=cluster [--policy FILE]) (--tls-cert FILE --tls-key FILE | --tls-mode=managed ...)",
		Short: "Run the admission webhook",
		Long: `serve runs signet as a Kubernetes admission webhook over HTTPS (TLS 1.2+):

  POST /mutate     verify every image and pin allowed tags to their digests
  POST /validate   verify only (for a validating webhook after other mutators)
  POST /externaldata  Gatekeeper's external-data provider protocol (with
                   --externaldata-client-ca; 403 without)
  GET  /healthz    liveness
  GET  /readyz     readiness (unready while draining)
  GET  /metrics    Prometheus metrics, on --metrics-addr (with /healthz
                   and /readyz again, for probes when --client-ca is set)

With --client-ca, only clients presenting a certificate from that CA (the
API server, configured with an AdmissionConfiguration) get past the TLS
handshake on --addr. With --externaldata-client-ca, /externaldata is
answered only to clients presenting a certificate from that CA (Gatekeeper,
mutual TLS); each CA's certificates are accepted on its own paths only.

With --tls-mode=managed, signet keeps its own CA and serving certificate
in the Secret --tls-secret of its namespace, renews them before they
expire, and sets the caBundle of the webhook configurations named by
--mutating-webhook-configuration and --validating-webhook-configuration.

With --policy-source=cluster, the policy is the cluster's ClusterImagePolicy
and ImagePolicy resources (signet.dev/v1alpha1), watched: a change is in
force within 2 seconds, and each object's status says whether it compiled.
A --policy file given too is one more ClusterImagePolicy ("file:<path>").

Every admission is logged as one JSON line on stderr (--decision-log);
with --audit-log, also in a tamper-evident audit log (hash-chained lines,
signed checkpoints with --audit-key; checked by signet audit verify).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServe(cmd, f, stderr)
		},
	}
	f.addFlags(cmd)
	return cmd
}

func runServe(cmd *cobra.Command, f *serveFlags, stderr io.Writer) error {
	switch {
	case f.policySource != server.SourceFile && f.policySource != server.SourceCluster:
		return usageError("--policy-source: want %s or %s, got %q", server.SourceFile, server.SourceCluster, f.policySource)
	case f.policy == "" && f.policySource == server.SourceFile:
		return usageError("--policy is required (or --policy-source=cluster)")
	}
	if err := f.tls.check(f.certFile, f.keyFile, f.namespace); err != nil {
		return err
	}
	if err := f.reverify.check(); err != nil {
		return err
	}
	if f.clientCA != "" && f.metricsAddr == "" {
		return usageError("--client-ca needs --metrics-addr: probes reach /healthz and /readyz there, without a client certificate")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return usageError("--log-level: %v", err)
	}
	// signet's log and the (buffered) decision log share stderr: one lock
	// keeps their lines whole.
	errOut := &lockedWriter{w: stderr}
	log := slog.New(slog.NewJSONHandler(errOut, &slog.HandlerOptions{Level: level}))
	// client-go (informers, leader election) logs through klog: one
	// format, one destination.
	klog.SetSlogLogger(log)
	m := metrics.New()
	var decisions decisionlog.Sink = decisionlog.Discard
	switch f.decisionLog {
	case "stderr", "stdout":
		out := io.Writer(errOut)
		if f.decisionLog == "stdout" {
			out = cmd.OutOrStdout()
		}
		dl := decisionlog.New(out)
		defer dl.Flush()
		decisions = dl
	case "off":
	default:
		return usageError("--decision-log: want stderr, stdout or off, got %q", f.decisionLog)
	}
	audit, err := f.audit.open(cmd.Context(), cmd.OutOrStdout(), f.decisionLog, log, m)
	if err != nil {
		return err
	}
	if audit != nil {
		defer audit.close(log)
		decisions = decisionlog.Tee(decisions, audit.w)
	}
	if gc, limit := tuneRuntime(); gc != 0 || limit != 0 {
		log.Debug("garbage collector tuned", "gcPercent", gc, "memoryLimitBytes", limit)
	}
	var alerts *alert.Alerter
	if f.alerts != "" {
		var err error
		if alerts, err = alert.Open(f.alerts, alert.Options{Log: log, Metrics: m}); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		defer alerts.Close()
	}
	reg, err := newRegistry(f.registryCA, registry.WithMetrics(m))
	if err != nil {
		return &exitError{code: ExitUsage, err: err}
	}
	excluded := append([]string(nil), f.excludeNamespaces...)
	if f.namespace != "" {
		excluded = append(excluded, f.namespace)
	}
	cfg := server.Config{
		PolicyFile: f.policy, PolicySource: f.policySource, CertFile: f.certFile, KeyFile: f.keyFile, ClientCAFile: f.clientCA,
		ExternalDataClientCAFile: f.externalDataClientCA, ExternalDataTimeout: f.externalDataTimeout,
		Addr: f.addr, MetricsAddr: f.metricsAddr, Profiling: f.profiling, ReleaseStartupPages: f.releasePages,
		ReloadInterval: f.reloadInterval, ShutdownGrace: f.shutdownGrace,
		Admission: admission.Options{
			ChildApproval:      f.childApproval,
			UnchangedApproval:  f.unchangedApproval,
			ExcludedNamespaces: excluded,
			Timeout:            f.timeout,
			Decisions:          alerts.Decisions(decisions),
			Required:           audit.required(),
		},
		Alerts:           alerts,
		KeyCheckInterval: f.reverify.keyCheckInterval,
		Log:              log,
		Registry:         reg,
		Cache:            f.cache,
		Metrics:          m,
		RedisURL:         f.redisURL,
	}
	rc, err := kube.Config(f.kubeconfig)
	if f.tls.mode == tlsModeManaged {
		if err != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("--tls-mode=managed needs the Kubernetes API: %w", err)}
		}
		if cfg.Certificates, err = f.tls.manager(cmd.Context(), rc, f.namespace, log); err != nil {
			return &exitError{code: ExitDenied, err: err}
		}
		err = nil
	}
	if f.policySource == server.SourceCluster {
		if err != nil {
			return &exitError{code: ExitUsage, err: fmt.Errorf("--policy-source=cluster needs the Kubernetes API: %w", err)}
		}
		// Its own client and rate limit (client-go's default is 5 requests
		// a second): status writes after a GitOps sync of many objects
		// never wait behind the webhook's own reads.
		pc := rest.CopyConfig(rc)
		pc.QPS, pc.Burst = 20, 50
		if cfg.PolicyClient, err = dynamic.NewForConfig(pc); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
	}
	if err != nil {
		log.Warn("no Kubernetes API access: child approval's owner lookups, registry credentials from Secrets and re-verification are off", "error", err.Error())
	} else {
		if f.childApproval {
			if cfg.Owners, err = kube.NewOwners(rc); err != nil {
				return &exitError{code: ExitUsage, err: err}
			}
		}
		secrets, err := kube.NewSecretsForConfig(rc, 0)
		if err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		cfg.KeySecrets = kube.SecretData{S: secrets}
		kcs := kube.NewKeychains(secrets, kube.KeychainsOptions{Namespace: f.namespace, ServiceAccounts: f.pullSecrets})
		cfg.SecretKeychains = kcs
		if f.pullSecrets {
			cfg.Admission.Keychains = kcs
		}
		if cfg.Reverify, err = f.reverify.options(rc, f.namespace, log); err != nil {
			return &exitError{code: ExitUsage, err: err}
		}
		if cfg.Reverify != nil {
			o := cfg.Reverify
			o.Excluded, o.Decisions, o.Alerts, o.Metrics, o.Log = excluded, decisions, alerts, m, log
			if f.pullSecrets {
				o.Keychains = kcs
			}
		}
	}
	err = server.Run(cmd.Context(), cfg)
	if _, ok := errors.AsType[*policy.InvalidError](err); ok {
		return &exitError{code: ExitUsage, err: err}
	}
	if err != nil {
		return &exitError{code: ExitDenied, err: err}
	}
	return nil
}

// lockedWriter serialises writes to one destination.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
