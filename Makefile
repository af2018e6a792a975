# hippo-pcn: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
ASSETS := static/vendor/nhsuk/nhsuk-frontend.min.css
PYTEST_WORKERS ?= 2

.PHONY: demo test install assets lint typecheck check clean bench

$(INSTALLED): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(INSTALLED)

$(ASSETS): package.json package-lock.json scripts/vendor_assets.py
	npm ci --no-audit --no-fund --loglevel=error
	$(PYTHON) scripts/vendor_assets.py

assets: $(ASSETS)

## Run the app: web + Celery worker + Celery beat, demo data, on http://127.0.0.1:$(PORT)
## (PORT=8123 make demo for another port; 8000 by default)
demo: export PORT ?= 8000
demo: export DEMO_PORT = $(PORT)
demo: export TRACING_POLL_INTERVAL_SECONDS ?= 60
demo: install assets
	@$(PY) scripts/check_port.py $(PORT)
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	@echo ""
	@echo "hippo-pcn is starting on http://127.0.0.1:$(PORT)  (sign in with a demo login above; Ctrl-C stops it)"
	@echo "The tracing poller runs every $$TRACING_POLL_INTERVAL_SECONDS s in the demo: try"
	@echo "  .venv/bin/python manage.py simulate_emis_bookings --pcn U00002 --count 5 --cancel 1 --move 1"
	@echo "then watch the tracing worklist of u00002.tracer (new, cancelled and re-dated tasks)."
	@echo ""
	$(VENV)/bin/honcho start -f Procfile

## Run the whole test suite against PostgreSQL and Redis on 127.0.0.1
test: install assets
	$(PY) scripts/check_services.py
	bash scripts/ensure_chromium.sh
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

check: lint typecheck

clean:
	rm -rf $(VENV) node_modules static/vendor var

## Benchmarks against the local PostgreSQL and Redis; writes bench/report.md and bench/results.json
bench: install assets
	$(PY) scripts/check_services.py
	$(PY) bench/run.py
