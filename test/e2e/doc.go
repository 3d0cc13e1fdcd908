// Package e2e runs signet serve as a real admission webhook of a real
// kube-apiserver and etcd (controller-runtime's envtest, binaries built
// from pinned modules by hack/k8s.sh) with kube-controller-manager turning
// Deployments into ReplicaSets and Pods, a real registry process and images
// signed by the real cosign CLI.
package e2e
