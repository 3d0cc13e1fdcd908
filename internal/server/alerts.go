package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/signet-dev/signet/internal/alert"
	"github.com/signet-dev/signet/internal/metrics"
)

// runAlerts reloads the alerts file every interval, as the policy file is:
// a file that does not load keeps the sinks in force, logged and counted
// once per new error.
func runAlerts(ctx context.Context, a *alert.Alerter, interval time.Duration, log *slog.Logger, m *metrics.Metrics) {
	poll(ctx, interval, a.Reload, func(err error) {
		log.Error("alerts file rejected; the previous sinks stay in force", "path", a.Path(), "error", err.Error())
		m.AlertsReload(false)
	}, func() {
		log.Info("alerts file reloaded", "path", a.Path())
		m.AlertsReload(true)
	})
}
