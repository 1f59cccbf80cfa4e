# The two commands a newcomer runs (README.md): `make demo` and `make test`.
# Both install what they need first (`make setup`): Debian's packer and nginx
# where missing, and a virtualenv in .venv with bluegreen and its tools.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# Where terraform finds the hashicorp/aws provider offline (empty: the public registry).
BLUEGREEN_TF_PROVIDER_MIRROR ?= $(shell scripts/find-provider-mirror)
export BLUEGREEN_TF_PROVIDER_MIRROR
export CHECKPOINT_DISABLE := 1

.PHONY: setup system-packages demo test lint typecheck unit clean

setup: system-packages $(VENV)/.installed

system-packages:
	@scripts/install-system-packages

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

demo: setup
	@scripts/demo

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy
	MYPYPATH=bench $(BIN)/mypy --strict bench/*.py

test: setup lint typecheck
	$(BIN)/pytest

unit: $(VENV)/.installed
	$(BIN)/pytest tests/core

clean:
	rm -rf $(VENV) .bluegreen .pytest_cache .mypy_cache .ruff_cache
