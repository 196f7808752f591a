# greenpipe developer commands. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-unit lint bench system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## Run the whole pipeline on embedded defaults (amqtt broker, SQLite store).
demo: $(STAMP)
	$(BIN)/greenpipe demo

system-deps:
	./scripts/install-system-deps.sh

## Run the whole test suite, integration tests included.
test: $(STAMP) system-deps
	$(BIN)/python -m pytest

## Unit tests only (no broker or database processes).
test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not integration"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy greenpipe collector simulators forecasting dashboard bench alerts reports findings brokerauth

bench: $(STAMP) system-deps
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache .ruff_cache
