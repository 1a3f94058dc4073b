# One task runner. `make help` lists the targets.
SHELL := /bin/bash
PY ?= python3
TOOLS := .cache/tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin

.PHONY: help install lint typecheck test test-fast demo kafka-start kafka-stop bench clean

help:  ## Show this help
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==0.13.9

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --python $(PY)
	touch $@

install: $(VENV)/.installed  ## Create .venv and install the project with its dev tools (locked)

lint: install  ## ruff + import contracts
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports

typecheck: install  ## mypy --strict
	$(BIN)/mypy

test: lint typecheck  ## Lint, type-check, provision Kafka, run every test tier
	$(BIN)/python scripts/local_kafka.py provision
	$(BIN)/pytest

test-fast: install  ## Unit and component tests only
	$(BIN)/pytest tests/unit tests/component

demo: install  ## Run the demo: local Kafka + emulators + the sync
	$(BIN)/python scripts/local_kafka.py provision
	$(BIN)/python scripts/demo.py

bench: install  ## Run the benchmarks (prints figures)
	$(BIN)/python bench/run_all.py

kafka-start: install  ## Start the local single-node Kafka (prints its bootstrap address)
	$(BIN)/python scripts/local_kafka.py start

kafka-stop:  ## Stop the local Kafka
	$(PY) scripts/local_kafka.py stop

clean:  ## Remove caches and the virtual environment
	rm -rf $(VENV) .cache .mypy_cache .ruff_cache .pytest_cache
