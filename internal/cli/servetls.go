package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"

	"github.com/signet-dev/signet/internal/certs"
	"github.com/signet-dev/signet/internal/kube"
)

// The values of --tls-mode.
const (
	tlsModeFiles   = "files"
	tlsModeManaged = "managed"
)

// managedTLSFlags are signet serve's flags of signet-managed TLS.
type managedTLSFlags struct {
	mode                 string
	secret               string
	service              string
	extraNames           []string
	mutating, validating string
	syncInterval         time.Duration
}

func (t *managedTLSFlags) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&t.mode, "tls-mode", tlsModeFiles, `where the serving certificate comes from: "files" (--tls-cert, --tls-key) or "managed" (signet keeps a CA and certificate in --tls-secret and publishes the CA to its webhook configurations)`)
	fl.StringVar(&t.secret, "tls-secret", "signet-tls", "managed TLS: the Secret in --namespace holding signet's CA and serving certificate (created if absent)")
	fl.StringVar(&t.service, "tls-service", "signet", "managed TLS: the webhook Service, whose names SERVICE.NAMESPACE.svc and SERVICE.NAMESPACE.svc.cluster.local the certificate is for")
	fl.StringSliceVar(&t.extraNames, "tls-extra-name", nil, "managed TLS: another DNS name or IP address of the serving certificate (repeatable)")
	fl.StringVar(&t.mutating, "mutating-webhook-configuration", "", "managed TLS: the MutatingWebhookConfiguration whose caBundle signet sets")
	fl.StringVar(&t.validating, "validating-webhook-configuration", "", "managed TLS: the ValidatingWebhookConfiguration whose caBundle signet sets")
	fl.DurationVar(&t.syncInterval, "tls-sync-interval", certs.DefaultSyncInterval, "managed TLS: how often the Secret is read again (a certificate renewed by another replica is served within it)")
}

// check validates the TLS flags against --tls-cert, --tls-key and
// --namespace.
func (t *managedTLSFlags) check(certFile, keyFile, namespace string) error {
	switch t.mode {
	case tlsModeFiles:
		if certFile == "" || keyFile == "" {
			return usageError("--tls-cert and --tls-key are required (or --tls-mode=managed)")
		}
	case tlsModeManaged:
		if certFile != "" || keyFile != "" {
			return usageError("--tls-cert and --tls-key are for --tls-mode=files")
		}
		if namespace == "" || t.secret == "" || t.service == "" {
			return usageError("--tls-mode=managed needs --namespace, --tls-secret and --tls-service")
		}
		if t.mutating == "" && t.validating == "" {
			return usageError("--tls-mode=managed needs --mutating-webhook-configuration or --validating-webhook-configuration")
		}
	default:
		return usageError("--tls-mode: want %s or %s, got %q", tlsModeFiles, tlsModeManaged, t.mode)
	}
	return nil
}

// manager returns the managed certificates, synced once: signet does not
// serve before its certificate is in the Secret. A CA bundle not published
// yet (a webhook configuration created after signet) is retried by Run.
func (t *managedTLSFlags) manager(ctx context.Context, rc *rest.Config, namespace string, log *slog.Logger) (*certs.Manager, error) {
	store, err := kube.NewTLSStore(rc, namespace, t.secret)
	if err != nil {
		return nil, err
	}
	store.Mutating, store.Validating = t.mutating, t.validating
	base := t.service + "." + namespace + ".svc"
	names := append([]string{base, base + ".cluster.local"}, t.extraNames...)
	m := certs.NewManager(store, certs.Options{Names: names}, t.syncInterval, log)
	if err := m.Sync(ctx); err != nil {
		if !m.Serving() {
			return nil, fmt.Errorf("managed TLS: %w", err)
		}
		log.Warn("managed TLS: the CA bundle is not published yet; retrying", "error", err.Error(), "every", t.syncInterval.String())
	}
	return m, nil
}
