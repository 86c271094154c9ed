# The two commands a newcomer needs: `make dev` and `make test`. Both set themselves up.
# The Python probe hides stderr: pyenv's shims answer for versions not installed with a page of advice.
SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: dev test lint types pytest chromium screenshots bench chaos migrate migration wheel clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: Python 3.11 or newer is required (none found on PATH)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

## Run web + worker + scheduler in one process on SQLite, in-memory broker and sandbox providers.
dev: $(STAMP)
	$(BIN)/cheers dev --host $(HOST) --port $(PORT)

## Lint, type-check and run the suite (PostgreSQL and Redis when reachable, SQLite always).
test: $(STAMP) lint types pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: $(STAMP)
	$(BIN)/mypy .

## The suite runs in parallel (pytest-xdist): one worker per CPU, each test module kept on one worker.
## Serially: make test PYTEST_XDIST=-n0 (or PYTEST_ARGS=-n0; the last -n wins). See docs/ci.md.
PYTEST_XDIST ?= -n auto --dist loadfile
pytest: $(STAMP) chromium
	$(BIN)/pytest $(PYTEST_XDIST) $(PYTEST_ARGS)

## The browser tests (tests/browser) drive Debian's chromium through Playwright: installed here when missing and
## apt-get can run (as root, or through passwordless sudo); otherwise they are skipped, and this says why.
SKIPPING := the browser tests will be skipped
APT_CHROMIUM := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
chromium:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then echo "make: no chromium and no apt-get: $(SKIPPING)"; \
	elif [ "$$(id -u)" = 0 ]; then $(APT_CHROMIUM) || echo "make: installing chromium failed: $(SKIPPING)"; \
	elif sudo -n true 2>/dev/null; then sudo -n sh -c '$(APT_CHROMIUM)' || echo "make: installing chromium failed: $(SKIPPING)"; \
	else echo "make: chromium is missing and apt-get needs root (sudo asks for a password): $(SKIPPING)"; fi

## Screenshots of every planner page at desktop and phone size, made by the browser tests, into docs/screenshots.
screenshots: $(STAMP) chromium
	CHEERS_SCREENSHOTS_DIR=docs/screenshots $(BIN)/pytest -p no:cacheprovider -m browser tests/browser $(PYTEST_ARGS)

## Fault-injection scenarios: real workers, private PostgreSQL + Redis, the Meta twin (docs/chaos.md; ~15 min).
chaos: $(STAMP)
	$(BIN)/pytest tests/chaos -m chaos -p no:cacheprovider $(PYTEST_ARGS)

## Benchmarks: each script prints a table.
bench: $(STAMP)
	@for b in bench/*.py; do case "$$(basename $$b)" in __init__.py|_*) continue;; esac; echo "== $$b"; $(BIN)/python $$b || exit 1; done

migrate: $(STAMP)
	$(BIN)/cheers migrate

## Autogenerate a migration from the models: make migration MSG="add posts"
migration: $(STAMP)
	$(BIN)/python -c "import sys; from storage import migrate; from core.settings import Settings; migrate.revision(Settings().database, sys.argv[1])" "$(MSG)"

wheel: $(STAMP)
	$(BIN)/python -m build --wheel --outdir dist .

clean:
	rm -rf $(VENV) dist build *.egg-info .mypy_cache .ruff_cache .pytest_cache
