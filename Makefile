# immuta-view-sync: every task a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
# The template validators need a region to resolve pseudo-parameters; nothing is called in it.
export AWS_DEFAULT_REGION ?= us-east-1
# Tests find moto's server and cargo-lambda through these.
export MOTO_PYTHON := $(abspath $(PYTHON))
export CARGO_LAMBDA := $(abspath $(VENV)/bin/cargo-lambda)
# cargo-lambda runs `cargo lambda …` and finds zig (from PyPI's ziglang) on PATH.
export PATH := $(abspath $(VENV)/bin):$(PATH)
# The zips' size budgets in bytes (issue 16): a zip that outgrows one fails `make package` (and
# CI), so that growth is a decision, with BENCHMARKS.md's levers at hand.
ZIP_BUDGETS := receiver=2500000 processor=4000000
# The database drivers the processor's zip links (its Cargo features): PostgreSQL and MariaDB/MySQL by
# default; one of them makes a smaller zip, `sqlite` adds SQLite (README, Target databases).
PROCESSOR_DATABASES ?= postgres mysql
# cargo-fuzz (libFuzzer) on the stable toolchain: `--sanitizer none` needs no nightly flag.
CARGO_FUZZ_VERSION := 0.13.2
TOOLS := $(abspath target/tools)
FUZZ_TARGETS := receiver_request view_sql
FUZZ_RUNS ?= 1000000
# e.g. FUZZ_ARGS=-seed=1 for a reproducible run
FUZZ_ARGS ?=
# `--dev` for an unoptimised build with overflow checks: builds in half the time, runs slower.
FUZZ_BUILD ?=
FUZZ := PATH=$(TOOLS)/bin:$$PATH cargo fuzz
FUZZ_FLAGS = --fuzz-dir fuzz --sanitizer none --target-dir target/fuzz $(FUZZ_BUILD)

.PHONY: help venv odbc test test-all test-odbc lint fmt bench fuzz fuzz-smoke demo run package odbc-layer package-odbc fixtures clean

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned Python tools (moto, cargo-lambda, zig, SAM CLI, cfn-lint)

odbc: ## Install unixODBC and the PostgreSQL, MariaDB and SQLite ODBC drivers from Debian's packages (the ODBC target's tests)
	scripts/install-odbc.sh

test: venv odbc ## Run every test (unit, handlers, moto SQS end to end, the demo under cargo lambda watch, the ODBC drivers)
	$(PYTHON) scripts/make_fixtures.py --check
	cargo test --workspace --locked

test-all: ## `make test` on SQLite, PostgreSQL and MariaDB (starts the local servers if down), then `make test-odbc`, as CI does
	scripts/start-databases.sh
	TEST_POSTGRES_URL=$${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test} \
	TEST_MYSQL_URL=$${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test} \
	$(MAKE) test
	$(MAKE) test-odbc

# The local servers through their ODBC drivers (TEST_ODBC_POSTGRES / TEST_ODBC_MARIADB to name others).
TEST_ODBC_POSTGRES ?= odbc+postgres:Driver={PostgreSQL Unicode};Server=127.0.0.1;Port=5432;Database=test;Uid=postgres
TEST_ODBC_MARIADB ?= odbc+mariadb:Driver={MariaDB Unicode};Server=127.0.0.1;Port=3306;Database=test;Uid=root;CHARSET=utf8mb4
# Passed through the environment, never on an echoed command line: a connection string may hold a password.
export TEST_ODBC_POSTGRES TEST_ODBC_MARIADB

test-odbc: odbc venv ## The target database's tests (ordering, crash, drift, grants, readers, hostile names) and the demo's story through the PostgreSQL and MariaDB ODBC drivers
	scripts/start-databases.sh
	@echo "the store's tests and the demo's story through TEST_ODBC_POSTGRES and TEST_ODBC_MARIADB"
	@export TEST_POSTGRES_URL="$$TEST_ODBC_POSTGRES" TEST_MYSQL_URL="$$TEST_ODBC_MARIADB"; \
	cargo test --locked -p views --features odbc --tests && \
	cargo test --locked -p e2e --features odbc --test demo -- through_odbc
	PYTHON=$(abspath $(PYTHON)) scripts/check-odbc-layer.sh

