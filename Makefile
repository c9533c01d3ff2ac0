# make dev  - run the whole system locally (REST :3000, WebSocket :3001, queue, worker, bot)
# make test - lint + every test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# checkov pins boto3, packaging … older than ours: its own environment, exact pins.
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
export SAM_CLI_TELEMETRY := 0
export AWS_DEFAULT_REGION ?= us-east-1

.PHONY: help venv dev chat test lint unit integration e2e openapi bench build lock clean

help:
	@echo "make dev | chat | test | lint | unit | integration | e2e | openapi | bench | build | clean"

$(STAMP): layers/deps/requirements.txt requirements/dev.txt requirements/constraints.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt -c requirements/constraints.txt
	touch $@

venv: $(STAMP)

$(CHECKOV_STAMP): requirements/checkov.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 9), "Python 3.9+ is required"'
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/checkov.txt
	touch $@

dev: $(STAMP)
	$(BIN)/python -m local $(ARGS)

chat: $(STAMP)
	$(BIN)/python -m local.chat $(ARGS)

# checkov: every finding is fixed or skipped in template.yaml with a one-line reason
# (Metadata: checkov: skip). --skip-download: offline, no Prisma Cloud guideline links.
lint: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers/shared $(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

# Two workers, one file per worker at a time (the e2e files share one local stack each).
test: lint
	$(BIN)/pytest -n 2 --dist loadfile

openapi: $(STAMP)
	PYTHONPATH=.:layers/shared $(BIN)/python -m tools.openapi > docs/openapi.json

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; PYTHONPATH=.:layers/shared $(BIN)/python $$b || exit 1; done

# Docker-free: every function and layer uses BuildMethod: makefile (see layers/deps/Makefile).
build: $(STAMP)
	$(BIN)/sam build --template template.yaml

# The dev pins, then the dependencies layer's hashed lock at the same versions.
lock: $(STAMP)
	{ echo '# Exact versions of every package in the dev environment (pip install -c); regenerate with `make lock`.'; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > requirements/constraints.txt
	$(BIN)/python tools/lock_layer.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .ruff_cache
