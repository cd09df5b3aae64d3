# Two commands on a fresh machine: `make demo` renders out/demo.mp4, `make test` runs the whole suite.
# Both create the virtualenv (.venv/) and install the pinned dependencies themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv bytecode demo test unit contract integration lint bench build clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e ".[local,dev]"
	touch $(STAMP)

venv: $(STAMP)  ## create .venv and install everything

# An editable install compiles none of the project's modules, and where PYTHONDONTWRITEBYTECODE is set
# nothing ever writes their bytecode: every command would compile them again (~0.15 s of each start).
# compileall skips what is up to date; a file edited since is recompiled in memory until the next run.
bytecode: $(STAMP)  ## compile the project's modules (demo and bench run it first)
	$(BIN)/python -m compileall -q src functions

demo: bytecode  ## render the bundled example to out/demo.mp4 through the embedded pipeline
	$(BIN)/pytoon demo -o out/demo.mp4

test: $(STAMP)  ## run the whole test suite (unit, contract, integration)
	$(BIN)/pytest -q

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

contract: $(STAMP)
	$(BIN)/pytest -q tests/contract

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

lint: $(STAMP)  ## ruff (lint + format check) and cfn-lint
	$(BIN)/ruff check src functions tests bench
	$(BIN)/ruff format --check src functions tests bench
	$(BIN)/cfn-lint template.yaml

bench: bytecode  ## benchmark against one ffmpeg command and MoviePy (prints figures and ratios)
	$(BIN)/python bench/run.py

build:  ## sam build (needs the SAM CLI)
	sam build

clean:
	rm -rf $(VENV) out .pytest_cache .aws-sam
