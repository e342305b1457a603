# Two commands for a fresh machine: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

.PHONY: run test test-fast lint bench bench-smoke soak soak-smoke check-config migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## run: migrate, create config from the examples if none exists, serve web + worker + beat (Ctrl-C stops all)
run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py init
	$(PY) manage.py serve

## test: the whole test suite
test: $(STAMP)
	$(PY) -m pytest

## test-fast: the suite without the slow tests (those that start servers, workers, WordPress or a browser)
test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow"

## bench: wpublisher against the bare MCP SDK and direct WordPress calls; writes bench/results.json
bench: $(STAMP)
	$(PY) bench/run.py

bench-smoke: $(STAMP)
	$(PY) bench/run.py --smoke

## soak: 30 min of mixed work on `manage.py serve`, then WordPress faults, worker kills and web restarts, against
##       real local WordPress sites; writes bench/results-soak-<set-up>.json, fails when a check does
soak: $(STAMP)
	$(PY) bench/soak.py

soak-smoke: $(STAMP)
	$(PY) bench/soak.py --smoke

## lint: ruff, the import layers (lint-imports: [tool.importlinter] in pyproject.toml), mypy with django-stubs
##       over the apps ([tool.mypy]), migrations up to date
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache
	$(VENV)/bin/mypy
	$(PY) manage.py makemigrations --check --dry-run

check-config: $(STAMP)
	$(PY) manage.py check_config

clean:
	rm -rf $(VENV) var
