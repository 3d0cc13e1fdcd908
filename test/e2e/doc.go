// Package e2e runs signet serve as a real admission webhook of a real
// kube-apiserver and etcd (controller-runtime's envtest, binaries built
// from pinned modules by hack/k8s.sh) with kube-controller-manager turning
// Deployments into ReplicaSets and Pods, a real registry process and images
// signed by the real cosign CLI.
//
// The signet binary every test runs is the one a cluster would run: the
// image's. harness.ImageBin builds signet's image with hack/image (what
// make image runs) once per test binary, for the host's linux platform
// (linux/amd64 on CI; linux/arm64 on an arm64 host; skipped elsewhere),
// pushes it to a registry process on loopback and streams
// /usr/local/bin/signet back from the pushed image's layers through
// go-containerregistry (harness.ExtractSignet). TestDogfood reads it the same
// way from the image make release pushed and signed. Nothing here runs a
// binary built from source by `go build`.
//
// TestRecovery follows docs/recovery.md step by step (each step it
// exercises is named in a comment): signet down, the break-glass options,
// workloads created meanwhile, then the restore steps and
// `signet audit cluster`.
package e2e
