//go:build tools

// Package tools pins the Kubernetes control plane the e2e tests run:
// kube-apiserver and kube-controller-manager v1.34.10, and etcd v3.6.4 (the
// version Kubernetes 1.34 pins). hack/k8s.sh builds them.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
)
