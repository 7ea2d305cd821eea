# Tidemark's build and test entry points.
#
#   make test   the whole suite with the race detector: the core, the
#               embedded drivers and the conformance suite on mem and file.
#   make lint   gofmt, go vet, and golangci-lint when it is installed.
#   make bench  the store's benchmarks.

GO ?= go
PKGS ?= ./...

.PHONY: test lint bench

test:
	$(GO) test -race -count=1 $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	@if command -v golangci-lint >/dev/null 2>&1; then golangci-lint run $(PKGS); else echo "golangci-lint not installed: skipped (config in .golangci.yml)"; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
