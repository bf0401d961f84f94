# Chargeplane. Needs GNU make, bash and Go; nothing else (no Docker).
#   make run    the whole system in one process (SQLite, in-process bus, embedded gateway)
#   make test   vet and every test, against the real PostgreSQL and RabbitMQ

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO           ?= go
TEST_TIMEOUT ?= 15m
FUZZTIME     ?= 30s
BUF          := bin/buf

.PHONY: screenshots help run test test-race check-services generate check-generated lint fuzz build bench clean deploy-check chart

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# Built, then exec'd rather than `go run`: the api is make's child and gets
# Ctrl-C itself, shuts down cleanly and exits 0, so make reports no error.
RUN_BIN ?= bin/api
run: ## run the embedded system: OCPP ws://localhost:8887/ocpp/{id}, REST :8080, gRPC :9090, data in ./data
	@echo "building $(RUN_BIN) (the first time can take a minute)…"
	@$(GO) build -o $(RUN_BIN) ./api
	@echo "starting $(RUN_BIN); Ctrl-C stops it"
	@exec $(RUN_BIN)

# Integration tests never skip: a missing service is a failure, with the fix.
# TEST_DATABASE_URL / TEST_AMQP_URL point the tests at other servers.
check-services: ## fail, saying how to start them, unless PostgreSQL and RabbitMQ are reachable
	@missing=0; \
	if [ -z "$${TEST_DATABASE_URL:-}" ] && ! (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; then \
	  missing=1; \
	  echo "PostgreSQL is not reachable on 127.0.0.1:5432. Start it with:"; \
	  echo '    pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start'; \
	fi; \
	if [ -z "$${TEST_AMQP_URL:-}" ] && ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then \
	  missing=1; \
	  echo "RabbitMQ is not reachable on 127.0.0.1:5672. Start it with:"; \
	  echo '    rabbitmq-server -detached'; \
	fi; \
	if [ $$missing = 1 ]; then \
	  if [ "$${CI:-}" = true ]; then \
	    echo "CI=true: the integration tests need both services; failing instead of skipping them."; \
	  else \
	    echo "The integration tests need both services; they are never skipped."; \
	  fi; \
	  exit 1; \
	fi

test: check-services ## go vet, then every test (real PostgreSQL and RabbitMQ), then deploy-check
	$(GO) vet ./...
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) --no-print-directory deploy-check

# tools/deploycheck is a module of its own, so that Helm and the Kubernetes
# API types it pins stay out of the binaries' dependencies. Its tests build
# helm from that pin (go tool, Go module proxy only; a few minutes the first
# time, cached after).
HELM = $(GO) -C tools/deploycheck tool helm

deploy-check: ## helm lint + template of the chart with each ci/ values file, every manifest validated; compose.yaml and the Dockerfile checked
	$(GO) vet -C tools/deploycheck ./...
	$(GO) test -C tools/deploycheck -count=1 -timeout $(TEST_TIMEOUT) ./...

chart: ## render the Helm chart with its defaults into bin/chargeplane.yaml
	@mkdir -p bin
	$(HELM) lint --strict ../../deploy/helm/chargeplane
	$(HELM) template chargeplane ../../deploy/helm/chargeplane > bin/chargeplane.yaml
	@echo "rendered into bin/chargeplane.yaml"

test-race: check-services ## every test under the race detector (needs cgo and a C compiler)
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...

# buf is pinned by tools/buf/go.mod and built from source, so no download
# beyond the Go module proxy is needed.
$(BUF): tools/buf/go.mod tools/buf/go.sum
	$(GO) build -C tools/buf -o ../../bin/buf github.com/bufbuild/buf/cmd/buf

