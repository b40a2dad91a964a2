# The two commands: `make run` runs the whole pipeline on the embedded defaults,
# `make test` runs the test suite and the linter. Both create or refresh .venv first.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: run test lint venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/gifting run

lint: $(STAMP)
	$(BIN)/ruff check gifting tasks flows tests benchmarks

test: lint
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

clean:
	rm -rf $(VENV) .gifting .pytest_cache .ruff_cache
