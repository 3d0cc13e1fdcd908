package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"k8s.io/client-go/dynamic"

	"github.com/signet-dev/signet/internal/admission"
	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/cache"
	"github.com/signet-dev/signet/internal/externaldata"
	"github.com/signet-dev/signet/internal/keysource"
	"github.com/signet-dev/signet/internal/metrics"
	"github.com/signet-dev/signet/internal/policy"
	"github.com/signet-dev/signet/internal/registry"
	"github.com/signet-dev/signet/internal/reverify"
	"github.com/signet-dev/signet/internal/version"
)

// The webhook server's bounds on a client. The API server calls webhooks
// with a timeout of 10 s (the chart's, and Kubernetes' default) and sends
// its request at once over a connection it keeps open, so every bound is
// well under that: a client that takes longer is not the API server, and
// a connection that stalls is closed before it can pile up with others.
// Bodies are read as they arrive (package admission), so a connection
// holds memory for what it sent, never for what it declared.
const (
	// ReadHeaderTimeout bounds the TLS handshake and a request's headers.
	ReadHeaderTimeout = 3 * time.Second
	// ReadTimeout bounds a whole request, headers and body (per stream
	// over HTTP/2): a 7 MiB body trickled slower than that is cut off.
	ReadTimeout = 5 * time.Second
	// IdleTimeout closes a keep-alive connection with no request for this
	// long (over HTTP/2, with a GOAWAY first, so no request is lost).
	IdleTimeout = 5 * time.Second
	// MaxHeaderBytes bounds a request's headers.
	MaxHeaderBytes = 64 << 10
	// MaxConcurrentStreams bounds the requests of one HTTP/2 connection
	// in flight; a client with more opens more connections (Go's HTTP/2
	// client, the API server's, does).
	MaxConcurrentStreams = 32
	// MaxReceiveBuffer bounds the flow-control windows of an HTTP/2
	// connection and of each of its streams: the request data the server
	// holds for a connection before its handlers read it (Go's default is
	// 1 MiB).
	MaxReceiveBuffer = 128 << 10
)

// ExternalDataPath is where Gatekeeper's external-data requests are
// answered on the webhook listener.
const ExternalDataPath = "/externaldata"

// Config is everything `signet serve` is told.
type Config struct {
	// PolicyFile is the policy file, watched; "" with PolicySource
	// "cluster" alone.
	PolicyFile string
	// PolicySource is where the policy comes from: "file" (or ""), the
	// PolicyFile alone, no API needed; "cluster", the ClusterImagePolicy
	// and ImagePolicy resources read through PolicyClient
	// (package policysource), with the PolicyFile, when set, as one more
	// ClusterImagePolicy. Until they are read the server is not ready and
	// denies every admission.
	PolicySource string
	PolicyClient dynamic.Interface
	CertFile     string
	KeyFile      string
	Addr         string // HTTPS, default ":8443"
	MetricsAddr  string // HTTP, default ":9090"; "" disables it

	// ClientCAFile, when set, makes the webhook listener (Addr) require a
	// client certificate chaining to this PEM CA bundle (reloaded like the
	// serving certificate): only the API server, given that certificate
	// by its AdmissionConfiguration, gets past the TLS handshake. Probes
	// then reach /healthz and /readyz on MetricsAddr (served there
	// always, without client authentication), which must be set.
	ClientCAFile string

	// ExternalDataClientCAFile, when set, serves Gatekeeper's external-data
	// provider protocol at POST /externaldata on Addr (package
	// externaldata) to clients presenting a certificate chaining to this
	// PEM CA bundle (the one Gatekeeper's client certificate is issued
	// by), reloaded like ClientCAFile. Unset, /externaldata answers 403:
	// signet never answers for its verifications to an unauthenticated
	// client.
	ExternalDataClientCAFile string
	// ExternalDataTimeout bounds the verifications of one external-data
	// request (default externaldata.DefaultTimeout); keep it below the
	// Provider's timeout.
	ExternalDataTimeout time.Duration

	// Certificates, when set, serves the TLS certificate instead of
	// CertFile and KeyFile (signet-managed TLS, package certs); it is
	// kept current by its Run until the server stops.
	Certificates CertificateSource

	// ReleaseStartupPages, once serving, lets the kernel reclaim the pages
	// of the executable that start-up touched (see releaseStartupPages).
	ReleaseStartupPages bool
	// Profiling adds Go's /debug/pprof/ handlers to the metrics address
	// (off by default: profiles show memory contents to whoever can reach
	// that port).
	Profiling      bool
	ReloadInterval time.Duration // policy and certificate polling, default 2s
	ShutdownGrace  time.Duration // draining on SIGTERM, default 25s
	Admission      admission.Options
	Owners         admission.Owners // nil disables child approval
	Registry       *registry.Client // default: Docker config credentials, system roots (signet serve passes one with kube.AmbientKeychain)
	// Metrics is where everything is counted; nil: a new registry. Pass
	// the one the Registry client counts its requests in.
	Metrics *metrics.Metrics
	// Cache configures the verification cache (zero: the defaults); its
	// Metrics are set by Run.
	Cache cache.Config
	// RedisURL, when set, adds a Redis shared by replicas behind the
	// in-memory cache. It may hold a password: it is never logged.
	RedisURL string
	// SecretKeychains reads validators' auth.secretName credentials; nil
	// rejects policies that name one.
	SecretKeychains policy.SecretKeychains
	// KeySecrets reads k8s:// trust-root keys; nil leaves them unresolvable.
	KeySecrets keysource.Secrets
	// Alerts, when set, is told of policy reloads that fail and of the
	// Redis breaker opening, and its file is reloaded like the policy's
	// (admission decisions reach it through Admission.Decisions).
	Alerts *alert.Alerter
	// Reverify, when set, re-verifies the images of running workloads
	// (package reverify) under the engine in force (Run sets its Engine;
	// admission's child approval then asks it which owners failed).
	Reverify *reverify.Options
	// KeyCheckInterval is how often the policy's keys in Secrets and KMS
	// are read again (keysource.Watch): a rotated key is used at once and,
	// with Reverify, running images are re-verified. 0: never (keys are
	// read again when their cache expires).
	KeyCheckInterval time.Duration
	Log              *slog.Logger
	// Ready, when set, receives the bound addresses once serving.
	Ready func(addr, metricsAddr string)
}

