#!/usr/bin/env bash
# hack/tool.sh NAME — print the path of a pinned third-party CLI, building it on
# first use. Each tool is pinned by its own module under hack/tools/NAME (go.mod +
# go.sum committed), so versions never drift and tools never share a module graph.
# Binaries are cached in $SIGNET_TOOLS_DIR (default: .cache/tools) under a key
# derived from the pin, so bumping a go.mod rebuilds and nothing else does.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=${1:?usage: hack/tool.sh NAME}
mod="$root/hack/tools/$name"
[[ -f "$mod/go.mod" ]] || { echo "hack/tool.sh: unknown tool $name (no $mod/go.mod)" >&2; exit 2; }
pkg=$(sed -n 's/^tool //p' "$mod/go.mod" | head -n1)
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
dir=${SIGNET_TOOLS_DIR:-$root/.cache/tools}
bin="$dir/$name-$key"
if [[ ! -x "$bin" ]]; then
  mkdir -p "$dir"
  echo "hack/tool.sh: building $name ($pkg), first use only..." >&2
  (cd "$mod" && CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" "$pkg") >&2
  mv "$bin.tmp" "$bin"
fi
echo "$bin"