lint: venv ## rustfmt, clippy (warnings are errors) and the SAM template (cfn-lint, sam validate --lint, our checks)
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	# The store built with no database driver: every driver-specific path compiled out.
	cargo clippy --locked -p views --no-default-features -- -D warnings
	# And with the ODBC target (the store's, the demo's and the layer test's code behind `odbc`).
	cargo clippy --locked -p views -p odbc-session -p e2e --features views/odbc,e2e/odbc --all-targets -- -D warnings
	$(VENV)/bin/cfn-lint template.yaml
	$(VENV)/bin/sam validate --lint --template template.yaml
	$(PYTHON) scripts/check_template.py

fmt: ## Format the code
	cargo fmt --all

bench: venv ## Receiver hot path, a reader's query over a protected view, a view's apply against the database's own CREATE VIEW, processor storm, full re-sync at scale (SQLite, PostgreSQL, MariaDB), end-to-end latency, cold starts (figures in BENCHMARKS.md)
	scripts/start-databases.sh
	cargo bench --locked -p receiver --bench hot_path
	cargo bench --locked -p views --bench reader_cost
	cargo bench --locked -p views --bench apply_cost
	cargo build --locked --release -p immuta-simulator -p receiver -p processor --features processor/sqlite
	SIMULATOR_BIN=$(abspath target/release/immuta-simulator) cargo bench --locked -p e2e --bench storm
	PROCESSOR_BIN=$(abspath target/release/processor) cargo bench --locked -p e2e --bench resync_scale
	PROCESSOR_BIN=$(abspath target/release/processor) cargo bench --locked -p e2e --bench latency
	RECEIVER_BIN=$(abspath target/release/receiver) PROCESSOR_BIN=$(abspath target/release/processor) \
	cargo bench --locked -p e2e --bench cold_start

$(TOOLS)/bin/cargo-fuzz:
	cargo install --locked --quiet cargo-fuzz --version $(CARGO_FUZZ_VERSION) --root $(TOOLS)

fuzz: $(TOOLS)/bin/cargo-fuzz ## Fuzz each target coverage-guided, FUZZ_RUNS inputs each (cargo-fuzz, libFuzzer; stable, no sanitizer)
	@for target in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$target ($(FUZZ_RUNS) runs)"; \
	  mkdir -p target/fuzz-corpus/$$target; \
	  $(FUZZ) run $(FUZZ_FLAGS) $$target target/fuzz-corpus/$$target fuzz/corpus/$$target -- \
	    -runs=$(FUZZ_RUNS) -max_len=8192 -timeout=10 -print_final_stats=1 $(FUZZ_ARGS) || exit 1; \
	done

fuzz-smoke: ## A short, reproducible coverage-guided run of each fuzz target, built in dev mode with overflow checks (as CI runs it)
	$(MAKE) fuzz FUZZ_RUNS=20000 FUZZ_ARGS=-seed=1 FUZZ_BUILD=--dev

# The demo's target database: sqlite, postgres, mariadb (the local servers), odbc-postgres or
# odbc-mariadb (the same servers through their ODBC drivers); DEMO_DATABASE_URL names another.
DB ?= sqlite
DEMO_DATABASES := sqlite postgres mariadb odbc-postgres odbc-mariadb
DEMO := DEMO_DATABASE=$(DB) cargo run --locked -q -p e2e $(if $(filter odbc-%,$(DB)),--features odbc) --example demo
# Refuses an unknown DB before anything starts.
DEMO_CHECK := @$(if $(filter-out $(DEMO_DATABASES),$(DB)),echo "DB=$(DB): use one of $(DEMO_DATABASES)" >&2; exit 2,true)

demo: venv ## The whole pipeline on loopback under cargo lambda watch: simulator → receiver → SQS (moto) → processor → SQLite (DB=postgres, mariadb, odbc-postgres, odbc-mariadb for another)
	$(DEMO_CHECK)
	$(if $(filter odbc-%,$(DB)),scripts/install-odbc.sh)
	$(if $(filter-out sqlite,$(DB)),scripts/start-databases.sh)
	$(DEMO)

