# Tidemark's build and test entry points.
#
#   make test        the whole suite with the race detector: the core, the
#                    conformance suite on mem, file, MinIO, versitygw,
#                    fake-gcs-server and Azurite, with kinesalite for Kinesis
#                    (built natively on first use, started and stopped by
#                    scripts/test.sh), processor, CLI.
#   make test-core   the same without the emulators (their suites skip).
#   make stress      the whole suite three times at -cpu 1,2 with a CPU
#                    burner per core beside it: a test that only passes on
#                    an idle machine is a bug (scripts/stress.sh).
#   make lint        gofmt, go vet and golangci-lint (built on first use).
#   make cost        storage requests per partition-hour of idle groups
#                    (processor.BenchmarkGroupRequests, manual clock).
#   make bench       benchmarks, emulators included.
#   make emulators-start / emulators-stop   the emulators on their standard
#                    ports, for working by hand (scripts/emulators.sh env).
#   make test-compose   the suite against docker-compose.yml's services
#                    (needs Docker; not run by CI here).

GO ?= go
PKGS ?= ./...

.PHONY: test test-core stress cost lint bench emulators-start emulators-stop test-compose

test:
	bash scripts/test.sh $(PKGS)

test-core:
	$(GO) test -race -count=1 $(PKGS)

stress:
	bash scripts/stress.sh $(PKGS)

cost:
	$(GO) test -run '^$$' -bench BenchmarkGroupRequests -benchtime 1x ./processor/

GOLANGCI_VERSION = v2.15.0
GOLANGCI = $(shell $(GO) env GOPATH)/bin/golangci-lint

lint: $(GOLANGCI)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOLANGCI) run $(PKGS)

$(GOLANGCI):
	@echo "lint: building golangci-lint $(GOLANGCI_VERSION) (first time only, a few minutes)"
	$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)

bench:
	TIDEMARK_RUN_DIR=$(CURDIR)/.run/bench bash -c 'trap "scripts/emulators.sh stop" EXIT; scripts/emulators.sh start && eval "$$(scripts/emulators.sh env)" && $(GO) test -run "^$$" -bench . -benchmem $(PKGS)'

emulators-start:
	bash scripts/emulators.sh start

emulators-stop:
	bash scripts/emulators.sh stop

# The compose file's services, on the same standard ports.
test-compose:
	docker compose -p tidemark up -d --wait
	TIDEMARK_MINIO_ENDPOINT=http://127.0.0.1:9000 TIDEMARK_MINIO_ACCESS_KEY=minioadmin TIDEMARK_MINIO_SECRET_KEY=minioadmin \
	TIDEMARK_VERSITYGW_ENDPOINT=http://127.0.0.1:7070 TIDEMARK_VERSITYGW_ACCESS_KEY=tidemark TIDEMARK_VERSITYGW_SECRET_KEY=tidemarksecret \
	TIDEMARK_LOCALSTACK_ENDPOINT=http://127.0.0.1:4566 TIDEMARK_LOCALSTACK_ACCESS_KEY=test TIDEMARK_LOCALSTACK_SECRET_KEY=test \
	TIDEMARK_KINESIS_ENDPOINT=http://127.0.0.1:4566 \
	STORAGE_EMULATOR_HOST=127.0.0.1:4443 \
	TIDEMARK_AZURITE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;" \
	TIDEMARK_REQUIRE_EMULATORS=1 $(GO) test -race -count=1 ./conformance/... ./s3/... ./gcs/... ./azblob/... ./kinesis/...; status=$$?; docker compose -p tidemark down -v; exit $$status
