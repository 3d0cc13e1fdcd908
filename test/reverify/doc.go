// Package reverify checks the re-verifier's PolicyReport writer
// (internal/reverify/report) and the chart's PolicyReport CRD
// (deploy/helm/signet/files/policyreport-crd) against a real
// kube-apiserver and etcd (controller-runtime's envtest, binaries built by
// hack/k8s.sh): the CRD installed later than signet started, reports
// created, left alone while unchanged (by a restarted writer too), updated,
// deleted, and refused by the schema when malformed; and the chart's
// lookup, which renders the CRD only where the cluster has none or this
// release installed it. TestScaleSmall (and TestScale, at ten times the
// size, with make bench-reverify) runs signet serve's re-verifier against
// 1,000 simulated Pods and 80 signed images and checks its reports,
// registry requests and memory.
package reverify
