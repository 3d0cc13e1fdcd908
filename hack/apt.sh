#!/usr/bin/env bash
# hack/apt.sh CMD=PKG... — make sure each command CMD is on PATH, installing the
# Debian package PKG that provides it when it is missing. Used by tests that need
# a system service no Go module provides (mariadb-server for the local Sigstore
# stack, notary's server and signer, redis-server). Package services are never
# started: a policy-rc.d that refuses them is in place during the install.
# Needs root (CI and the development machines run as root); prints what to do
# otherwise.
set -euo pipefail
missing=()
for spec in "$@"; do
  cmd=${spec%%=*} pkg=${spec#*=}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) != 0 ]]; then
  echo "hack/apt.sh: need Debian packages ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
exec 9>/tmp/signet-apt.lock
flock 9 # tests in parallel packages may ask at once
prc=/usr/sbin/policy-rc.d created=""
if [[ ! -e $prc ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$prc" && chmod +x "$prc" && created=1
fi
trap '[[ -n $created ]] && rm -f "$prc"' EXIT
export DEBIAN_FRONTEND=noninteractive
echo "hack/apt.sh: installing ${missing[*]}..." >&2
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
