#!/usr/bin/env bash
# hack/tool.sh NAME [CMD] — print the path of a pinned third-party CLI, building
# it on first use. Tools are pinned by Go modules under hack/tools (go.mod +
# go.sum committed), so versions never drift:
#
#   - hack/tools/shared pins the CLIs that share most of their dependencies
#     (cosign v2 and v3, registry, notation, the Sigstore stack) in one module
#     graph, compiled once; its `names` file maps each NAME to its packages.
#   - any other NAME is its own module, hack/tools/NAME, whose `tool`
#     directives are the packages.
#
# Binaries are cached in $SIGNET_TOOLS_DIR (default: .cache/tools) under a key
# derived from the pin, so bumping a go.mod rebuilds and nothing else does.
# A NAME with one package is cached as $dir/NAME-KEY (CMD, if given, must be
# that command's name). A NAME with several (sigstore: createtree,
# trillian_log_server, rekor-server, ...) is built at once into the directory
# $dir/NAME-KEY/; the script prints $dir/NAME-KEY/CMD, or the directory when
# CMD is omitted (as `make tools` does).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/hack/toolchain.sh"
export GOTOOLCHAIN=$tools_toolchain
name=${1:?usage: hack/tool.sh NAME [CMD]}
cmd=${2:-}
shared="$root/hack/tools/shared"
line=$(awk -v n="$name" '$1 == n' "$shared/names")
if [[ -n $line ]]; then
  mod=$shared
  read -r -a pkgs <<<"${line#"$name"}"
else
  mod="$root/hack/tools/$name"
  [[ $name != shared && -f "$mod/go.mod" ]] || { echo "hack/tool.sh: unknown tool $name (not in $shared/names, no hack/tools/$name/go.mod)" >&2; exit 2; }
  # Both forms: `tool pkg` and a `tool ( ... )` block.
  mapfile -t pkgs < <(awk '/^tool \(/{b=1;next} b&&/^\)/{b=0} b&&NF{print $1} /^tool [^(]/{print $2}' "$mod/go.mod")
  line="${pkgs[*]}"
fi
((${#pkgs[@]} > 0)) || { echo "hack/tool.sh: no packages for $name in $mod" >&2; exit 2; }
key=$( { cat "$mod/go.mod" "$mod/go.sum"; echo "$line"; go env GOVERSION; } | sha256sum | cut -c1-12)
dir=${SIGNET_TOOLS_DIR:-$root/.cache/tools}
out="$dir/$name-$key"

if ((${#pkgs[@]} == 1)); then
  if [[ -n $cmd && $cmd != "$(basename "${pkgs[0]}")" ]]; then
    echo "hack/tool.sh: tool $name provides $(basename "${pkgs[0]}"), not $cmd" >&2; exit 2
  fi
  if [[ ! -x "$out" ]]; then
    mkdir -p "$dir"
    echo "hack/tool.sh: building $name (${pkgs[0]}), first use only..." >&2
    (cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp.$$" "${pkgs[0]}") >&2
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
  (cd "$mod" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$tmp/" "${pkgs[@]}") >&2
  chmod 755 "$tmp"
  # Another build may have finished first: keep that one.
  mv -T "$tmp" "$out" 2>/dev/null || [[ -d "$out" ]]
fi
if [[ -n $cmd ]]; then echo "$out/$cmd"; else echo "$out"; fi
