// Package metrics defines signet's Prometheus metrics, all named
// signet_<subsystem>_<name>_<unit>. A nil *Metrics is valid and records
// nothing, so libraries never need a metrics check.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics holds every collector.
type Metrics struct {
	Registry *prometheus.Registry

	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	verifications *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	policyInfo    *prometheus.GaugeVec
	policyGen     prometheus.Gauge
	policyObjects *prometheus.GaugeVec
	cache         *prometheus.CounterVec
	joins         prometheus.Counter
	verifyLatency *prometheus.HistogramVec
	registryReqs  *prometheus.CounterVec
	attestations  *prometheus.CounterVec
	audit         auditMetrics
	reverify      reverifyMetrics
	alerts        *prometheus.CounterVec
	alertReloads  *prometheus.CounterVec

	// Label values taken from outside signet's code: the first ones seen
	// are kept, later ones are counted as "other" (see labelSet).
	validators, registries, requirements *labelSet
}

// New registers signet's collectors, plus the Go and process collectors, in
// a new registry.
func New() *Metrics {
	m := &Metrics{
		Registry:     prometheus.NewRegistry(),
		validators:   newLabelSet(MaxValidatorLabels),
		registries:   newLabelSet(MaxRegistryLabels),
		requirements: newLabelSet(MaxRequirementLabels),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_admission_requests_total",
			Help: "Admission requests by webhook (mutate, validate), decision (allowed, denied, warned; error: a request that could not be read) and kind (a kind signet reads, other, or empty when unread). Admissions not checked (excluded namespace, DELETE, unchanged images) count as allowed.",
		}, []string{"webhook", "decision", "kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signet_admission_duration_seconds",
			Help:    "Time to answer an admission request.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"webhook"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "signet_admission_in_flight_requests",
			Help: "Admission requests being answered.",
		}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_verifications_total",
			Help: "Image verifications by validator and outcome (verified, failed, inconclusive, static).",
		}, []string{"validator", "outcome"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_policy_reloads_total",
			Help: "Policy reloads by result (success, error).",
		}, []string{"result"}),
		policyInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "signet_policy_info",
			Help: "The policy being served (value 1), by name and content hash.",
		}, []string{"name", "hash"}),
		policyGen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "signet_policy_generation",
			Help: "The generation of the policy in force: how many policies this process has put in force (the decision log's policyGeneration; 0 while none is).",
		}),
		policyObjects: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "signet_policy_objects",
			Help: "Policy resources read from the API (--policy-source=cluster), by kind and whether their latest generation compiled (ready: true, false).",
		}, []string{"kind", "ready"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_cache_lookups_total",
			Help: "Cache lookups by layer (memory, redis, tags) and result (hit, miss; unavailable: Redis skipped while its circuit breaker is open).",
		}, []string{"layer", "result"}),
		joins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "signet_cache_shared_verifications_total",
			Help: "Verifications answered by joining one already running for the same image and rule (singleflight).",
		}),
		verifyLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "signet_verification_duration_seconds",
			Help:    "Time to verify one image (uncached), by validator.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"validator"}),
		registryReqs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_registry_requests_total",
			Help: "HTTP requests to registries by registry host and status code (\"error\" when no response).",
		}, []string{"registry", "status"}),
		attestations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_attestation_checks_total",
			Help: "Attestation requirements checked for image decisions, by requirement name (the rule's with.attestations[].name) and outcome (verified, failed, inconclusive).",
		}, []string{"requirement", "outcome"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_alerts_total",
			Help: "Alerts by sink (its name in the alerts file) and outcome (sent; dropped: queue full, rate limit or too many open de-duplication groups; failed: refused or retries exhausted; deduplicated: folded into an alert waiting in its window).",
		}, []string{"sink", "outcome"}),
		alertReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "signet_alerts_config_reloads_total",
			Help: "Reloads of the alerts file (--alerts) by result (success, error; an error keeps the sinks in force).",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(m.requests, m.latency, m.inFlight, m.verifications, m.reloads, m.policyInfo, m.policyGen, m.policyObjects,
		m.cache, m.joins, m.verifyLatency, m.registryReqs, m.attestations, m.alerts, m.alertReloads,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registerAudit()
	m.registerReverify()
	return m
}

// Admission records one answered request. Every label must come from a
// closed set: the caller maps a kind it does not know to "other".
func (m *Metrics) Admission(webhook, decision, kind string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(webhook, decision, kind).Inc()
	m.latency.WithLabelValues(webhook).Observe(d.Seconds())
}

// InFlight adds delta to the in-flight gauge.
func (m *Metrics) InFlight(delta float64) {
	if m == nil {
		return
	}
	m.inFlight.Add(delta)
}

// Verification records one image decision.
func (m *Metrics) Verification(validator, outcome string) {
	if m == nil {
		return
	}
	if validator == "" {
		validator = "none"
	}
	m.verifications.WithLabelValues(m.validators.value(validator), outcome).Inc()
}

// Attestation records the outcome of one attestation requirement of an
// image decision.
func (m *Metrics) Attestation(requirement, outcome string) {
	if m == nil {
		return
	}
	m.attestations.WithLabelValues(m.requirements.value(requirement), outcome).Inc()
}

// Reload records a policy reload attempt.
func (m *Metrics) Reload(ok bool) {
	if m == nil {
		return
	}
	r := "success"
	if !ok {
		r = "error"
	}
	m.reloads.WithLabelValues(r).Inc()
}

// Policy records the policy being served.
func (m *Metrics) Policy(name, hash string) {
	if m == nil {
		return
	}
	m.policyInfo.Reset()
	m.policyInfo.WithLabelValues(name, hash).Set(1)
}

// PolicyGeneration records the generation of the policy put in force.
func (m *Metrics) PolicyGeneration(gen int64) {
	if m == nil {
		return
	}
	m.policyGen.Set(float64(gen))
}

// PolicyObjects records how many policy resources of kind are read and
// whether their latest generation compiled.
func (m *Metrics) PolicyObjects(kind string, ready, invalid int) {
	if m == nil {
		return
	}
	m.policyObjects.WithLabelValues(kind, "true").Set(float64(ready))
	m.policyObjects.WithLabelValues(kind, "false").Set(float64(invalid))
}

// CacheLookup records one cache lookup.
func (m *Metrics) CacheLookup(layer, result string) {
	if m == nil {
		return
	}
	m.cache.WithLabelValues(layer, result).Inc()
}

// SingleflightJoin records a verification answered by joining another.
func (m *Metrics) SingleflightJoin() {
	if m == nil {
		return
	}
	m.joins.Inc()
}

// VerificationLatency records the time one uncached verification took.
func (m *Metrics) VerificationLatency(validator string, d time.Duration) {
	if m == nil {
		return
	}
	m.verifyLatency.WithLabelValues(m.validators.value(validator)).Observe(d.Seconds())
}

// RegistryRequest records one HTTP request to a registry.
func (m *Metrics) RegistryRequest(registry, status string) {
	if m == nil {
		return
	}
	m.registryReqs.WithLabelValues(m.registries.value(registry), statusLabel(status)).Inc()
}

// Alert records what became of one alert at a sink. The sink names come
// from the alerts file (at most 32 sinks).
func (m *Metrics) Alert(sink, outcome string) {
	if m == nil {
		return
	}
	m.alerts.WithLabelValues(sink, outcome).Inc()
}

// AlertsReload records a reload of the alerts file.
func (m *Metrics) AlertsReload(ok bool) {
	if m == nil {
		return
	}
	r := "success"
	if !ok {
		r = "error"
	}
	m.alertReloads.WithLabelValues(r).Inc()
}
