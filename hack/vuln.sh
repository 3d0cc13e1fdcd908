#!/usr/bin/env bash
# hack/vuln.sh — govulncheck over the module, with the pinned govulncheck
# (hack/tools/govulncheck) and a pinned copy of the Go vulnerability
# database. Called by `make vuln` (and so `make lint`).
#
# The database is golang.org/x/vulndb at the version below, fetched through
# the Go module proxy like any module (and checked against its pinned hash):
# its data/osv directory is the database, read offline. Bump the pin to
# pick up newer reports (hack/vuln.sh --latest prints the newest version).
#
#   VULNDB=URL   another database instead (https://vuln.go.dev, file:///mirror)
#
# Every vulnerability signet's code calls fails the check unless
# hack/vuln-accepted.txt accepts it with a reason (hack/vulnreport); ones in
# required modules that signet never calls are counted, not failed.
# The standard library's are those of the Go toolchain that runs this
# script: the Makefile's (GOTOOLCHAIN, see SIGNET_GO_TOOLCHAIN there).
set -euo pipefail
VULNDB_MODULE=golang.org/x/vulndb
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
VULNDB_SUM=h1:mfngRv0Yoh0VApsXKEN82CjD99kl7mtparN3bs3JnqI=

root=$(cd "$(dirname "$0")/.." && pwd)
# The toolchain whose standard library is scanned: signet's.
. "$root/hack/toolchain.sh"
export GOTOOLCHAIN=$signet_toolchain
if [[ ${1:-} == --latest ]]; then
  GOFLAGS=-mod=mod go list -m -json "$VULNDB_MODULE@latest" | sed -n 's/.*"Version": "\(.*\)",/\1/p'
  exit 0
fi
# govulncheck type-checks signet with its own go/types: it must be built with
# the toolchain that scans (a go1.26 build cannot load go1.27 files).
bin=$(SIGNET_TOOLS_GOTOOLCHAIN=$GOTOOLCHAIN "$root/hack/tool.sh" govulncheck)
db=${VULNDB:-}
if [[ -z $db ]]; then
  json=$(go mod download -json "$VULNDB_MODULE@$VULNDB_VERSION") || {
    echo "hack/vuln.sh: cannot fetch the vulnerability database $VULNDB_MODULE@$VULNDB_VERSION from the module proxy" >&2; exit 1; }
  sum=$(sed -n 's/.*"Sum": "\(.*\)",/\1/p' <<<"$json")
  dir=$(sed -n 's/.*"Dir": "\(.*\)",/\1/p' <<<"$json")
  if [[ $sum != "$VULNDB_SUM" ]]; then
    echo "hack/vuln.sh: $VULNDB_MODULE@$VULNDB_VERSION has hash $sum, pinned $VULNDB_SUM" >&2; exit 1
  fi
  db="file://$dir/data/osv"
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cd "$root"
# govulncheck's findings are a function of its inputs: the scanner, the
# pinned database, the scanning toolchain and build settings, go.mod,
# go.sum and the module's Go files. A scan of the same inputs is kept (next
# to the pinned tools, the newest 20) and read instead of scanning again:
# a warm make test on an unchanged tree skips ~50 CPU-seconds. Never with
# VULNDB (a live database changes under the same name).
cached=""
if [[ -z ${VULNDB:-} ]]; then
  cache=${SIGNET_TOOLS_DIR:-$root/.cache/tools}/vuln
  key=$({
    echo "$bin" "$db"
    go version
    go env GOOS GOARCH GOFLAGS CGO_ENABLED
    cat go.mod go.sum
    find . \( -path ./.cache -o -path ./hack/tools -o -path ./.git \) -prune -o -name '*.go' -type f -print | LC_ALL=C sort | xargs sha256sum
  } | sha256sum | cut -c1-32)
  cached=$cache/$key.json
fi
if [[ -n $cached && -s $cached ]]; then
  cp "$cached" "$out"
  echo "govulncheck: the scan of these inputs from $cached"
else
  status=0
  "$bin" -db "$db" -format json ./... >"$out" 2>&1 || status=$?
  if ((status != 0)); then
    # With -format json, findings do not set the exit code: this is a
    # failure to run (a package that does not build, an unreadable database).
    cat "$out" >&2
    exit "$status"
  fi
  if [[ -n $cached ]] && mkdir -p "$cache" && cp "$out" "$cached.tmp.$$" && mv "$cached.tmp.$$" "$cached"; then
    ls -t "$cache"/*.json 2>/dev/null | tail -n +21 | xargs -r rm -f
  fi
fi
go run ./hack/vulnreport hack/vuln-accepted.txt <"$out"
