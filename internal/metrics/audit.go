package metrics

import "github.com/prometheus/client_golang/prometheus"

// auditMetrics are the audit log's (package auditlog).
type auditMetrics struct {
	writeErrors *prometheus.CounterVec
}

func (m *Metrics) registerAudit() {
	m.audit.writeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_audit_write_errors_total",
		Help: "Audit log lines not written, by reason: write (the file could not be written or opened), queue_full (the writer fell behind), sign (a checkpoint could not be signed), encode.",
	}, []string{"reason"})
	m.Registry.MustRegister(m.audit.writeErrors)
}

// AuditWriteError counts an audit log line that was not written.
func (m *Metrics) AuditWriteError(reason string) {
	if m == nil {
		return
	}
	m.audit.writeErrors.WithLabelValues(reason).Inc()
}
