# Longer chores. The README's two commands need none of this.
GO ?= go

.PHONY: build install check test vet fmt bench bench-micro profile profile-mem fuzz screenshots

# A static, trimmed binary in bin/switchyard that runs on any Linux of its
# architecture (no libc: the SQLite driver is pure Go). The version is the
# nearest tag (or the commit), the date is the commit's, so that two
# builds of one commit are the same file; override VERSION for a release.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
DATE    ?= $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS := -s -w -X switchyard/internal/app.version=$(VERSION) \
	-X switchyard/internal/app.commit=$(COMMIT) -X switchyard/internal/app.date=$(DATE)
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/switchyard ./cmd/switchyard

# The same binary into $(go env GOBIN) or $(go env GOPATH)/bin.
install:
	CGO_ENABLED=0 $(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/switchyard

check: fmt vet test

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test:
	$(GO) test -race ./...

# The gateway against the floor, under pressure and with the console on a
# million ledger rows, about twelve minutes on two cores (see
# BENCHMARKS.md for what it measures). With SWITCHYARD_TEST_POSTGRES_DSN
# and SWITCHYARD_TEST_REDIS_URL set it also runs two replicas on Postgres
# and Redis, blackholes each, and runs the console on Postgres too.
# BENCHFLAGS adds flags, e.g. BENCHFLAGS='-long 1000000' or
# '-scenarios pressure'.
BENCHFLAGS ?=
bench:
	$(GO) run ./cmd/switchyard bench -scenarios perf,pressure,go,console -out BENCHMARKS.md $(BENCHFLAGS)

# Every Go benchmark in the module.
bench-micro:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

# A CPU profile of the gateway under the bench's load (one round of the
# perf scenario), then its top functions; explore further with
# `go tool pprof -http : gateway.cpu.prof`.
PROFILE ?= gateway.cpu.prof
profile:
	$(GO) run ./cmd/switchyard bench -scenarios perf -rounds 1 -long 0 -cpuprofile $(PROFILE) -out /dev/null $(BENCHFLAGS)
	$(GO) tool pprof -top -nodecount 40 $(PROFILE)

# An allocation profile of the same gateway (bytes allocated by function);
# for the fast path alone, in process and without the load generator's
# own allocations: go test ./internal/app -run '^$$' -bench ServeFastPath
# -benchmem -memprofile mem.prof.
MEMPROFILE ?= gateway.mem.prof
profile-mem:
	$(GO) run ./cmd/switchyard bench -scenarios perf -rounds 1 -long 0 -memprofile $(MEMPROFILE) -out /dev/null $(BENCHFLAGS)
	$(GO) tool pprof -sample_index=alloc_space -top -nodecount 40 $(MEMPROFILE)

# Runs every native fuzz target for FUZZTIME executions each (a count,
# not a duration: see .ci/fuzz).
FUZZTIME ?= 200000x
fuzz:
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz

# A 1280x800 PNG of every console page, from the demo with some traffic,
# into docs/screenshots (needs Chromium at /usr/bin/chromium).
screenshots:
	cd deploy && $(GO) run ./console/screenshots -out ../docs/screenshots
