# Sektor-hub: `make demo` and `make test` work on a fresh machine with Python 3.11 and the package registries.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# the line coverage (with branches) `make test` measured when the floor was set; it may rise, never fall
COVERAGE_FLOOR ?= 87

.PHONY: lock demo test lint typecheck unit integration integration-postgresql system-packages serve bench clean

# Debian packages the tests need, installed when missing (as root, or through sudo)
APT_GET := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test,bench]'
	touch $(STAMP)

lock: ## requirements.lock anew: the newest versions pyproject.toml allows, resolved in a throw-away venv
	rm -rf var/lock-venv && $(PYTHON) -m venv var/lock-venv
	var/lock-venv/bin/pip install --quiet -e '.[test,bench]'
	{ sed -n '1,2p' requirements.lock; var/lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e\|sektor'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf var/lock-venv

demo: $(STAMP) ## embedded broker, hub, simulated hospitals, municipalities and GPs
	$(VENV)/bin/hub demo

serve: $(STAMP)
	$(VENV)/bin/hub serve

lint: $(STAMP) ## ruff (rules and format), every import declared (deptry), no secrets
	$(VENV)/bin/ruff check hub connectors mappings bench tests tools
	$(VENV)/bin/ruff format --check hub connectors mappings bench tests tools
	$(VENV)/bin/deptry .
	$(PY) tools/check_secrets.py

typecheck: $(STAMP)
	$(VENV)/bin/mypy

unit: $(STAMP)
	$(PY) -m pytest tests/unit -q

integration: $(STAMP)
	$(PY) -m pytest tests/integration -q

integration-postgresql: $(STAMP) system-packages ## the integration suite again, on a throw-away PostgreSQL cluster
	$(PY) -m pytest tests/integration -q --database postgresql

# postgresql (initdb) for the PostgreSQL runs, chromium and its driver for the console's browser tests,
# prometheus (promtool) for the alert rules' test
SYSTEM_PACKAGES := postgresql chromium chromium-driver prometheus

system-packages:
	@{ ls /usr/lib/postgresql/*/bin/initdb && command -v chromium && command -v promtool; } >/dev/null 2>&1 || { \
		echo "installing Debian's $(SYSTEM_PACKAGES) for the tests"; \
		$(APT_GET) update -q && $(APT_GET) install -y -q --no-install-recommends $(SYSTEM_PACKAGES); }

test: $(STAMP) lint typecheck system-packages ## everything CI runs: all tests on SQLite, the integration suite on PostgreSQL too
	$(PY) -m pytest -q --cov --cov-report=
	$(PY) -m pytest tests/integration -q --database postgresql --cov --cov-append --cov-report=term --cov-fail-under=$(COVERAGE_FLOOR)

bench: $(STAMP) ## benchmarks into var/bench/ (BENCH_ARGS="--quick" for the one-minute smoke run)
	$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
