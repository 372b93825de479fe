# Longer chores. The README's two commands need none of this.
GO ?= go

.PHONY: check test vet fmt bench fuzz

check: fmt vet test

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

test:
	$(GO) test -race ./...

bench:
	$(GO) run ./cmd/switchyard bench -out BENCHMARKS.md
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

# Runs every native fuzz target for FUZZTIME executions each (a count,
# not a duration: see .ci/fuzz).
FUZZTIME ?= 200000x
fuzz:
	FUZZTIME=$(FUZZTIME) bash .ci/fuzz
