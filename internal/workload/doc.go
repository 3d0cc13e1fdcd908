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
// Kinds a policy declares (custom resources: an Argo Rollout, a Tekton
// Task) are read by DecodeResource: PodTemplateSpecs at JSON pointers, read
// as above, and the strings at the pointers a CEL expression returns
// (attest.Paths), each of which must name a string.
//
// Objects are decoded into minimal structures holding only what signet
// reads (metadata, container and volume names and images), so unknown
// fields and newer API versions pass through untouched.
package workload
