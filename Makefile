# Analytics Engine: `make run` serves the platform with demo data, `make test`
# runs the suite. Both set up everything they need first (apt packages, a
# virtualenv, PostgreSQL + TimescaleDB and Redis) and are fast the second time.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export PORT
# HTTPS when given a certificate and key (docs/security.md, "Serving HTTPS"):
# `make run AE_TLS_CERT_FILE=cert.pem AE_TLS_KEY_FILE=key.pem`, or both in .env.
SCHEME := $(if $(or $(AE_TLS_CERT_FILE),$(shell grep -s '^AE_TLS_CERT_FILE=.' .env)),https,http)

# The development sign-in provider (docs/identity.md): on for `make run`/`make demo`, served
# by its own daphne on IDP_PORT so the platform's sign-in callback can call its token endpoint.
IDP_PORT ?= 8001
export IDP_PORT
run demo: export AE_DEV_IDP_ENABLED ?= true
run demo: export AE_DEV_IDP_BASE_URL ?= http://127.0.0.1:$(IDP_PORT)
# The demo's data source lives on this machine's MariaDB (a loopback address), which the
# platform refuses by default (docs/sources.md, "Network"): allowed for `make run`/`make demo` only.
run demo: export SOURCES_ALLOW_PRIVATE_NETWORKS ?= true

.PHONY: run run-dev test setup setup-dev services-up services-down services-status migrate demo lint format bench

setup:
	@scripts/bootstrap.sh

setup-dev:
	@scripts/bootstrap.sh --dev

services-up:
	@scripts/services.sh up

services-down:
	@scripts/services.sh down

services-status:
	@scripts/services.sh status

migrate: setup services-up
	@$(PY) manage.py migrate --noinput -v 0

demo: migrate
	@$(PY) manage.py demo_bootstrap

# `make run` serves as a deployment would: DEBUG off. `make run-dev` is the same
# with DEBUG on (technical error pages, static files straight from static/).
run-dev: RUN_DEBUG = true
run-dev: run

run: export DEBUG = $(if $(RUN_DEBUG),true,false)
run: demo
	@$(PY) manage.py collectstatic --noinput -v 0
	@# Metrics of processes from an earlier run would linger in /metrics.
	@rm -rf "$${PROMETHEUS_MULTIPROC_DIR:-var/prometheus}" && mkdir -p "$${PROMETHEUS_MULTIPROC_DIR:-var/prometheus}"
	@echo
	@echo "  Analytics Engine: $(SCHEME)://127.0.0.1:$(PORT)/   (login: admin / $${AE_ADMIN_PASSWORD:-admin})"
	@echo "  Health:           $(SCHEME)://127.0.0.1:$(PORT)/health"
	@echo "  API docs:         $(SCHEME)://127.0.0.1:$(PORT)/api/v1/docs/"
	@echo "  Dev sign-in:      $(AE_DEV_IDP_BASE_URL)/idp/   (development provider; users in docs/identity.md)"
	@echo "  Stop with Ctrl-C; 'make services-down' stops PostgreSQL, Redis and MariaDB."
	@echo
	@# supervisord restarts a process that exits (scripts/supervisord.conf; docs/operations.md).
	@mkdir -p var && AE_VENV="$(abspath $(VENV))" exec $(VENV)/bin/supervisord -n -c scripts/supervisord.conf -j "$(CURDIR)/var/supervisord.pid"

lint: setup-dev
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/lint-imports --no-cache

format: setup-dev
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

test: setup-dev services-up lint
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

# Benchmarks print ratios against a baseline measured in the same run; they
# are not tests. ROWS=... sets the ingest size (default 1,000,000).
bench: migrate
	@$(PY) bench/ingest.py --rows $${ROWS:-1000000}
	@$(PY) bench/events.py
	@$(PY) bench/archival.py --rows $${ARCHIVE_ROWS:-1000000}
	@$(PY) bench/rollups.py
	@$(PY) bench/approx.py
	@$(PY) bench/concurrency.py
	@$(PY) bench/live.py
	@$(PY) bench/sources.py --rows $${SOURCES_ROWS:-1000000}
