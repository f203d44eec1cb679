# Each target installs what it needs on first use; `make help` lists them.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
ENV ?= dev
ARGS ?=

export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_HOME ?= $(CURDIR)/.prefect

.PHONY: help install run demo test lint format bench backfill backtest setup agent decode-grib dashboard ui docs

help:
	@echo "make run          run the daily pipeline (ARGS='--as-of YYYY-MM-DD --steps odre,load,... --force --full-refresh')"
	@echo "make demo         the same, offline, against the fake ODRÉ and Météo-France servers the tests use"
	@echo "make dashboard    serve the dashboard over the warehouse on http://127.0.0.1:AGGREGAT_DASHBOARD_PORT"
	@echo "make ui           start the Prefect UI on this project's runs (PREFECT_HOME=$(PREFECT_HOME))"
	@echo "make docs         generate and serve dbt's documentation on http://127.0.0.1:AGGREGAT_DBT_DOCS_PORT"
	@echo "make backfill     START=YYYY-MM-DD END=YYYY-MM-DD rebuild missed days from the lake"
	@echo "make backtest     START=YYYY-MM-DD END=YYYY-MM-DD forecast skill report in reports/"
	@echo "make decode-grib  FILE=path.grib2 decode one GRIB2 file and print what it holds"
	@echo "make test         lint and run the whole test suite (ARGS='-m \"not slow\"' for a quick loop)"
	@echo "make lint         ruff, sqlfluff over the dbt models, hadolint"
	@echo "make format       ruff fix and format"
	@echo "make bench        run every benchmark in bench/"
	@echo "make setup        ENV=dev|prod register Prefect blocks, work pool and deployments"
	@echo "make agent        ENV=dev|prod start the Prefect worker (Prefect 3's agent)"
	@echo "make install      build .venv from the locks (every target does it on first use)"

# The project environment, synced from the compiled locks (runtime, then what tests, lint and
# benchmarks add); rebuilt when a lock changes. The image installs requirements.txt alone.
$(VENV)/.installed: requirements.txt requirements/dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip sync -q --python $(BIN)/python requirements.txt requirements/dev.txt
	touch $@

# Test-only stand-ins kept in their own environments (see requirements/*.in for why).
.venv-%/.installed: requirements/%.txt $(VENV)/.installed
	test -x .venv-$*/bin/python || $(PYTHON) -m venv .venv-$*
	$(BIN)/uv pip sync -q --python .venv-$*/bin/python requirements/$*.txt
	touch $@

install: $(VENV)/.installed

TEST_ENVS := .venv-bqemulator/.installed .venv-checkov/.installed .venv-hadolint/.installed

# The dashboard's browser test drives Debian's chromium (browser downloads fail here); CI runs
# as root, so `make test` installs it when missing.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	apt-get update -qq && apt-get install -y -qq chromium

run: install
	$(BIN)/python -m flows run $(ARGS)

# The README's demo in one command: the fake sources on 127.0.0.1 (stopped on exit), the
# pipeline as of the last day they serve.
DEMO_ODRE_PORT ?= 8765
DEMO_METEOFRANCE_PORT ?= 8766
demo: install
	@$(BIN)/python -m tests.fakes.odre_server --port $(DEMO_ODRE_PORT) --start 2025-01-01 --end 2025-03-31 >/dev/null & odre=$$!; \
	$(BIN)/python -m tests.fakes.meteofrance_store --port $(DEMO_METEOFRANCE_PORT) --run 2025-03-31T00Z >/dev/null & store=$$!; \
	trap 'kill $$odre $$store 2>/dev/null' EXIT; \
	$(BIN)/python -m tests.fakes.http --wait 127.0.0.1:$(DEMO_ODRE_PORT) 127.0.0.1:$(DEMO_METEOFRANCE_PORT) && \
	AGGREGAT_ODRE_BASE_URL=http://127.0.0.1:$(DEMO_ODRE_PORT)/api/explore/v2.1 \
	AGGREGAT_METEOFRANCE_BASE_URL=http://127.0.0.1:$(DEMO_METEOFRANCE_PORT)/pnt \
	AGGREGAT_METEOFRANCE_GRID_SHAPES='{"arpege/01":"75x53","arome/0025":"57x180"}' \
	AGGREGAT_HISTORY_START=2025-01-01 \
	$(BIN)/python -m flows run --as-of 2025-03-31 $(ARGS)

lint: install .venv-hadolint/.installed .venv-sqlfluff/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@# The dbt models, rendered by dbt on an in-memory DuckDB (.sqlfluff says why and how).
	AGGREGAT_DUCKDB_PATH=:memory: .venv-sqlfluff/bin/sqlfluff lint dbt/models
	.venv-hadolint/bin/hadolint Dockerfile

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: install $(TEST_ENVS) $(CHROMIUM) lint
	$(BIN)/python -m pytest $(ARGS)

bench: install
	@set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

backfill: install
	@test -n "$(START)" -a -n "$(END)" || (echo "usage: make backfill START=YYYY-MM-DD END=YYYY-MM-DD" && exit 2)
	$(BIN)/python -m flows backfill --start $(START) --end $(END) $(ARGS)

backtest: install
	@test -n "$(START)" -a -n "$(END)" || (echo "usage: make backtest START=YYYY-MM-DD END=YYYY-MM-DD" && exit 2)
	$(BIN)/python -m flows backtest --start $(START) --end $(END) $(ARGS)

setup: install
	$(BIN)/python setup_prefect.py $(ENV) $(ARGS)

# Prefect 3 has no agent: a worker polling the environment's work pool does that job.
agent: install
	$(BIN)/prefect worker start --pool aggregat-$(ENV) $(ARGS)

# Prints http://127.0.0.1:PORT on its own line once the app answers; Ctrl-C stops it.
dashboard: install
	$(BIN)/python -m dashboard $(ARGS)

decode-grib: install
	@test -n "$(FILE)" || (echo "usage: make decode-grib FILE=path.grib2" && exit 2)
	$(BIN)/python -m flows decode-grib $(FILE)

# The runs `make run` made are in PREFECT_HOME's database: this server shows them.
ui: install
	$(BIN)/prefect server start --host 127.0.0.1 $(ARGS)

docs: install
	$(BIN)/python -m flows docs
