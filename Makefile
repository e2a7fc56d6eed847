# Sektor-hub: `make demo` and `make test` work on a fresh machine with Python 3.11 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration integration-postgresql system-packages serve bench clean

# Debian packages the tests need, installed when missing (as root, or through sudo)
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

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

integration-postgresql: $(STAMP) system-packages ## the integration suite again, on a throw-away PostgreSQL cluster
	$(PY) -m pytest tests/integration -q --database postgresql

system-packages:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
		echo "installing Debian's postgresql package for the tests"; \
		$(APT_GET) update -q && $(APT_GET) install -y -q --no-install-recommends postgresql; }

test: $(STAMP) lint typecheck system-packages ## everything CI runs: all tests on SQLite, the integration suite on PostgreSQL too
	$(PY) -m pytest -q
	$(PY) -m pytest tests/integration -q --database postgresql

bench: $(STAMP) ## benchmarks into var/bench/ (BENCH_ARGS="--quick" for the one-minute smoke run)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
