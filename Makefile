# Vigil build, test and lint entry points. Run tests as root: the BPF
# tests load real programs into the running kernel.

SHELL    := /bin/bash
GO       ?= go
CLANG    ?= clang-19
STRIP    ?= llvm-strip-19
BIN      ?= bin/vigil
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The BPF suites must run, not skip, wherever this Makefile is used.
export VIGIL_REQUIRE_BPF ?= 1

# Kernels `make vmtest` runs the BPF suites on (Debian packages cached in
# .cache/vmtest by vmtest/setup), and the packages with BPF tests (those
# calling bpftest.Require).
VMTEST_KERNELS ?= 6.1 6.12
VMTEST_PKGS    ?= $(sort $(dir $(shell grep -rl --include='*_test.go' --exclude-dir=.cache 'bpftest.Require' .)))
# Tests known not to pass on a kernel (go test -skip patterns, by kernel:
# VMTEST_SKIP_6_1, VMTEST_SKIP_6_12), reported by `make vmtest`; the
# tests themselves are not weakened. None today.

.PHONY: all build generate check-generate test test-short bench lint cross demo clean vmtest vmtest-tools

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/vigil

# Regenerate the BPF objects and their Go bindings (needs clang-19).
generate:
	cd sensor && $(GO) generate ./...

# Fail when the committed BPF objects differ from a fresh build.
check-generate: generate
	@git diff --exit-code --stat -- sensor bpf || \
		{ echo "generated BPF files are not up to date: run 'make generate' and commit" >&2; exit 1; }

# All tests, including the BPF suites (root required). The harness that
# boots other kernels (vmtest/) runs under `make vmtest`, after its setup.
test:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v '/vmtest')

# The BPF suites inside each kernel of VMTEST_KERNELS, one qemu guest per
# test binary, after the harness's own tests. See README "Kernel matrix".
vmtest: vmtest-tools
	./vmtest/setup
	$(GO) test -count=1 ./vmtest/...
	./vmtest/matrix -k "$(VMTEST_KERNELS)" $(VMTEST_PKGS)

vmtest-tools:
	$(GO) build -o bin/vmrun ./vmtest/cmd/vmrun
	CGO_ENABLED=0 $(GO) build -o bin/vminit ./vmtest/cmd/vminit

# Tests that need no privileges.
test-short:
	VIGIL_REQUIRE_BPF= $(GO) test -short -count=1 ./...

# Micro-benchmarks of the user-space path, the whole user-space pipeline
# into a sealed store segment, intents through the socket (four clients,
# nothing lost), then, as root, the daemon's memory, the sensor's
# overhead on open, write, network and fork+exec loops as ratios against
# no sensor, the event rate it takes without loss and the loss beyond,
# and an agent-like job's overhead (about eight minutes).
# One run, one report: every benchmark's output goes to
# $(BENCH_DIR)/results.txt and, with the machine described, to
# $(BENCH_DIR)/results.json (internal/benchreport). Ratios are taken
# against baselines measured in the same run. The micro-benchmarks run
# four times each (go test builds every package before the first
# benchmark runs, and runs the packages one at a time).
BENCH_DIR ?= bench
bench:
	@mkdir -p $(BENCH_DIR)
	@set -o pipefail; { \
	  $(GO) test -run '^$$' -bench 'Decode|Encode|Handle|EntityID|SealedWrite|ChainAppend|Verify' -benchmem -count=4 ./sensor ./correlate ./output/... && \
	  $(GO) test -run '^$$' -bench Pipeline -benchtime 200000x -count=1 ./cmd/vigil && \
	  $(GO) test -run '^$$' -bench Intents -benchtime 40000x -count=1 ./cmd/vigil && \
	  $(GO) test -run '^$$' -bench 'Memory|Overhead|Throughput|AgentJob' -benchtime 1x -count=1 -v ./cmd/vigil; \
	} 2>&1 | tee $(BENCH_DIR)/results.txt
	$(GO) run ./internal/benchreport -cmd "make bench" < $(BENCH_DIR)/results.txt > $(BENCH_DIR)/results.json
	@echo "bench: $(BENCH_DIR)/results.json"

lint:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	cd test/otelcol && $(GO) vet ./... && $(GO) mod verify >/dev/null

# Windows and macOS builds of everything (the ETW and Endpoint Security
# adapters run there), vetted and linted as those systems see the code.
CROSS ?= windows/amd64 windows/arm64 darwin/amd64 darwin/arm64
# staticcheck is built for this machine and run with the target's GOOS
# (go tool would build it for the target); code unused on one system but
# used on Linux (U1000) is left to the Linux run.
cross:
	$(GO) build -o bin/staticcheck honnef.co/go/tools/cmd/staticcheck
	@set -e; for p in $(CROSS); do \
	  echo "cross: $$p"; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./...; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./sensor/...; \
	  GOOS=$${p%/*} GOARCH=$${p#*/} bin/staticcheck -tests=false -checks inherit,-U1000 ./...; \
	done

# Trace a small shell pipeline and print its records (root required).
demo: build
	$(BIN) trace -- sh -c 'sh -c "/bin/true a b"; ls / >/dev/null; /bin/false'

clean:
	rm -rf bin
