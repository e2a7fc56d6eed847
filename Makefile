# Sektor-hub: `make demo` and `make test` work on a fresh machine with Python 3.11 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration serve bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $(STAMP)

demo: $(STAMP) ## embedded broker, hub, simulated hospitals, municipalities and GPs
	$(VENV)/bin/hub demo

serve: $(STAMP)
	$(VENV)/bin/hub serve

lint: $(STAMP)
	$(VENV)/bin/ruff check hub connectors mappings tests

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

integration: $(STAMP)
	$(PY) -m pytest tests/integration -q

test: $(STAMP) lint typecheck ## everything CI runs
	$(PY) -m pytest -q

bench: $(STAMP) ## benchmarks into var/bench/ (BENCH_ARGS="--quick" for the one-minute smoke run)
	$(VENV)/bin/hub bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
