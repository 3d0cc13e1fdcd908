#!/usr/bin/env bash
# hack/k8s.sh — print a directory holding kube-apiserver, kube-controller-manager
# and etcd (what envtest calls KUBEBUILDER_ASSETS), building them on first use
# from the versions pinned in hack/tools/k8s (go.mod + go.sum committed).
# Cold build: ~8 minutes and ~2 GiB RAM on two cores; cached afterwards in
# $SIGNET_TOOLS_DIR (default .cache/tools) under a key of the pin.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/toolchain.sh"
export GOTOOLCHAIN=$tools_toolchain
mod="$root/hack/tools/k8s"
key=$( { cat "$mod/go.mod" "$mod/go.sum" "$0"; go env GOVERSION; } | sha256sum | cut -c1-12)
dir=${SIGNET_TOOLS_DIR:-$root/.cache/tools}/k8s-$key
if [[ ! -x "$dir/kube-apiserver" || ! -x "$dir/kube-controller-manager" || ! -x "$dir/etcd" ]]; then
  mkdir -p "$dir"
  echo "hack/k8s.sh: building kube-apiserver, kube-controller-manager and etcd (first use only, several minutes)..." >&2
  k8s=$(sed -n 's/^\tk8s.io\/kubernetes \(v[^ ]*\).*/\1/p' "$mod/go.mod")
  maj=${k8s#v}; maj=${maj%%.*}; min=${k8s#v*.}; min=${min%%.*}
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf+=" -X $p.gitVersion=$k8s -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean"
  done
  cd "$mod"
  for b in kube-apiserver kube-controller-manager; do
    CGO_ENABLED=0 go build -trimpath -ldflags "$ldf" -o "$dir/$b.tmp" "k8s.io/kubernetes/cmd/$b" >&2
    mv "$dir/$b.tmp" "$dir/$b"
  done
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
  mv "$dir/etcd.tmp" "$dir/etcd"
fi
echo "$dir"
