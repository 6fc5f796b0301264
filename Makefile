# haochaping — `make help` lists what each target does.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.DEFAULT_GOAL := help
.PHONY: help install run migrate demo test test-postgres lint bench-intake clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned dependencies

migrate: install ## Apply database migrations (DATABASE_URL, default SQLite under var/)
	$(BIN)/python -m evaluation_service migrate

demo: migrate ## Load the demo catalog of Pingyin County (idempotent)
	$(BIN)/python -m evaluation_service demo

run: demo ## Install, migrate, load demo data and serve on http://127.0.0.1:8000 (embedded SQLite)
	@echo "Serving on http://$(HOST):$(PORT)  (API schema: http://$(HOST):$(PORT)/schema)"
	$(BIN)/python -m evaluation_service serve --host $(HOST) --port $(PORT)

test: install ## Run the whole test suite (SQLite always; PostgreSQL and brokers when answering)
	$(BIN)/python -m pytest

lint: install ## ruff lint and format check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy evaluation_service rectification reports connectors

bench-intake: install ## Rating intake throughput on PostgreSQL (prints ratings_per_s, p50, p99)
	$(BIN)/python bench/intake.py

clean: ## Remove the virtual environment and local data under var/
	rm -rf $(VENV) var
