# Two commands on a fresh machine:
#   make demo   the live demo on embedded defaults
#   make test   the whole test suite, on real Mosquitto, PostgreSQL/TimescaleDB and Chromium

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $@

deps:
	bash scripts/install-system-deps.sh $(if $(filter test,$(MAKECMDGOALS)),--with-browser,)

demo: $(STAMP) deps
	$(BIN)/cordon demo $(DEMO_ARGS)

test: $(STAMP) deps
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
