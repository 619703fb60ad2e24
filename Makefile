# Developer commands. `make run` and `make test` do all set-up on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_SIZE ?= 10000
BENCH_DB_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/crm_bench_$(BENCH_SIZE)

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_PASSWORD := demo-pass-2026

.PHONY: help install run test test-pg lint openapi client check bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-9s %s\n", $$1, $$2}'

install: $(STAMP) ## create .venv and install the project with its dev tools

# Re-installs only when pyproject.toml changes (the project itself is installed editable).
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python >= 3.11 is required; run e.g. 'make PYTHON=python3.12 $(MAKECMDGOALS)'" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet -e ".[dev]"
	@touch $@

run: install ## migrate, seed demo data if the database is empty, serve on HOST:PORT
	$(BIN)/crm migrate
	@out="$$($(BIN)/crm seed-demo --if-empty)"; echo "$$out"; \
	if grep -q "not seeded" <<<"$$out"; then \
		echo "demo users already exist: admin/director/manager1/rep1/... password $(DEMO_PASSWORD)"; \
	fi
	@echo
	@echo "  API docs: http://$(HOST):$(PORT)/docs"
	@echo "  Click 'Authorize', log in with a demo user above (e.g. admin / $(DEMO_PASSWORD)),"
	@echo "  then try GET /api/v1/me. Stop the server with Ctrl-C."
	@echo
	$(BIN)/crm serve --host $(HOST) --port $(PORT)

test: install ## run the tests (SQLite; PostgreSQL when CRM_TEST_DATABASE_URL is set)
	$(BIN)/pytest $(PYTEST_ARGS)

test-pg: install ## run the tests on a fresh PostgreSQL database (CRM_PG_ADMIN_URL)
	@db=crm_test_$$$$; \
	$(BIN)/python scripts/pg_db.py create $$db || exit 1; \
	trap '$(BIN)/python scripts/pg_db.py drop '"$$db" EXIT; \
	CRM_TEST_DATABASE_URL="$$($(BIN)/python scripts/pg_db.py url $$db)" $(BIN)/pytest $(PYTEST_ARGS)

lint: install ## ruff (lint and format check) and the import-layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install ## format the code (ruff format), as CI checks it
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

openapi: install ## regenerate openapi/openapi.json
	$(BIN)/crm openapi

client: install ## generate the Python client into build/client/crm_client (fails on any warning)
	$(BIN)/python scripts/generate_client.py build/client/crm_client

check: install ## fail if openapi/openapi.json or the migrations are behind the code
	$(BIN)/crm openapi --check
	@tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	export CRM_DATABASE_URL="sqlite+aiosqlite:///$$tmp/check.db"; \
	$(BIN)/crm migrate && $(BIN)/alembic -c alembic.ini check

bench: install ## customer benchmark on PostgreSQL (BENCH_SIZE, BENCH_DB_URL; see bench/README.md)
	$(BIN)/python bench/customers.py --size $(BENCH_SIZE) --db-url $(BENCH_DB_URL)

clean: ## remove caches and build output (keeps .venv and the var/ database)
	rm -rf .pytest_cache .ruff_cache .hypothesis .import_linter_cache build dist \
		*.egg-info schemathesis-report .ci/.venv
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
