#!/usr/bin/env bash
# hack/release.sh — `make release`: build and push signet's image
# (hack/image), sign it with the pinned cosign, attach a CycloneDX SBOM
# attestation to each platform's image and a SLSA v1 provenance attestation
# to the index, then print the pushed image as repo@sha256:… on stdout.
#
#   IMAGE_REPO=host:port/path COSIGN_KEY=cosign.key hack/release.sh
#
# Environment:
#   IMAGE_REPO        the repository to push to (required)
#   COSIGN_KEY        cosign private key (file, or a KMS URI cosign accepts);
#                     COSIGN_PASSWORD is its password (cosign asks otherwise)
#   SIGSTORE_ID_TOKEN with COSIGN_KEY empty: sign keyless with this OIDC
#                     token (Fulcio certificate, Rekor entry; CI only)
#   COSIGN_TLOG       "false": do not upload to the transparency log
#                     (a private or air-gapped release; default true)
#   IMAGE_INSECURE    "1": the registry is plain HTTP
#   IMAGE_FLAGS       more flags for hack/image (--ca-bundle FILE, ...)
#   VERSION           the version (default: git describe)
#   RELEASE_DIR       where the binaries, SBOMs, provenance and log go
#                     (default dist/image; emptied first)
#
# Every failure is one line on stderr naming the step that failed, and a
# non-zero exit; the digest is printed only when every step succeeded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

fail() { echo "release: $*" >&2; exit 1; }

[[ -n ${IMAGE_REPO:-} ]] || fail "no registry to push to: set IMAGE_REPO=host:port/path"
key=${COSIGN_KEY:-}
if [[ -z $key && -z ${SIGSTORE_ID_TOKEN:-} ]]; then
  fail "no signing key: set COSIGN_KEY=cosign.key (or SIGSTORE_ID_TOKEN for keyless signing)"
fi
if [[ -n $key && $key != *://* && ! -r $key ]]; then
  fail "signing key $key: not a readable file"
fi

out=${RELEASE_DIR:-dist/image}
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
log=$out/release.log
: >"$log"

# step NAME CMD...: runs CMD, its stdout in $result, its stderr in $log; on
# failure, one line: the step and the last line the command printed.
result=""
step() {
  local what=$1; shift
  echo "== $(date -u +%T) $what: $*" >>"$log"
  if ! "$@" >"$out/stdout" 2>>"$log"; then
    local last
    last=$(cat "$log" "$out/stdout" | grep -v '^[[:space:]]*$' | tail -n 1 | tr -s '[:space:]' ' ' | sed 's/ $//')
    fail "$what failed: $last (log: $log)"
  fi
  result=$(<"$out/stdout")
  cat "$out/stdout" >>"$log"
}

step "building cosign" hack/tool.sh cosign2
cosign=$result
step "building the SBOM generator" hack/tool.sh sbom
sbom=$result

cosign_args=(--yes)
if [[ -n $key ]]; then
  cosign_args+=(--key "$key")
  # The key is opened before anything is pushed: a wrong key or password
  # fails here, not after the image is in the registry.
  step "opening signing key $key" "$cosign" public-key --key "$key" --outfile "$out/cosign.pub"
else
  cosign_args+=(--identity-token "$SIGSTORE_ID_TOKEN")
fi
[[ ${COSIGN_TLOG:-true} == false ]] && cosign_args+=(--tlog-upload=false)
image_flags=()
if [[ ${IMAGE_INSECURE:-} == 1 ]]; then
  cosign_args+=(--allow-insecure-registry --allow-http-registry)
  image_flags+=(--insecure)
fi
[[ -n ${VERSION:-} ]] && image_flags+=(--version "$VERSION")
# shellcheck disable=SC2206 # IMAGE_FLAGS is a list of flags
image_flags+=(${IMAGE_FLAGS:-})

step "building the image builder" go build -o "$out/image-builder" ./hack/image
step "building and pushing the image to $IMAGE_REPO" "$out/image-builder" --repo "$IMAGE_REPO" \
  --bin-dir "$out" --digests-file "$out/digests" --provenance "$out/provenance.json" \
  --invocation "make release" "${image_flags[@]}"
ref=$result
repo=${ref%@*}

step "signing $ref" "$cosign" sign --recursive "${cosign_args[@]}" "$ref"
while read -r plat digest; do
  [[ $plat == index ]] && continue
  bin="$out/signet-${plat//\//-}"
  step "SBOM of $plat" "$sbom" bin -json -licenses=false -output "$bin.cdx.json" "$bin"
  step "attaching the SBOM of $plat" "$cosign" attest "${cosign_args[@]}" --type cyclonedx \
    --predicate "$bin.cdx.json" "$repo@$digest"
done <"$out/digests"
step "attaching the provenance of $ref" "$cosign" attest "${cosign_args[@]}" --type slsaprovenance1 \
  --predicate "$out/provenance.json" "$ref"

echo "$ref"
