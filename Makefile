# Set-up and everyday commands. Everything runs from a local .venv, created on
# first use with the Python 3.11+ found as $(PYTHON).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test typecheck fuzz lint bench bench-ingest binary test-binary clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.run-installed

## run: start `appliance serve` with the embedded defaults (HTTPS on 127.0.0.1:8443)
run: $(VENV)/.run-installed
	$(BIN)/appliance serve

## test: the type checker, then the whole test suite
test: typecheck
	$(BIN)/python -m pytest

## typecheck: mypy over appliance/ (settings in pyproject.toml; docs/development.md)
typecheck: $(VENV)/.dev-installed
	$(BIN)/python -m mypy

## fuzz: the HTTP parser's differential test against llhttp and h11, long (20,000 examples)
fuzz: $(VENV)/.dev-installed
	HTTP_FUZZ_EXAMPLES=20000 $(BIN)/python -m pytest -q tests/unit/test_http_differential.py \
		--hypothesis-show-statistics

## bench: every benchmark (not part of `make test`); results in bench/results/
bench: $(VENV)/.dev-installed
	$(BIN)/python -m bench.compression
	$(BIN)/python -m bench.spool
	$(BIN)/python -m bench.conversion
	$(BIN)/python -m bench.convert_processes
	$(BIN)/python -m bench.convert_overhead
	$(BIN)/python -m bench.export
	$(BIN)/python -m bench.mapreduce
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.e2e
	$(BIN)/python -m bench.binary
	$(BIN)/python -m bench.admin
	$(BIN)/python -m bench.jobs_reactor

## bench-ingest: the receiver side by side with its baselines (needs wrk; nginx optional)
bench-ingest: $(VENV)/.dev-installed
	$(BIN)/python -m bench.ingest

## binary: the one-file binary dist/appliance (PyInstaller; reproducible, see packaging/build.py)
binary: $(VENV)/.dev-installed
	$(BIN)/python packaging/build.py

## test-binary: build dist/appliance, then run the packaging tests against it
test-binary: binary
	$(BIN)/python -m pytest -m packaging tests/packaging

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check appliance tests

clean:
	rm -rf $(VENV) build dist *.egg-info
