// Package workload finds every container image in a Kubernetes object.
//
// One walker reads a PodSpec wherever a kind keeps it — Pod (and the
// pods/ephemeralcontainers subresource), PodTemplate, Deployment,
// ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController, CronJob —
// and reports each image of containers, initContainers and
// ephemeralContainers with the JSON pointer of its "image" field, which is
// where an admission patch pins it.
//
// Objects are decoded into minimal structures holding only what signet
// reads (metadata, container names and images), so unknown fields and
// newer API versions pass through untouched.
package workload