# pkg/gen holds generated code (plus pkg/gen/openapi/embed.go, which exposes
# the OpenAPI file to go:embed, and internal/created, which documents 201s): generated files are removed first so that a
# removed .proto leaves no stale file behind.
# The OCPP message types (pkg/ocpp/v16, pkg/ocpp/v201) are generated from the
# official schemas by msggen (go generate), .env.example from the settings
# table in pkg/config, as is the settings table of docs/operations.md.
GENERATED := pkg/gen pkg/ocpp/v16/messages_gen.go pkg/ocpp/v201/messages_gen.go .env.example docs/operations.md

generate: $(BUF) ## regenerate pkg/gen from proto/, the OCPP message types from the schemas, .env.example and the settings of docs/operations.md from pkg/config; lint the protos
	find pkg/gen -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' \) -delete
	$(BUF) generate
	$(BUF) lint
	$(GO) generate ./pkg/ocpp/... ./pkg/config ./pkg/gen/openapi

check-generated: generate ## fail if the committed generated code differs from what proto/ and the schemas generate
	@git diff --exit-code --stat -- $(GENERATED) || { echo "generated code is stale: run make generate and commit the result"; exit 1; }
	@untracked=$$(git ls-files --others --exclude-standard -- $(GENERATED)); \
	if [ -n "$$untracked" ]; then \
	  echo "untracked generated files (run make generate and commit them):"; echo "$$untracked"; exit 1; \
	fi

lint: $(BUF) ## gofmt, go vet, buf lint
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "not gofmt'ed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(BUF) lint

fuzz: ## fuzz the OCPP-J frame parser for FUZZTIME (default 30s)
	$(GO) test -run='^$$' -fuzz='^FuzzParse$$' -fuzztime=$(FUZZTIME) ./pkg/ocppj

# The README's console screenshots come from the browser test itself
# (e2e/console_test.go), so they show what the test saw.
screenshots: check-services ## regenerate docs/img/overview.png and docs/img/station.png from the console's browser test (needs chromium)
	@mkdir -p docs/img bin/screenshots
	CONSOLE_SCREENSHOTS=$(CURDIR)/bin/screenshots $(GO) test -count=1 -run '^TestConsole$$/^embedded$$' ./e2e
	cp bin/screenshots/overview.png bin/screenshots/station.png docs/img/

build: ## static binaries bin/api and bin/gateway
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/api ./api
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gateway ./gateway

# Measured capacity (issue 6, docs/benchmarks.md): both deployments under
# the load generator beside the raw WebSocket/RabbitMQ limits, profiles,
# then the Go benchmarks. About 15 minutes; results in bin/bench/.
# BENCH_FLAGS passes options, e.g. BENCH_FLAGS='-modes embedded -idle 2000'.
bench: check-services ## capacity benchmarks of both modes beside the physical limits, and the Go benchmarks (~15 min)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/api ./api
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gateway ./gateway
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/loadgen ./tools/loadgen
	GO=$(GO) $(GO) run ./tools/bench -bin bin -out bin/bench $(BENCH_FLAGS)

clean: ## remove built binaries (keeps bin/buf) and test caches
	rm -f bin/api bin/gateway
	$(GO) clean -testcache

# The scale proof (issue 11, docs/benchmarks.md): 100,000 simulated chargers
# (half 1.6, half 2.0.1) in several load generators, 6 gateways, 2 cores,
# RabbitMQ and PostgreSQL: connect-and-boot storm, steady state, kill -9 of
# a gateway, sessions checked against the database. Results, chart and logs
# in bin/scale/. SCALE_FLAGS passes options, e.g. '-chargers 4000 -gateways 2'.
.PHONY: scale
scale: check-services ## scale proof: 100,000 chargers, 6 gateways, 2 cores, a gateway killed (~15 min)
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/api ./api
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/gateway ./gateway
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/loadgen ./tools/loadgen
	$(GO) run ./tools/scale -bin bin -out bin/scale $(SCALE_FLAGS)

.PHONY: faults
faults: ## fault suite: 2 cores, 3 gateways, kills and outages (stops and restarts the machine's RabbitMQ and PostgreSQL; not part of make test)
	$(GO) run ./tools/faults
