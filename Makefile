# haochaping — `make help` lists what each target does.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
SIM_PORT ?= 8010

.DEFAULT_GOAL := help
.PHONY: help install run migrate demo test test-postgres lint bench-intake bench-forwarding bench-report bench-sweep clean

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

# `make run` points the connector at the bundled simulator with its public demo key (never the
# real province's): the same settings an operator sets for production (docs/operations.md).
SIM_URL := http://$(HOST):$(SIM_PORT)
DEMO_KEY = $$($(BIN)/python -c "import json; print(json.load(open('connectors/province_sim/demo_keys.json'))['public_key'])")
DEMO_PROVINCE = PROVINCE_RECORDS_URL=$(SIM_URL)/hcp/addEvaluateService \
  PROVINCE_RATINGS_URL=$(SIM_URL)/hcp/addEvaluate PROVINCE_NORM_URL=$(SIM_URL)/hcp/norm \
  PROVINCE_TICKET_RESULTS_URL=$(SIM_URL)/hcp/rectifyFeedback \
  PROVINCE_HOLDINGS_URL=$(SIM_URL)/hcp/dailyHoldings PROVINCE_PUBLIC_KEY=$(DEMO_KEY) \
  PROVINCE_APP_MARK=haochaping-pingyin PROVINCE_APP_WORD=dev-app-word PROVINCE_DATA_SOURCE=999

run: demo ## Install, migrate, load demo data; serve on http://127.0.0.1:8000 with the province simulator
	@echo "Province simulator on $(SIM_URL) (what it received: $(SIM_URL)/sim/)"
	@echo "Serving on http://$(HOST):$(PORT)  (API schema: http://$(HOST):$(PORT)/schema)"
	@$(BIN)/python -m evaluation_service simulator --host $(HOST) --port $(SIM_PORT) & SIM=$$!; \
	  trap 'kill $$SIM 2>/dev/null' EXIT INT TERM; \
	  $(DEMO_PROVINCE) $(BIN)/python -m evaluation_service serve --host $(HOST) --port $(PORT)

test: install browser-deps ## Run the whole test suite (SQLite always; PostgreSQL and brokers when answering)
	$(BIN)/python -m pytest

test-unit: install ## The unit tier alone: pure rules, wire format, simulator checks (seconds, no servers)
	$(BIN)/python -m pytest tests/unit

test-integration: install ## The integration tier: real SQLite and PostgreSQL, brokers and HTTP on loopback
	$(BIN)/python -m pytest tests/integration

CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
.PHONY: browser-deps test-browser test-unit test-integration

browser-deps: ## Install Debian's chromium and a CJK font for the browser tests, only when missing
	@if [ -x /usr/bin/chromium ] && [ -f $(CJK_FONT) ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "browser-deps: chromium or the CJK font is missing and apt-get is not usable: browser tests will skip"; \
	  exit 0; fi; \
	echo "browser-deps: apt-get install chromium fonts-wqy-microhei"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null \
	  || echo "browser-deps: apt-get failed: browser tests will skip (and fail under CI)"

test-browser: install browser-deps ## Run the browser tests alone (Playwright driving Debian's chromium)
	$(BIN)/python -m pytest tests/browser

lint: install ## ruff lint and format check, mypy, and the import contracts (arrows point one way)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy evaluation_service rectification reports connectors
	$(BIN)/lint-imports

bench-intake: install ## Rating intake throughput on PostgreSQL (prints ratings_per_s, p50, p99)
	$(BIN)/python bench/intake.py

bench-report: install ## Monthly report of 1,000,000 ratings on PostgreSQL (prints report_s, peak_mb)
	$(BIN)/python bench/report.py

bench-forwarding: install ## Forwarding drain rate and delivery lag into the simulator (drain_per_s, lag p50/p95)
	$(BIN)/python bench/forwarding.py

bench-sweep: install ## One deadline sweep over 100,000 open tickets on PostgreSQL (prints sweep_s)
	$(BIN)/python bench/sweep.py

PROD_ENV ?= deploy/production.env
.PHONY: prod-up prod-down

prod-up: install ## Production shape here: N web processes, M workers, scheduler(s) on PostgreSQL+RabbitMQ (PROD_ENV)
	PROD_ENV=$(PROD_ENV) PYTHON=$(BIN)/python sh deploy/prod.sh up

prod-down: ## Stop what prod-up started (pid files under var/prod/)
	PYTHON=$(BIN)/python sh deploy/prod.sh down

clean: ## Remove the virtual environment and local data under var/
	rm -rf $(VENV) var
