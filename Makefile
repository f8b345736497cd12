# Watchpost: `make help` lists the targets.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
DEMO_PORT ?= 8080
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## this list
	@grep -E '^[a-z][a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

.PHONY: venv
venv: ## create .venv and install the project with its dev extras
	@scripts/bootstrap.sh

.PHONY: demo
demo: ## run collector + local agent on 127.0.0.1:8080 with a SQLite database under var/
	@scripts/bootstrap.sh --extras agent,collector
	@$(PY) scripts/demo.py --port $(DEMO_PORT)

.PHONY: test
test: ## the whole suite: ruff, mypy, pytest on SQLite and PostgreSQL, browser tests
	@scripts/bootstrap.sh --system
	@$(MAKE) --no-print-directory lint typecheck
	@$(PY) -m pytest $(PYTEST_ARGS)

.PHONY: lint
lint: ## ruff and the import contract (agent and collector never import each other)
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/lint-imports --no-cache

.PHONY: typecheck
typecheck: ## mypy (strict on wire/, agent/, collector/)
	@$(VENV)/bin/mypy

.PHONY: unit
unit: ## pytest only, without the browser, PostgreSQL and end-to-end tests
	@$(PY) -m pytest -m "not browser and not postgres and not e2e" $(PYTEST_ARGS)

.PHONY: bench
bench: ## benchmarks (JSON on stdout)
	@$(PY) bench/scan.py
	@$(PY) bench/ingest.py --hosts 1000
	@$(PY) bench/agent_run.py --minutes 10

.PHONY: format
format: ## ruff format + autofix
	@$(VENV)/bin/ruff format .
	@$(VENV)/bin/ruff check --fix .

.PHONY: clean
clean: ## remove caches (keeps .venv and var/)
	rm -rf .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist *.egg-info

.PHONY: distclean
distclean: clean ## also remove .venv and var/ (the demo database and credentials)
	rm -rf $(VENV) var
