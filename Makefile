# The README's commands. Each creates .venv when needed and installs what it needs first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REQS := requirements.txt requirements-dev.txt functions/requirements.txt
STAMP := $(VENV)/.installed-$(shell cat $(REQS) pyproject.toml | sha256sum | cut -c1-16)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1


.PHONY: run test synth bench lint install clean chromium drill

install: $(STAMP)

# The pinned requirements, then hybridctl (pyproject.toml: the cli* packages only, no dependencies of its own), editable, so
# .venv/bin/hybridctl exists. Built offline with the venv's own setuptools (--no-build-isolation: no
# isolated build env to download); setuptools 70.1+ builds wheels without the `wheel` package.
$(STAMP): $(REQS) pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@rm -f $(VENV)/.installed-*
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

# make run FRESH=1: forget the state kept in .local-state/ and start clean
run: $(STAMP)  ## Run the whole system locally on 127.0.0.1:$${PORT:-8080}, its state kept across restarts
	$(PY) -m local $(if $(filter 1 yes true,$(FRESH)),--fresh)

# Debian's Chromium, for the dashboard page's browser test (tests/e2e/test_dashboard.py); nothing to do when
# /usr/bin/chromium is there. sudo only when not root.
chromium:
	@test -x /usr/bin/chromium || { \
		sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		echo "installing Debian's chromium (apt-get)"; \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 chromium >/dev/null; }

test: $(STAMP) chromium  ## Lint (ruff with the complexity rule), type-check (mypy), then run the whole test suite
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest

synth: $(STAMP) node_modules/.package-lock.json  ## cdk synth, offline, no Docker
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" node_modules/.bin/cdk synth --quiet

# make drill SCENARIO=bedrock-outage [COMPRESSION=30] [RATE=28]: a failover drill on a local stack; report in drill-reports/
SCENARIO ?= bedrock-outage
COMPRESSION ?= 30
RATE ?= 28
drill: $(STAMP)  ## Failover drill: bedrock-outage, latency-spike, quota-exhaustion, mcp-outage, multi-provider-outage, budget-exhausted
	$(PY) -m local.drill $(SCENARIO) --compression $(COMPRESSION) --rate $(RATE) > /dev/null

bench: $(STAMP)  ## Benchmarks: print their figures
	$(PY) bench/router_overhead.py
	$(PY) bench/streaming.py
	$(PY) bench/failover_detection.py
	$(PY) bench/failure_modes.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) node_modules cdk.out .pytest_cache