// CertificateSource serves the webhook's TLS certificate and keeps it
// current while Run runs (until ctx is done).
type CertificateSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Run(ctx context.Context)
}

// fileCertificates is the CertificateSource of a key pair of files.
type fileCertificates struct {
	*CertReloader
	interval time.Duration
}

func (f fileCertificates) Run(ctx context.Context) { f.CertReloader.Run(ctx, f.interval) }

// Run serves until ctx is done, then drains: /readyz turns unready, new
// connections are refused, and requests in flight finish (bounded by
// ShutdownGrace).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Addr == "" {
		cfg.Addr = ":8443"
	}
	if cfg.ReloadInterval <= 0 {
		cfg.ReloadInterval = 2 * time.Second
	}
	if cfg.ShutdownGrace <= 0 {
		cfg.ShutdownGrace = 25 * time.Second
	}
	if cfg.ClientCAFile != "" && cfg.MetricsAddr == "" {
		return errors.New("a client CA bundle needs the metrics address: it serves the health checks, which probes reach without a client certificate")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = metrics.New()
	}
	reg := cfg.Registry
	if reg == nil {
		reg = registry.MustNew(registry.WithUserAgent("signet/" + version.Version))
	}
	cc := cfg.Cache
	cc.Metrics = m
	if cfg.RedisURL != "" {
		r, err := cache.NewRedis(cfg.RedisURL, log)
		if err != nil {
			return err
		}
		defer r.Close()
		if cfg.Alerts != nil {
			r.Opened = cfg.Alerts.RedisBreakerOpen
		}
		cc.Redis = r
	}
	vc, err := cache.New(cc)
	if err != nil {
		return err
	}
	opts := []policy.CompileOption{policy.WithCache(vc)}
	if cfg.SecretKeychains != nil {
		opts = append(opts, policy.WithSecretKeychains(cfg.SecretKeychains))
	}
	if cfg.KeySecrets != nil {
		opts = append(opts, policy.WithKeySecrets(cfg.KeySecrets))
	}
	pol, err := newPolicy(cfg, reg, opts, log, m)
	if err != nil {
		return err
	}
	certs := cfg.Certificates
	if certs == nil {
		files, err := NewCertReloader(cfg.CertFile, cfg.KeyFile, log)
		if err != nil {
			return err
		}
		certs = fileCertificates{files, cfg.ReloadInterval}
	}
	// "h2" is listed here (http.Server adds it only to its own copy)
	// because a client CA bundle hands each handshake a copy of this.
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate, NextProtos: []string{"h2", "http/1.1"}}
	var clientCAs *ClientCAReloader
	if cfg.ClientCAFile != "" || cfg.ExternalDataClientCAFile != "" {
		if clientCAs, err = NewClientCAReloader(cfg.ClientCAFile, cfg.ExternalDataClientCAFile, tlsConfig.Clone(), log); err != nil {
			return err
		}
		tlsConfig.GetConfigForClient = clientCAs.GetConfigForClient
	}
	var re *reverify.Reverifier
	if cfg.Reverify != nil {
		o := *cfg.Reverify
		o.Engine = pol.engine
		if re, err = reverify.New(o); err != nil {
			return err
		}
		cfg.Admission.Untrusted = re.Untrusted
	}
	rv := admission.NewReviewer(pol.engine, cfg.Owners, cfg.Admission, log, m)

	var ready atomic.Bool
	health := func(mux *http.ServeMux) {
		mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
		mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !ready.Load() {
				http.Error(w, "shutting down", http.StatusServiceUnavailable)
				return
			}
			if pol.engine() == nil {
				http.Error(w, "no policy in force yet: reading the policy resources", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintln(w, "ok")
		})
	}
	mux := http.NewServeMux()
	mux.Handle("/mutate", rv.Handler(true))
	mux.Handle("/validate", rv.Handler(false))
	mux.Handle("/validate-policy", rv.PolicyHandler())
	if cfg.ExternalDataClientCAFile != "" {
		mux.Handle(ExternalDataPath, &externaldata.Handler{Decider: rv, Timeout: cfg.ExternalDataTimeout, Log: log})
	} else {
		mux.HandleFunc(ExternalDataPath, func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "external data is off: start signet serve with --externaldata-client-ca (the CA of Gatekeeper's client certificate)", http.StatusForbidden)
		})
	}
	health(mux)
	var handler http.Handler = mux
	if clientCAs != nil {
		handler = clientCAs.Authorize(ExternalDataPath, mux)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	timeout := cfg.Admission.Timeout
	if timeout <= 0 {
		timeout = admission.DefaultTimeout
	}
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsConfig,
		ReadHeaderTimeout: ReadHeaderTimeout,
		ReadTimeout:       ReadTimeout,
		// A request's answer is ready within its admission deadline of
		// the end of its body; this only ends the writes of a client
		// that does not read.
		WriteTimeout:   ReadTimeout + timeout + 2*time.Second,
		IdleTimeout:    IdleTimeout,
		MaxHeaderBytes: MaxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          MaxConcurrentStreams,
			MaxReceiveBufferPerConnection: MaxReceiveBuffer,
			MaxReceiveBufferPerStream:     MaxReceiveBuffer,
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	var msrv *http.Server
	metricsAddr := ""
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening on %s: %w", cfg.MetricsAddr, err)
		}
		metricsAddr = mln.Addr().String()
		mm := http.NewServeMux()
		mm.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
		health(mm)
		if cfg.Profiling {
			mm.HandleFunc("/debug/pprof/", pprof.Index)
			mm.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		msrv = &http.Server{Handler: mm, ReadHeaderTimeout: 10 * time.Second}
		go msrv.Serve(mln) //nolint:errcheck // stopped by Shutdown
	}

	bg, stopBg := context.WithCancel(context.Background())
	defer stopBg()
	pol.run(bg, cfg.ReloadInterval)
	if cfg.Alerts != nil {
		go runAlerts(bg, cfg.Alerts, cfg.ReloadInterval, log, m)
	}
	go certs.Run(bg)
	if cfg.KeyCheckInterval > 0 {
		go keysource.Watch(bg, func() []*keysource.Source {
			if e := pol.engine(); e != nil {
				return e.KeySources()
			}
			return nil
		}, keysource.WatchOptions{Interval: cfg.KeyCheckInterval, Log: log, Changed: func(src *keysource.Source) {
			log.Info("key changed: in use now; re-verifying running workloads", "key", src.String())
			if re != nil {
				re.Trigger("key")
			}
		}})
	}
	reDone := make(chan struct{})
	if re != nil {
		go func() {
			defer close(reDone)
			if err := re.Run(bg); err != nil {
				log.Error("re-verification stopped", "error", err.Error())
			}
		}()
	} else {
		close(reDone)
	}
	if clientCAs != nil {
		go clientCAs.Run(bg, cfg.ReloadInterval)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.ServeTLS(ln, "", "") }()
	ready.Store(true)
	log.Info("serving", "addr", ln.Addr().String(), "metrics", metricsAddr, "policySource", cmp.Or(cfg.PolicySource, SourceFile), "policy", pol.name(), "version", version.String())
	if cfg.ReleaseStartupPages {
		if n, err := releaseStartupPages(); err != nil {
			log.Debug("start-up pages kept", "error", err.Error())
		} else {
			log.Debug("start-up pages released", "bytes", n)
		}
	}
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String(), metricsAddr)
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	ready.Store(false)
	// The re-verifier stops first and releases its Lease, so another
	// replica takes it over at once rather than after it expires.
	stopBg()
	select {
	case <-reDone:
	case <-time.After(5 * time.Second):
	}
	log.Info("shutting down: draining requests", "grace", cfg.ShutdownGrace.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
	defer cancel()
	err = srv.Shutdown(sctx)
	if msrv != nil {
		msrv.Shutdown(sctx) //nolint:errcheck // best effort
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("draining: %w", err)
	}
	log.Info("stopped")
	return nil
}
