#!/usr/bin/env bash
# hack/tool.sh NAME [CMD] — print the path of a pinned third-party CLI, building
# it on first use. Each tool is pinned by its own module under hack/tools/NAME
# (go.mod + go.sum committed), so versions never drift and tools never share a
# module graph. Binaries are cached in $SIGNET_TOOLS_DIR (default: .cache/tools)
# under a key derived from the pin, so bumping a go.mod rebuilds and nothing
# else does.
#
# A module with one `tool` directive is cached as $dir/NAME-KEY (CMD, if given,
# must be that tool's name). A module with several (sigstore: createtree,
# trillian_log_server, rekor-server, ...) builds them all at once into the
# directory $dir/NAME-KEY/ and prints $dir/NAME-KEY/CMD, or the directory when
# CMD is omitted (as `make tools` does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
name=${1:?usage: hack/tool.sh NAME [CMD]}
cmd=${2:-}
mod="$root/hack/tools/$name"
[[ -f "$mod/go.mod" ]] || { echo "hack/tool.sh: unknown tool $name (no $mod/go.mod)" >&2; exit 2; }
# Both forms: `tool pkg` and a `tool ( ... )` block.
mapfile -t pkgs < <(awk '/^tool \(/{b=1;next} b&&/^\)/{b=0} b&&NF{print $1} /^tool [^(]/{print $2}' "$mod/go.mod")
((${#pkgs[@]} > 0)) || { echo "hack/tool.sh: $mod/go.mod has no tool directive" >&2; exit 2; }
key=$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -c1-12)
dir=${SIGNET_TOOLS_DIR:-$root/.cache/tools}
out="$dir/$name-$key"

if ((${#pkgs[@]} == 1)); then
  if [[ -n $cmd && $cmd != "$(basename "${pkgs[0]}")" ]]; then
    echo "hack/tool.sh: tool $name provides $(basename "${pkgs[0]}"), not $cmd" >&2; exit 2
  fi
  if [[ ! -x "$out" ]]; then
    mkdir -p "$dir"
    echo "hack/tool.sh: building $name (${pkgs[0]}), first use only..." >&2
    (cd "$mod" && CGO_ENABLED=0 go build -trimpath -o "$out.tmp.$$" "${pkgs[0]}") >&2
    mv "$out.tmp.$$" "$out"
  fi
  echo "$out"
  exit 0
fi

if [[ -n $cmd ]]; then
  found=""
  for p in "${pkgs[@]}"; do [[ $(basename "$p") == "$cmd" ]] && found=1; done
  [[ -n $found ]] || { echo "hack/tool.sh: tool $name has no command $cmd (it has: ${pkgs[*]##*/})" >&2; exit 2; }
fi
if [[ ! -d "$out" ]]; then
  mkdir -p "$dir"
  tmp=$(mktemp -d "$out.tmp.XXXXXX")
  trap 'rm -rf "$tmp"' EXIT
  echo "hack/tool.sh: building $name (${pkgs[*]##*/}), first use only..." >&2
  (cd "$mod" && CGO_ENABLED=0 go build -trimpath -o "$tmp/" "${pkgs[@]}") >&2
  chmod 755 "$tmp"
  # Another build may have finished first: keep that one.
  mv -T "$tmp" "$out" 2>/dev/null || [[ -d "$out" ]]
fi
if [[ -n $cmd ]]; then echo "$out/$cmd"; else echo "$out"; fi
