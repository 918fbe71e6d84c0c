# immuta-view-sync: every task a developer or CI runs. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
export SAM_CLI_TELEMETRY := 0
# Tests find moto's server through this interpreter.
export MOTO_PYTHON := $(abspath $(PYTHON))

.PHONY: help venv test test-all lint fmt bench demo fixtures clean

help: ## List the tasks
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 12

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed ## Create .venv with the pinned Python tools (moto)

test: venv ## Run every test (unit, handler, moto SQS end-to-end)
	$(PYTHON) scripts/make_fixtures.py --check
	cargo test --workspace --locked

test-all: ## `make test` on SQLite, PostgreSQL and MariaDB (starts the local servers if down), as CI does
	scripts/start-databases.sh
	TEST_POSTGRES_URL=$${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test} \
	TEST_MYSQL_URL=$${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test} \
	$(MAKE) test

lint: ## rustfmt and clippy, warnings are errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	cargo fmt --all

bench: venv ## Receiver hot path (criterion) and the processor storm (figures in BENCHMARKS.md)
	cargo bench --locked -p receiver --bench hot_path
	cargo build --locked --release -p immuta-simulator
	SIMULATOR_BIN=$(abspath target/release/immuta-simulator) cargo bench --locked -p e2e --bench storm

demo: venv ## The whole pipeline on loopback: simulator → receiver → SQS (moto) → processor → SQLite
	cargo run --locked -q -p e2e --example demo

fixtures: ## Regenerate the signed fixtures and signature vectors
	python3 scripts/make_fixtures.py

clean: ## Remove build outputs and the venv
	cargo clean
	rm -rf $(VENV)
