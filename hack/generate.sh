#!/usr/bin/env bash
# hack/generate.sh [DIR] — generate, with the pinned controller-gen
# (hack/tools/controller-gen), what is derived from the policy types:
#
#   - the CRDs of ClusterImagePolicy and ImagePolicy, from
#     internal/policy/v1alpha1 and the kubebuilder markers on policy.Spec,
#     into deploy/crds/, and the Helm chart's copy of them
#     (deploy/helm/signet/files/crds/, rendered by templates/crds.yaml:
#     Helm's own crds/ directory cannot be turned off by a value);
#   - the deepcopy functions of both packages (zz_generated.deepcopy.go).
#
# DIR (default: the repository) is where the files are written, at the same
# relative paths: test/crds generates into a temporary DIR and compares.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root}
gen=$("$root/hack/tool.sh" controller-gen)
cd "$root"
mkdir -p "$out/deploy/crds" "$out/deploy/helm/signet/files/crds" "$out/internal/policy/v1alpha1"
"$gen" crd:crdVersions=v1 paths=./internal/policy/v1alpha1 output:crd:dir="$out/deploy/crds"
for pkg in internal/policy internal/policy/v1alpha1; do
  "$gen" object paths="./$pkg" output:object:dir="$out/$pkg"
done
# with.platforms is a string or an object (policy.Platforms), which no
# marker can spell: its schema (hack/platforms-schema.yaml, comments
# dropped) goes under the field's description, at the field's indentation.
for f in "$out"/deploy/crds/signet.dev_*.yaml; do
  awk -v schema="$root/hack/platforms-schema.yaml" '
    function insert(   line) {
      while ((getline line < schema) > 0) {
        if (line ~ /^#/ || line == "") continue
        printf "%*s%s\n", indent + 2, "", line
      }
      close(schema)
    }
    inblock {
      match($0, /^ */)
      if (RLENGTH <= indent) { insert(); inblock = 0 }
    }
    /^ *platforms:$/ { match($0, /^ */); indent = RLENGTH; inblock = 1 }
    { print }
    END { if (inblock) insert() }
  ' "$f" > "$f.tmp"
  mv "$f.tmp" "$f"
done
cp "$out"/deploy/crds/signet.dev_*.yaml "$out/deploy/helm/signet/files/crds/"
