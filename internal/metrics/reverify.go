package metrics

import "github.com/prometheus/client_golang/prometheus"

// reverifyMetrics are the re-verifier's (package reverify).
type reverifyMetrics struct {
	running   *prometheus.GaugeVec
	total     *prometheus.CounterVec
	leader    prometheus.Gauge
	rounds    *prometheus.CounterVec
	evictions *prometheus.CounterVec
	lastRound prometheus.Gauge
	workloads prometheus.Gauge
}

// The outcomes of a re-verification, as PolicyReports spell them.
var reverifyOutcomes = []string{"pass", "fail", "warn", "error"}

func (m *Metrics) registerReverify() {
	r := &m.reverify
	r.running = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_running_images",
		Help: "Distinct images (namespace and reference) of running Pods by the outcome of their last re-verification: pass, fail (denied, enforced), warn (denied in warn or audit mode), error (inconclusive). Set by the replica holding the re-verification lease; 0 elsewhere.",
	}, []string{"outcome"})
	r.total = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_reverifications_total",
		Help: "Images of running workloads re-verified, by outcome (pass, fail, warn, error).",
	}, []string{"outcome"})
	r.leader = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "signet_reverify_leader",
		Help: "1 while this replica holds the re-verification lease (and does the re-verification), else 0.",
	})
	r.rounds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_reverify_rounds_total",
		Help: "Re-verification rounds by trigger: schedule, policy (the policy changed), key (a key source changed), start (leadership acquired).",
	}, []string{"trigger"})
	r.evictions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_reverify_evictions_total",
		Help: "Pods evicted (--reverify-action=evict) by result: evicted, refused (a PodDisruptionBudget or the API refused; tried again next round), error.",
	}, []string{"result"})
	r.lastRound = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "signet_reverify_last_round_timestamp_seconds",
		Help: "When the last re-verification round ended (Unix time); alert when it is older than twice the interval.",
	})
	r.workloads = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "signet_reverify_workloads",
		Help: "Workloads (a Pod, or the top of its chain of controllers) the re-verifier reports on.",
	})
	for _, o := range reverifyOutcomes {
		r.running.WithLabelValues(o)
		r.total.WithLabelValues(o)
	}
	for _, t := range []string{"start", "schedule", "policy", "key"} {
		r.rounds.WithLabelValues(t)
	}
	for _, e := range []string{"evicted", "refused", "error"} {
		r.evictions.WithLabelValues(e)
	}
	m.Registry.MustRegister(r.running, r.total, r.leader, r.rounds, r.evictions, r.lastRound, r.workloads)
}

// RunningImages sets the distinct running images by outcome (keys from
// pass, fail, warn, error; missing ones are 0).
func (m *Metrics) RunningImages(byOutcome map[string]int) {
	if m == nil {
		return
	}
	for _, o := range reverifyOutcomes {
		m.reverify.running.WithLabelValues(o).Set(float64(byOutcome[o]))
	}
}

// Reverification counts one image re-verified with an outcome (pass, fail,
// warn or error).
func (m *Metrics) Reverification(outcome string) {
	if m == nil {
		return
	}
	m.reverify.total.WithLabelValues(outcome).Inc()
}

// ReverifyLeader records whether this replica holds the lease.
func (m *Metrics) ReverifyLeader(leading bool) {
	if m == nil {
		return
	}
	v := 0.0
	if leading {
		v = 1
	}
	m.reverify.leader.Set(v)
}

// ReverifyRound records a round ended (trigger: schedule, policy, key,
// start), with the number of workloads reported on.
func (m *Metrics) ReverifyRound(trigger string, end float64, workloads int) {
	if m == nil {
		return
	}
	m.reverify.rounds.WithLabelValues(trigger).Inc()
	m.reverify.lastRound.Set(end)
	m.reverify.workloads.Set(float64(workloads))
}

// ReverifyEviction counts one eviction attempt (evicted, refused, error).
func (m *Metrics) ReverifyEviction(result string) {
	if m == nil {
		return
	}
	m.reverify.evictions.WithLabelValues(result).Inc()
}