run: venv ## The same stack, left running until Ctrl-C (receiver URL and curl examples are printed; DB as for demo)
	$(DEMO_CHECK)
	$(if $(filter odbc-%,$(DB)),scripts/install-odbc.sh)
	$(if $(filter-out sqlite,$(DB)),scripts/start-databases.sh)
	$(DEMO) -- --serve

package: venv ## Both functions as arm64 Lambda zips (target/lambda/*/bootstrap.zip), held to their size budgets
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --output-format zip --locked -p receiver -p processor \
	  --no-default-features --features "$(addprefix processor/,$(PROCESSOR_DATABASES))"
	@over=0; for budget in $(ZIP_BUDGETS); do \
	  zip=target/lambda/$${budget%%=*}/bootstrap.zip; limit=$${budget##*=}; size=$$(stat -c %s $$zip); \
	  printf '%-40s %9d bytes (%s KiB), budget %d\n' $$zip $$size $$(( size / 1024 )) $$limit; \
	  if [ $$size -gt $$limit ]; then echo "$$zip is over its budget: see BENCHMARKS.md, Package size levers"; over=1; fi; \
	done; exit $$over

# The ODBC layer: the user's extracted packages (unixODBC, the vendor's driver, their libraries)
# and the driver's name and shared object among them (README, Deploying through ODBC).
ODBC_LAYER_FROM ?=
ODBC_DRIVER ?=
# Libraries a driver loads itself, which no ELF header names (SQL Server's: libssl.so.3 libcrypto.so.3).
ODBC_LIBRARIES ?=
ODBC_LAYER := target/lambda/odbc-layer.zip

odbc-layer: venv ## A Lambda layer (unixODBC and a vendor's driver) from extracted packages: ODBC_LAYER_FROM=DIR ODBC_DRIVER='NAME=PATH'
	@test -n '$(ODBC_LAYER_FROM)' -a -n '$(ODBC_DRIVER)' || \
	  { echo "set ODBC_LAYER_FROM and ODBC_DRIVER (README, Deploying through ODBC)" >&2; exit 2; }
	$(PYTHON) scripts/odbc_layer.py --from '$(ODBC_LAYER_FROM)' --driver '$(ODBC_DRIVER)' \
	  $(addprefix --library ,$(ODBC_LIBRARIES)) --out $(ODBC_LAYER)

package-odbc: venv ## The processor's arm64 zip with `odbc` (target/lambda-odbc/), linked against the layer's libodbc (after make odbc-layer)
	@test -f $(ODBC_LAYER) || { echo "no $(ODBC_LAYER): run make odbc-layer first" >&2; exit 2; }
	rustup target add aarch64-unknown-linux-gnu
	rm -rf target/odbc-link && mkdir -p target/odbc-link
	$(PYTHON) -m zipfile -e $(ODBC_LAYER) target/odbc-link/layer
	ln -s layer/lib/libodbc.so.2 target/odbc-link/libodbc.so
	ODBC_LIB_DIR=$(abspath target/odbc-link) cargo lambda build --release --arm64 --output-format zip \
	  --locked --lambda-dir target/lambda-odbc -p processor --features processor/odbc
	@zip=target/lambda-odbc/processor/bootstrap.zip; size=$$(stat -c %s $$zip); \
	limit=$(patsubst processor=%,%,$(filter processor=%,$(ZIP_BUDGETS))); \
	printf '%-40s %9d bytes (%s KiB), budget %d\n' $$zip $$size $$(( size / 1024 )) $$limit; \
	if [ $$size -gt $$limit ]; then echo "$$zip is over its budget: see BENCHMARKS.md, Package size levers"; exit 1; fi

fixtures: ## Regenerate the signed fixtures and signature vectors
	python3 scripts/make_fixtures.py

clean: ## Remove build outputs and the venv
	cargo clean
	rm -rf $(VENV)
