# Gintoki — see README.md. Every target works from a fresh clone with Go
# installed; `make generate` also needs protoc (Debian: protobuf-compiler).
GO       ?= go
# The Go release the project builds and tests with (go.mod's toolchain line):
# a release free of the standard library's known vulnerabilities that
# the code reaches. The go command fetches it from the module proxy once.
GO_TOOLCHAIN ?= go1.27.3
export GOTOOLCHAIN := $(GO_TOOLCHAIN)
BIN      := bin/gintoki
PKG      := ./...
MYSQL_DSN ?= $(GINTOKI_TEST_MYSQL_DSN)
# Stamped into the binary (gintoki version, gintoki_build_info); empty outside
# a git checkout, where the Go toolchain's own build info is used instead.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null)
BUILDINFO := github.com/gintoki/gintoki/infrastructure/buildinfo
LDFLAGS  := -X $(BUILDINFO).version=$(VERSION) -X $(BUILDINFO).revision=$(REVISION)

.PHONY: pipeline all build run test test-short soak fleet-proof vet lint vuln generate readme-config check-generated check-deployments bench bench-load bench-bootstrap fuzz-short clean help

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/gintoki (version and revision from git, see `bin/gintoki version`)
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./app/cmd/gintoki

run: build ## run the embedded demo on :8080 (SQLite + in-process broker, no outside service)
	./$(BIN) demo --http-addr :8080 --grpc-addr :9090 --log-format text

pipeline: build ## MariaDB (binlog on) -> gintoki relay -> Kafka-protocol broker -> gintoki serve, locally
	./scripts/pipeline.sh

vet: ## go vet
	$(GO) vet $(PKG)

test: vet ## vet + every test with the race detector; MariaDB tests use GINTOKI_TEST_MYSQL_DSN, or a local MariaDB (root, no password) found by themselves; ends with the counts
	GO=$(GO) ./scripts/test.sh

lint: ## staticcheck on every package, tests included (pinned version from the module proxy; staticcheck.conf says which checks and why)
	./scripts/lint.sh

vuln: ## govulncheck: known vulnerabilities the code reaches (database from the module proxy, see scripts/vuln.sh)
	./scripts/vuln.sh

test-short: ## unit tests only, no race detector
	$(GO) test -short -count=1 $(PKG)

soak: ## the pipeline torture (relay + read nodes + broker, killed and restarted) at SOAK_WRITES writes (default 1,000,000) in each order (version column, shop schema by the binlog); needs GINTOKI_TEST_MYSQL_DSN
	@test -n "$$GINTOKI_TEST_MYSQL_DSN" || { echo "make soak needs GINTOKI_TEST_MYSQL_DSN, e.g. 'root@tcp(127.0.0.1:3306)/test' (MariaDB with the binlog on)"; exit 2; }
	GINTOKI_SOAK_WRITES=$${SOAK_WRITES:-1000000} $(GO) test -count=1 -timeout 6h -run '^TestPipelineTorture$$' -v $(SOAKFLAGS) ./app/pipelinetorture/

fleet-proof: ## relay, 2 read nodes and the gateway under load: rolling restart, broker away, frozen relay, node killed; prints the numbers (RATE=req/s, RACE=1; MariaDB with the binlog on)
	./scripts/fleet-proof.sh

generate: ## regenerate wire and protobuf code
	$(GO) tool wire ./app/...
	./scripts/gen-proto.sh

readme-config: build ## rewrite the README's configuration tables from the binary's --help
	./scripts/config-table.sh --write $(BIN)

check-generated: generate readme-config ## fail when committed generated code or the README's configuration tables are stale
	git diff --exit-code -- '*.pb.go' '*wire_gen.go' README.md || { echo "generated code or README tables are stale: run 'make generate readme-config' and commit"; exit 1; }

check-deployments: ## check deployments/: promtool (configs, rules, alert unit tests, dashboard queries), YAML, and every gintoki flag used against --help
	./scripts/ci/check-deployments.sh

fuzz-short: ## run every fuzz target briefly (FUZZTIME=10s)
	./scripts/fuzz.sh $${FUZZTIME:-10s}

bench: ## Go benchmarks of the hot paths: hit path, keyed lock, HTTP handler, decoder, change path (BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem -count $${COUNT:-5} ./usecase/... ./adapter/cache/... ./adapter/httpapi/... ./adapter/debezium/... ./adapter/kafkaconsumer/... | tee bench.out

bench-load: ## load benchmarks on MariaDB: wrk, vegeta, ghz, latency plot (see BENCHMARKS.md; QUICK=1 for a smoke run)
	./scripts/bench/run-all.sh

bench-bootstrap: ## start-up with 1M products: cache from the change topics vs --cache-prewarm all, via relay and local broker (BENCHMARKS.md; BOOT_PRODUCTS=20000 for a smoke run)
	./scripts/bench/bootstrap.sh

clean:
	rm -rf bin data bench.out
