// Package workload finds every image a Kubernetes object makes a node pull.
//
// One walker reads a PodSpec wherever a kind keeps it — Pod (and the
// pods/ephemeralcontainers subresource), PodTemplate, Deployment,
// ReplicaSet, StatefulSet, DaemonSet, Job, ReplicationController, CronJob —
// and reports each image of containers, initContainers and
// ephemeralContainers with the JSON pointer of its "image" field, and each
// image volume (volumes[].image.reference) with the pointer of its
// "reference" field: that is where an admission patch pins it.
//
// Objects are decoded into minimal structures holding only what signet
// reads (metadata, container and volume names and images), so unknown
// fields and newer API versions pass through untouched.
package workload
