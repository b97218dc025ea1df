# CRISP developer entry points (SPEC §3). Needs Python 3.11+ (and Node 20 once frontend/ exists).
#   make run     venv + requirements + dashboard, then migrate, bootstrap, web/worker/beat/demo TAXII
#   make test    venv + dev requirements + dashboard + Debian's chromium for the browser tests
#                (scripts/ensure-chromium.sh), then pytest (PYTEST_ARGS="..." passes options) + Vitest
#   make lint    ruff check + ruff format --check
#   make bench   benchmarks (python -m bench; BENCH_ARGS="..." passes options)
# DATABASE_URL / REDIS_URL are used when set; otherwise SQLite and an embedded Redis under var/.

PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV ?= .venv
PY := $(VENV)/bin/python
REQ_STAMP := $(VENV)/.crisp-requirements
DEV_STAMP := $(VENV)/.crisp-requirements-dev
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: run test lint bench frontend browser venv clean-venv

run: $(REQ_STAMP) frontend
	$(PY) -m crisp.stack run

test: $(DEV_STAMP) frontend browser
	$(PY) -m crisp.stack test $(PYTEST_ARGS)
	@if [ -f frontend/package.json ]; then cd frontend && PYTHON=$(abspath $(PY)) npm run lint && npm test; fi

# ruff; then ESLint (React hooks rules) and the API types check: frontend/src/api/schema.d.ts must
# be what openapi-typescript makes of `manage.py spectacular` now (`npm run api:types` regenerates).
lint: $(DEV_STAMP) frontend
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	@if [ -f frontend/package.json ]; then cd frontend && PYTHON=$(abspath $(PY)) npm run lint; fi

bench: $(DEV_STAMP) frontend
	$(PY) -m crisp.stack bench $(BENCH_ARGS)

# The browser tests drive Debian's /usr/bin/chromium: installed with apt-get when missing (as root
# or with passwordless sudo); otherwise one sentence says which command to run.
browser:
	@sh scripts/ensure-chromium.sh

venv: $(PY)

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "CRISP needs Python 3.11+; '$(PYTHON)' is older (set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamps: reinstall only when a requirements file is newer than the last install.
$(REQ_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@ $(REQ_STAMP)

clean-venv:
	rm -rf $(VENV)

# Dashboard: built into frontend/dist (served by Django) only when frontend/ exists and a source
# file is newer than the last build. node_modules is reinstalled only when the manifests change.
ifneq ($(wildcard frontend/package.json),)
FRONTEND_SRC := $(shell find frontend \( -name node_modules -o -name dist \) -prune -o -type f -print)
FRONTEND_MANIFESTS := $(wildcard frontend/package.json frontend/package-lock.json)

frontend: frontend/dist/.crisp-build

frontend/node_modules/.crisp-install: $(FRONTEND_MANIFESTS)
	cd frontend && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; \
		else npm install --no-audit --no-fund; fi
	@mkdir -p $(@D) && touch $@

frontend/dist/.crisp-build: frontend/node_modules/.crisp-install $(FRONTEND_SRC)
	cd frontend && npm run build
	@touch $@
else
frontend:
	@echo "make: no frontend/package.json yet; no dashboard to build"
endif
