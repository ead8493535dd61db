# Silent Commerce: the two commands of the quick start are `make demo` and `make test`.
# Each sets up what it needs (Debian packages, virtualenv) and does nothing twice.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test soak lint typecheck unit system-deps venv clean

demo: system-deps venv
	$(BIN)/silentcommerce demo

# Two test processes, each taking whole files (their module-wide fixtures stay in one process): most tests
# wait on real servers, so two share two cores well. TEST_PROCESSES=0 runs everything in one process.
# The log ends with the 30 slowest tests, so every CI run shows where the suite's time goes.
TEST_PROCESSES ?= 2

test: system-deps venv lint typecheck
	$(BIN)/python -m pytest -q -n $(TEST_PROCESSES) --dist loadfile --durations=30

# The larger forms of the tests that have one (10,000 hostile MQTT payloads instead of 1,000, a one-minute
# database outage with ten times the batches, the fault suite's minutes of outage and dozens of kills, ...).
soak: system-deps venv
	SC_SOAK=1 $(BIN)/python -m pytest -q -o timeout=3600 tests/fuzz tests/reliability tests/dashboard/test_schemathesis.py tests/faults

lint: venv
	$(BIN)/ruff check .

typecheck: venv
	$(BIN)/mypy

# Debian packages the demo and the tests run for real: only the missing ones are installed.
system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v mosquitto_passwd >/dev/null 2>&1 || missing="$$missing mosquitto"; \
	command -v openssl >/dev/null 2>&1 || missing="$$missing openssl"; \
	command -v victoria-metrics >/dev/null 2>&1 || missing="$$missing victoria-metrics"; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
	  echo ">> installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$(echo $$missing | tr ' ' '\n' | sort -u) ; \
	fi

venv: $(STAMP)

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || { echo ">> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo ">> installing Python packages into $(VENV)"
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) .run .pytest_cache .mypy_cache .ruff_cache
