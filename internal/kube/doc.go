// Package kube is the one place that talks to the Kubernetes API. It reads:
//
//   - the controlling owner of an object, which child approval names in
//     the decision log (Owners);
//   - every object of a kind with a pod spec, a bounded page at a time,
//     for signet audit cluster (Lister), and the policy objects that decide
//     for a namespace's workloads, for signet verify (Lister.ListPolicies);
//   - Secrets, each at most once per short TTL (Secrets). Other packages
//     that need a Secret — registry credentials here, public keys named
//     k8s://namespace/name — read it through one shared Secrets;
//   - registry credentials (Keychains): a workload's, from its pod spec's
//     imagePullSecrets and its service account's, as the kubelet pulls with,
//     followed by the cloud keychains (GCR/Artifact Registry, ECR, ACR);
//     and a validator's, from the Secret its auth.secretName names in
//     signet's own namespace.
//
// Nothing here logs; errors name the object (namespace/name) and never
// carry a Secret's content.
package kube
