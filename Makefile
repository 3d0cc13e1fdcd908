# signet — make targets. Only Go is needed; `make test` builds every pinned
# third-party CLI the tests use (hack/tool.sh, cached in .cache/tools).

GO       ?= go
# signet is built, tested and scanned with the Go release named in
# hack/go-toolchain (go1.27.3): the go command
# fetches it once from the module proxy (~76 MB, ~10 s), like a module. It
# is the newest release this project's proxy serves with every standard
# library fix the pinned vulnerability database knows (make vuln); go1.26.8
# has 12 of them reachable from signet. go.mod still says go 1.26, so a
# plain `go build` with any Go 1.26 works too: `make
# SIGNET_GO_TOOLCHAIN=local` uses the machine's own. The pinned third-party
# CLIs build with the same toolchain, so shared packages compile once.
SIGNET_GO_TOOLCHAIN ?= $(shell cat hack/go-toolchain)
export GOTOOLCHAIN := $(SIGNET_GO_TOOLCHAIN)
# -trimpath: file names in binaries are module paths, so the build cache
# serves a fresh clone in another directory (CI) what it compiled before.
# (Once, however deep make nests: the sub-makes inherit it.)
export GOFLAGS := $(strip $(filter-out -trimpath,$(GOFLAGS)) -trimpath)
BIN      ?= bin/signet
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  := -s -w -X github.com/signet-dev/signet/internal/version.Version=$(VERSION) -X github.com/signet-dev/signet/internal/version.Commit=$(COMMIT)
# hack/tools/shared, largest first: the ones after it find most of their
# packages compiled.
SHARED_TOOLS := sigstore cosign3 cosign2 registry notation
PKGS_UNIT := ./internal/... ./cmd/... ./hack/...
# The race detector runs on the packages whose concurrency is their own
# (cache, singleflight, registry transport, key resolution) and whose
# dependencies are light: race-compiling the whole tree (cosign, k8s, KMS
# SDKs) doubles a cold CI run. `make test-race` runs it everywhere.
RACE_PKGS := ./internal/cache/... ./internal/registry/... ./internal/keysource/... ./internal/imageref/... ./internal/workload/... ./internal/metrics/...

.PHONY: generate image release soak bench-reverify sbom all build test test-checks test-suites test-fast test-race test-unit test-interop test-e2e tools demo demo-cluster bench fuzz fuzz-short lint vuln fmt clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

build: ## build bin/signet
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/signet

# The CRDs (deploy/crds and the chart's copy) and the deepcopy functions
# are generated from internal/policy/v1alpha1 and the markers on
# policy.Spec by the pinned controller-gen; test/crds (make test) fails
# when they are out of date.
generate: ## regenerate the policy CRDs (deploy/crds, the chart's copy) and deepcopy functions with controller-gen
	hack/generate.sh

# make image IMAGE_REPO=host:port/path: signet's multi-platform image, built
# and pushed without Docker (hack/image). IMAGE_FLAGS adds flags, such as
# --insecure for a plain-HTTP registry or --ca-bundle FILE.
IMAGE_REPO  ?=
IMAGE_FLAGS ?=
image: ## build signet's OCI image (linux/amd64 + linux/arm64, from scratch, reproducible) and push it to IMAGE_REPO
	@test -n "$(IMAGE_REPO)" || { echo "make image: no registry to push to: set IMAGE_REPO=host:port/path" >&2; exit 2; }
	@$(GO) run ./hack/image --repo '$(IMAGE_REPO)' --version '$(VERSION)' $(IMAGE_FLAGS)

# make release IMAGE_REPO=host:port/path COSIGN_KEY=cosign.key: make image,
# push the chart pinned to the image (default oci://<IMAGE_REPO's
# parent>/charts/signet, or CHART_REPO), then sign the image with the pinned
# cosign, attach a CycloneDX SBOM and a SLSA provenance attestation and sign
# the chart (hack/release.sh lists the options: keyless with
# SIGSTORE_ID_TOKEN and cosign's COSIGN_* variables, COSIGN_TLOG=false,
# IMAGE_INSECURE=1).
COSIGN_KEY ?=
release: ## build, push and sign signet's image, attach SBOM and SLSA provenance attestations, push and sign the chart, print the digest
	@IMAGE_REPO='$(IMAGE_REPO)' COSIGN_KEY='$(COSIGN_KEY)' VERSION='$(VERSION)' IMAGE_FLAGS='$(IMAGE_FLAGS)' CHART_REPO='$(CHART_REPO)' hack/release.sh

