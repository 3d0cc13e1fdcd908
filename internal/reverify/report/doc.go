// Package report publishes the re-verifier's results as PolicyReports
// (wgpolicyk8s.io/v1alpha2), the Policy Working Group's format that
// Kyverno writes and Policy Reporter displays.
//
// A Writer keeps one report per workload, in the workload's namespace,
// named signet-<workload UID>, owned by the workload (so the garbage
// collector deletes it with the workload), with one result per image. It
// writes only what changed: it remembers a hash of the report it last
// wrote for each workload it was told about (Forget drops it), and, the
// first time it sees a workload, compares with the report already stored,
// so neither a restart nor a new leader rewrites every report. It assumes
// it alone writes them: a replica that regains the leadership calls Reset,
// as another leader may have written meanwhile.
//
// Where the cluster has no PolicyReport CRD, the Writer says so once and
// does nothing, looking again at most once a minute (RecheckInterval), so
// a CRD installed later is used without a restart.
package report
