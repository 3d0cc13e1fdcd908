#!/usr/bin/env bash
# hack/release.sh — `make release`: build and push signet's image
# (hack/image), sign it with the pinned cosign, attach a CycloneDX SBOM
# attestation to each platform's image and a SLSA v1 provenance attestation
# to the index; then package the Helm chart (version and appVersion: the
# release's; image.repository and image.digest: the image just pushed) and
# push it as an OCI artifact with the pinned helm — before anything is
# signed, so a registry refusing the chart fails the release with nothing
# signed — then sign the image, attach the attestations and sign the chart
# with the same key or identity.
# Prints the pushed image as repo@sha256:… on stdout, and the chart as
# "release: chart oci://…/signet:VERSION@sha256:…" on stderr.
#
#   IMAGE_REPO=host:port/path COSIGN_KEY=cosign.key hack/release.sh
#
# Environment:
#   IMAGE_REPO        the repository to push to (required)
#   COSIGN_KEY        cosign private key (file, or a KMS URI cosign accepts);
#                     COSIGN_PASSWORD is its password (cosign asks otherwise)
#   SIGSTORE_ID_TOKEN with COSIGN_KEY empty: sign keyless with this OIDC
#                     token (Fulcio certificate, Rekor entry). In GitHub
#                     Actions with `permissions: id-token: write`, cosign
#                     fetches the token itself (ACTIONS_ID_TOKEN_REQUEST_URL)
#   COSIGN_FULCIO_URL, COSIGN_REKOR_URL, COSIGN_TIMESTAMP_SERVER_URL,
#   SIGSTORE_ROOT_FILE, SIGSTORE_REKOR_PUBLIC_KEY,
#   SIGSTORE_CT_LOG_PUBLIC_KEY_FILE
#                     read by cosign itself: keyless signing with a private
#                     Sigstore instance (default: the public one)
#   COSIGN_TLOG       "false": do not upload to the transparency log
#                     (a private or air-gapped release with a key; default
#                     true; keyless needs the log or COSIGN_TIMESTAMP_SERVER_URL)
#   IMAGE_INSECURE    "1": the registry is plain HTTP
#   IMAGE_FLAGS       more flags for hack/image (--ca-bundle FILE, ...)
#   CHART_REPO        where the chart is pushed, host[:port]/path (default:
#                     IMAGE_REPO's parent + /charts: registry.example.com/
#                     platform/signet -> registry.example.com/platform/charts,
#                     the chart then being oci://…/platform/charts/signet)
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
if [[ -z $key && -z ${SIGSTORE_ID_TOKEN:-} && -z ${ACTIONS_ID_TOKEN_REQUEST_URL:-} ]]; then
  fail "no signing key: set COSIGN_KEY=cosign.key (or SIGSTORE_ID_TOKEN for keyless signing)"
fi
if [[ -z $key && ${COSIGN_TLOG:-true} == false && -z ${COSIGN_TIMESTAMP_SERVER_URL:-} ]]; then
  # A Fulcio certificate lives minutes: without a log entry or a timestamp
  # nothing proves the signature was made while it was valid.
  fail "keyless signing without the transparency log needs a timestamp authority: set COSIGN_TIMESTAMP_SERVER_URL, or drop COSIGN_TLOG=false"
