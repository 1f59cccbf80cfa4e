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

.PHONY: setup system-packages demo test lint typecheck unit check-infra clean
# checkov has heavy dependencies of its own: its own virtualenv, so its pins never meet boto3's and moto's.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV ?= .venv-checkov

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

# The suite in five groups side by side (scripts/test-suite says why); `$(BIN)/pytest` runs it in one.
test: setup lint typecheck check-infra
	PYTEST=$(BIN)/pytest scripts/test-suite

# terraform fmt and validate of every module, packer validate, checkov: scripts/check-infra.
check-infra: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)
	CHECKOV=$(CHECKOV_VENV)/bin/checkov scripts/check-infra

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	rm -rf $(CHECKOV_VENV)
	python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'
	@touch $@

unit: $(VENV)/.installed
	$(BIN)/pytest tests/core

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .bluegreen .pytest_cache .mypy_cache .ruff_cache