tools: ## build the pinned third-party CLIs and the Kubernetes control plane the tests use (first run only)
	@# The names of hack/tools/shared build one after another, so each finds
	@# the packages they share already compiled (side by side, every build
	@# would compile them at once), then ctfe (its own module, at the
	@# versions shared selects: its packages are compiled by then); that
	@# chain, helm and the control plane build side by side.
	@pids=""; \
	(for t in $(SHARED_TOOLS) ctfe; do hack/tool.sh $$t >/dev/null || exit 1; done) & pids="$$pids $$!"; \
	(hack/tool.sh helm >/dev/null && hack/tool.sh kustomize >/dev/null && hack/tool.sh sbom >/dev/null && hack/tool.sh controller-gen >/dev/null && hack/tool.sh gatekeeper >/dev/null && hack/tool.sh local-kms >/dev/null) & pids="$$pids $$!"; \
	hack/k8s.sh >/dev/null & pids="$$pids $$!"; \
	for p in $$pids; do wait $$p || exit 1; done

# The pinned tools build first (first run only; every suite needs them).
# Then lint and the unit tests, the suites and the short fuzz run all run
# side by side: the suites mostly wait on sockets and process starts
# (kube-apiserver, registries, Sigstore) and the CPU-bound checks and
# fuzzers fill the cores they leave idle. The suites start longest first
# (SUITES), so the last one to start is a short one.
test: ## everything: lint, unit tests (race detector), a short fuzz run, interop (real cosign, registries), faults, helm, e2e (real kube-apiserver)
	@$(MAKE) --no-print-directory tools
	@$(MAKE) --no-print-directory -j3 test-checks test-suites fuzz-short

test-fast: test-checks ## what needs no third-party CLI: lint, unit tests, the race detector, a short fuzz run
	@$(MAKE) --no-print-directory fuzz-short

test-checks: lint
	$(GO) test -count=1 $(PKGS_UNIT)
	$(GO) test -race -count=1 $(RACE_PKGS)

