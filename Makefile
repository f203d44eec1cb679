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

.PHONY: help install run test lint format bench backfill backtest setup agent decode-grib dashboard

help:
	@echo "make run        run the daily pipeline (ARGS='--as-of YYYY-MM-DD --steps odre,load,...')"
	@echo "make dashboard  serve the dashboard over the warehouse on http://127.0.0.1:AGGREGAT_DASHBOARD_PORT"
	@echo "make test       lint and run the whole test suite"
	@echo "make bench      run every benchmark in bench/"
	@echo "make backfill   START=YYYY-MM-DD END=YYYY-MM-DD rebuild missed days from the lake"
	@echo "make backtest   START=YYYY-MM-DD END=YYYY-MM-DD forecast skill report in reports/"
	@echo "make setup      ENV=dev|prod register Prefect blocks, work pool and deployments"
	@echo "make agent      ENV=dev|prod start the Prefect worker (Prefect 3's agent)"

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

lint: install .venv-hadolint/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
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
	$(BIN)/python -m flows decode-grib $(FILE)
