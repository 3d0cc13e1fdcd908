// Package interop tests the built signet binary against signatures made by
// the real cosign v2 and v3 CLIs, stored in real registry processes: the
// distribution registry (no referrers API: the referrers tag schema) and
// go-containerregistry's registry (referrers API). The third-party CLIs
// are pinned in hack/tools and built on first use by hack/tool.sh.
package interop
