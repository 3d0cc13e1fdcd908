# hack/toolchain.sh — sourced by hack/tool.sh, hack/k8s.sh and hack/vuln.sh
# (needs $root): the Go toolchain signet builds with, the Makefile's
# GOTOOLCHAIN or, when a script runs outside make (a plain
# `go test ./test/...`), the release in hack/go-toolchain. The pinned tools
# build with it too (SIGNET_TOOLS_GOTOOLCHAIN picks another), so their
# cache keys are the same from make or not, and the packages they share
# with signet's tests compile once.
signet_toolchain=${GOTOOLCHAIN:-$(cat "$root/hack/go-toolchain")}
tools_toolchain=${SIGNET_TOOLS_GOTOOLCHAIN:-$signet_toolchain}