test-suites:
	@missing=$$(for d in test/*/; do d=$${d%/}; ls $$d/*_test.go >/dev/null 2>&1 || continue; case " $(ALL_SUITES) " in *" ./$$d "*) ;; *) echo $$d;; esac; done); \
	if [ -n "$$missing" ]; then echo "suites not in ALL_SUITES (Makefile): $$missing"; exit 1; fi
	$(GO) test -count=1 -timeout 20m $(SUITES)

test-race: ## unit tests of every package under the race detector
	$(GO) test -race -count=1 $(PKGS_UNIT)

test-unit: ## unit tests only (no third-party CLIs needed)
	$(GO) test -count=1 $(PKGS_UNIT)

test-interop: tools ## interop tests only
	$(GO) test -count=1 -timeout 20m -v ./test/interop/

test-e2e: tools ## e2e tests through a real kube-apiserver only
	$(GO) test -count=1 -timeout 20m -v ./test/e2e/

demo: ## the walkthrough: embedded registry, signed and unsigned images, signet verify and signet serve
	$(GO) run -ldflags "-s -w" ./cmd/signet demo

demo-cluster: tools ## the walkthrough through a real kube-apiserver (builds it on first use)
	SIGNET_DEMO_CLUSTER=1 $(GO) test -count=1 -timeout 30m -run TestDemoCluster -v ./test/e2e/ | grep -v -E '^(=== RUN|--- |PASS|ok )' 

BENCH_DURATION ?= 10s
bench: build ## Go benchmarks of the hot path, then the load generator against signet serve (writes docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) run ./test/bench -signet $(BIN) -duration $(BENCH_DURATION) -write docs/benchmarks.md

SOAK ?= 1000000
soak: build ## one million admissions (cached, uncached, denied) through signet serve; RSS and goroutines sampled (writes docs/benchmarks.md)
	$(GO) run ./test/bench -signet $(BIN) -soak $(SOAK) -write docs/benchmarks.md

# The re-verifier against a real kube-apiserver (envtest; hack/k8s.sh builds
# it on first use): 10,000 Pods of 1,000 ReplicaSets, 800 images in an
# in-process registry. Prints baseline and re-verifying RSS, the start-up
# and policy-change rounds' seconds, CPU and registry requests; the figures
# go into docs/benchmarks.md by hand. make test runs the same at a tenth of
# the size (TestScaleSmall), asserting counts and a memory bound.
# REVERIFY_PPROF=DIR saves a CPU profile of the start-up round and a heap
# profile after it.
REVERIFY_PPROF ?=
bench-reverify: ## re-verification at 10,000 Pods / 800 images through a real kube-apiserver: RSS, CPU, registry requests (figures for docs/benchmarks.md)
	SIGNET_REVERIFY_SCALE=1 SIGNET_REVERIFY_PPROF='$(REVERIFY_PPROF)' $(GO) test -count=1 -timeout 40m -run '^TestScale$$' -v ./test/reverify/

# The suites, longest first, so the last to start is a short one
# (make test-suites SUITES=./test/e2e runs one).
ALL_SUITES = ./test/e2e ./test/image ./test/keyless ./test/interop ./test/exhaustion ./test/hostile \
	./test/reverify ./test/helm ./test/check ./test/faults ./test/crds ./test/bench
SUITES ?= $(ALL_SUITES)

FUZZTIME ?= 60s
FUZZTIME_SHORT ?= 3s
fuzz: ## run every fuzz target for FUZZTIME each (their seed corpora also run in make test)
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/imageref
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/policy
	$(GO) test -run '^$$' -fuzz '^FuzzPattern$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/policy
	$(GO) test -run '^$$' -fuzz '^FuzzEvaluate$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/policy
	$(GO) test -run '^$$' -fuzz '^FuzzHandler$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/admission
	$(GO) test -run '^$$' -fuzz '^FuzzPolicyHandler$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/admission
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/workload
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeResource$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/workload
	$(GO) test -run '^$$' -fuzz '^FuzzParseStatement$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/attest
	$(GO) test -run '^$$' -fuzz '^FuzzPullSecret$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/kube
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/manifest
	$(GO) test -run '^$$' -fuzz '^FuzzLoad$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/compose
	$(GO) test -run '^$$' -fuzz '^FuzzImportConnaisseur$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/policyimport
	$(GO) test -run '^$$' -fuzz '^FuzzImportPolicyController$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/policyimport
	$(GO) test -run '^$$' -fuzz '^FuzzImportKyverno$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/policyimport
	$(GO) test -run '^$$' -fuzz '^FuzzParseLine$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/auditlog
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) $(FUZZFLAGS) ./internal/alert

# A crash found here is written to the package's testdata/fuzz/<target>/:
# fix the bug, and commit the file as a regression seed.
fuzz-short: ## every fuzz target for FUZZTIME_SHORT (3s) each with one worker, as make test runs them: about 100 s warm
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT) FUZZFLAGS=-parallel=1

sbom: build ## CycloneDX SBOM of bin/signet (every module linked in, with versions and hashes) in dist/signet.cdx.json
	@mkdir -p dist
	$$(hack/tool.sh sbom) bin -json -output dist/signet.cdx.json -licenses=false $(BIN)
	@echo "dist/signet.cdx.json: $$(grep -c '"purl"' dist/signet.cdx.json) components"

lint: ## gofmt, go vet and govulncheck (make vuln)
	@out=$$(gofmt -l cmd internal test hack); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@$(MAKE) --no-print-directory vuln

vuln: ## govulncheck (pinned) with the pinned vulnerability database (offline, from the module proxy): fails on any called vulnerability not in hack/vuln-accepted.txt
	@hack/vuln.sh

fmt: ## format the code
	gofmt -w cmd internal test hack

clean: ## remove build outputs (keeps the tool cache)
	rm -rf bin dist
