# Jobportal: `make run` starts the portal, `make test` runs the whole suite. Both set up .venv.
HOST ?= 127.0.0.1
PORT ?= 8000
VENV ?= .venv
PYTEST_ARGS ?=
# The first interpreter that really is Python >= 3.12 (pyenv shims of absent versions fail).
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3 python; do \
	if $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
	echo $$p; break; fi; done)
PY := $(VENV)/bin/python
export HOST PORT

.PHONY: run test test-fast install lint migrate worker bench bench-quick screenshots clean

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "Jobportal needs Python 3.12 or newer on PATH." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(VENV)/.installed

migrate: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py createcachetable

run: migrate
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py demo --url http://$(HOST):$(PORT)
	exec $(PY) manage.py serve --host $(HOST) --port $(PORT)

# In parallel, one process per core (pytest-xdist); each has its own test database. Tests
# marked xdist_group(name) stay on one process (the browser tests share one live portal).
test: install
	$(PY) -m pytest -n auto --dist loadgroup $(PYTEST_ARGS)

# The same without the tests that start worker processes or servers (marked slow).
test-fast: install
	$(PY) -m pytest -n auto --dist loadgroup -m "not slow" $(PYTEST_ARGS)

# Retake the pages' screenshots in docs/img (the browser tests; test runs write elsewhere).
screenshots: install
	JOBPORTAL_SCREENSHOTS_DIR=$(CURDIR)/docs/img $(PY) -m pytest -p no:xdist tests/pages/test_browser.py

lint: install
	$(VENV)/bin/ruff check .
	$(PY) manage.py makemigrations --check --dry-run

worker: migrate
	exec $(PY) manage.py worker

# BENCH_ARGS=--database-url=postgresql://... to measure on PostgreSQL (needs wrk on PATH).
BENCH_ARGS ?=
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

bench-quick: install
	$(PY) bench/run.py --quick $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