fi
if [[ -n $key && $key != *://* && ! -r $key ]]; then
  fail "signing key $key: not a readable file"
fi

chart_repo=${CHART_REPO:-}
if [[ -z $chart_repo ]]; then
  [[ $IMAGE_REPO == */* ]] || fail "no repository for the chart: set CHART_REPO=host:port/path"
  chart_repo=${IMAGE_REPO%/*}/charts
fi
chart_repo=${chart_repo#oci://}
version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null)} ||
  fail "finding the version: set VERSION"
[[ -n $version ]] || fail "finding the version: set VERSION"
# The image's tag is the version with what a tag may not hold replaced (as
# hack/image does); the chart's appVersion is that tag, its version the
# release's SemVer (git describe without tags gives a commit: 0.0.0-<commit>).
app_version=${version//[^A-Za-z0-9_.-]/-}
semver='^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'
chart_version=${version#v}
[[ $chart_version =~ $semver ]] || chart_version=0.0.0-${app_version//_/-}

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
    last=$(cat "$log" "$out/stdout" | grep -v -e '^[[:space:]]*$' -e '^Use --debug flag' | tail -n 1 | tr -s '[:space:]' ' ' | sed 's/ $//')
    fail "$what failed: $last (log: $log)"
  fi
  result=$(<"$out/stdout")
  cat "$out/stdout" >>"$log"
}

step "building cosign" hack/tool.sh cosign2
cosign=$result
step "building the SBOM generator" hack/tool.sh sbom
sbom=$result
step "building helm" hack/tool.sh helm
helm=$result

cosign_args=(--yes)
if [[ -n $key ]]; then
  cosign_args+=(--key "$key")
  # The key is opened before anything is pushed: a wrong key or password
  # fails here, not after the image is in the registry.
  step "opening signing key $key" "$cosign" public-key --key "$key" --outfile "$out/cosign.pub"
fi
[[ ${COSIGN_TLOG:-true} == false ]] && cosign_args+=(--tlog-upload=false)
if [[ -z $key ]]; then
  # Keyless: cosign reads the token from SIGSTORE_ID_TOKEN (or GitHub's
  # ambient credentials) itself, so it appears in no command line or log.
  # A certificate is asked for first, for a throwaway blob and with no log
  # entry: a bad token or an unreachable Fulcio fails before anything is
  # pushed. The certificate shows the identity the release is signed as.
  echo "signet release $version" >"$out/keyless-check"
  step "getting a signing certificate from Fulcio" "$cosign" sign-blob --yes --tlog-upload=false --timestamp-server-url= \
    --output-certificate "$out/signing-certificate.pem" --output-signature "$out/keyless-check.sig" "$out/keyless-check"
fi
image_flags=(--version "$version")
helm_flags=()
if [[ ${IMAGE_INSECURE:-} == 1 ]]; then
  cosign_args+=(--allow-insecure-registry --allow-http-registry)
  image_flags+=(--insecure)
  helm_flags+=(--plain-http)
fi
# shellcheck disable=SC2206 # IMAGE_FLAGS is a list of flags
image_flags+=(${IMAGE_FLAGS:-})

step "building the image builder" go build -o "$out/image-builder" ./hack/image
step "building and pushing the image to $IMAGE_REPO" "$out/image-builder" --repo "$IMAGE_REPO" \
  --bin-dir "$out" --digests-file "$out/digests" --provenance "$out/provenance.json" \
  --invocation "make release" "${image_flags[@]}"
ref=$result
repo=${ref%@*}
while read -r plat _; do
  [[ $plat == index ]] && continue
  bin="$out/signet-${plat//\//-}"
  step "SBOM of $plat" "$sbom" bin -json -licenses=false -output "$bin.cdx.json" "$bin"
done <"$out/digests"

# The chart: a copy whose values pin the image just pushed, by digest (the
# committed values.yaml is left as it is). It is pushed before anything is
# signed: a registry that refuses it fails the release with no signature,
# attestation or transparency-log entry made.
rm -rf "$out/chart"
mkdir -p "$out/chart"
cp -R deploy/helm/signet "$out/chart/signet"
values=$out/chart/signet/values.yaml
sed -i.orig -e "s|^  repository: ghcr.io/signet-dev/signet\$|  repository: ${repo}|" \
  -e "s|^  digest: \"\"\$|  digest: \"${ref#*@}\"|" "$values"
rm -f "$values.orig"
[[ $(grep -cxF -e "  repository: $repo" -e "  digest: \"${ref#*@}\"" "$values") == 2 ]] ||
  fail "writing the image into the chart's values: image.repository or image.digest not found in $values"
step "packaging the chart $chart_version" "$helm" package "$out/chart/signet" --destination "$out" \
  --version "$chart_version" --app-version "$app_version"
tgz=$out/signet-$chart_version.tgz
step "checking the packaged chart" "$helm" template signet "$tgz" --namespace signet-system --kube-version 1.34.0
grep -qxF "          image: $ref" <<<"$result" ||
  fail "checking the packaged chart failed: it does not run $ref"
# helm push reports on stderr: "Pushed: REF" and "Digest: sha256:…".
helm_push() { "$helm" push "$@" 2>&1; }
step "pushing the chart to oci://$chart_repo" helm_push "$tgz" "oci://$chart_repo" "${helm_flags[@]}"
chart_digest=$(sed -n 's/^Digest: \(sha256:[0-9a-f]\{64\}\)$/\1/p' <<<"$result")
[[ -n $chart_digest ]] || fail "pushing the chart to oci://$chart_repo failed: helm printed no digest (log: $log)"
chart_ref=$chart_repo/signet@$chart_digest

# Now, and only now, signatures: the image, its attestations, the chart.
step "signing $ref" "$cosign" sign --recursive "${cosign_args[@]}" "$ref"
while read -r plat digest; do
  [[ $plat == index ]] && continue
  bin="$out/signet-${plat//\//-}"
  step "attaching the SBOM of $plat" "$cosign" attest "${cosign_args[@]}" --type cyclonedx \
    --predicate "$bin.cdx.json" "$repo@$digest"
done <"$out/digests"
step "attaching the provenance of $ref" "$cosign" attest "${cosign_args[@]}" --type slsaprovenance1 \
  --predicate "$out/provenance.json" "$ref"
step "signing the chart $chart_ref" "$cosign" sign "${cosign_args[@]}" "$chart_ref"
echo "oci://$chart_repo/signet:$chart_version@$chart_digest" >"$out/chart-ref"

echo "release: chart oci://$chart_repo/signet:$chart_version@$chart_digest" >&2
echo "$ref"
