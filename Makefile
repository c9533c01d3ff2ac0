# make dev  - run the whole system locally (REST :3000, WebSocket :3001, queue, worker, bot)
# make test - lint + every test (the browser tests need Chromium: installed with apt when missing)
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
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD := 1

.PHONY: help venv dev chat test lint unit integration e2e openapi bench soak build lock clean web chromium browser screenshots publish-web deploy smoke redrive

help:
	@echo "make dev | chat | test | lint | unit | integration | e2e | browser | web | publish-web | openapi | bench | soak | build | clean"
	@echo "make deploy ENV=dev|staging|prod | smoke STACK=<name> | redrive STACK=<name>   (docs/deploy.md)"

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

dev: $(STAMP) web
	$(BIN)/python -m local --web-port $(WEB_PORT) $(ARGS)

chat: $(STAMP)
	$(BIN)/python -m terminal $(ARGS)

# checkov: every finding is fixed or skipped in template.yaml with a one-line reason
# (Metadata: checkov: skip). --skip-download: offline, no Prisma Cloud guideline links.
# checkov reads the template with the parameters' defaults, so it also checks a copy per
# parameter that decides resources, flipped (tools/checkov_variants.py: WebClient=true …).
CHECKOV_VARIANTS := .aws-sam/checkov-variants
lint: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=layers/shared $(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/mypy
	$(BIN)/python -m tools.structure
	$(BIN)/sam validate --lint --template template.yaml --region $(AWS_DEFAULT_REGION)
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download
	rm -rf $(CHECKOV_VARIANTS) && $(BIN)/python -m tools.checkov_variants $(CHECKOV_VARIANTS) > /dev/null
	$(CHECKOV_VENV)/bin/checkov --directory $(CHECKOV_VARIANTS) --framework cloudformation --quiet --compact --skip-download

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e

# Two workers, one file per worker at a time (the e2e files share one local stack each).
test: lint web chromium
	$(BIN)/pytest -n 2 --dist loadfile

openapi: $(STAMP)
	PYTHONPATH=.:layers/shared $(BIN)/python -m tools.openapi > docs/openapi.json

# Every benchmark but the soak, which runs for 20 minutes (make soak).
bench: $(STAMP)
	@for b in bench/*.py; do [ "$$b" = bench/soak.py ] && continue; echo "== $$b"; PYTHONPATH=.:layers/shared $(BIN)/python $$b || exit 1; done

# The local stack with faults on under mixed traffic, checked from the clients' view
# (bench/soak.py; ARGS="--minutes 5", "--no-faults", "--fault-seed 7" …).
soak: $(STAMP)
	PYTHONPATH=.:layers/shared $(BIN)/python bench/soak.py $(ARGS)

# ---------------------------------------------------------------- releases (docs/deploy.md)
# Build, deploy an environment of samconfig.toml (a first deploy can fail cleanly), smoke-test it.
deploy: $(STAMP)
	@test -n "$(ENV)" || { echo "usage: make deploy ENV=dev|staging|prod" >&2; exit 2; }
	$(BIN)/python -m tools.deploy $(ENV)

# The contract's main flows against a deployed stack (STACK=name) or a running one (make dev:
# REST_URL=http://127.0.0.1:3000 WS_URL=ws://127.0.0.1:3001).
smoke: $(STAMP)
	@test -n "$(STACK)$(REST_URL)" || { echo "usage: make smoke STACK=<stack> | REST_URL=… WS_URL=…" >&2; exit 2; }
	$(BIN)/python -m tools.smoke $(if $(STACK),--stack $(STACK),--rest-url $(REST_URL) --ws-url $(WS_URL)) $(if $(REGION),--region $(REGION))

# A stack's dead-lettered bot commands back to its bot queue, once their failure is fixed.
redrive: $(STAMP)
	@test -n "$(STACK)" || { echo "usage: make redrive STACK=<stack>" >&2; exit 2; }
	$(BIN)/python -m tools.redrive --stack $(STACK) $(if $(REGION),--region $(REGION))

# Docker-free: every function and layer uses BuildMethod: makefile (see layers/deps/Makefile).
build: $(STAMP)
	$(BIN)/sam build --template template.yaml

# The dev pins, then the dependencies layer's hashed lock at the same versions.
lock: $(STAMP)
	{ echo '# Exact versions of every package in the dev environment (pip install -c); regenerate with `make lock`.'; \
	  $(BIN)/python -m pip freeze --exclude-editable; } > requirements/constraints.txt
	$(BIN)/python tools/lock_layer.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam .pytest_cache .ruff_cache web/node_modules web/dist

# ---------------------------------------------------------------- web client (web/)
WEB_PORT ?= 3003
WEB_STAMP := web/node_modules/.installed-stamp
WEB_SOURCES := $(wildcard web/src/*.ts web/static/*) web/build.mjs web/tsconfig.json

$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "error: the web client needs Node.js 20+ and npm" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

web/dist/index.html: $(WEB_STAMP) $(WEB_SOURCES)
	cd web && node_modules/.bin/tsc --noEmit && node build.mjs

# Type-check and bundle web/ into web/dist (prints the bundle size).
web: web/dist/index.html

# The browser tests drive Debian's Chromium (never a downloaded browser): installed here when missing.
chromium:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "Installing Chromium for the browser tests (apt-get install chromium)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || exit 1; \
	else \
	  echo "error: the browser tests need Chromium. Install Debian's chromium package (sudo apt-get install chromium)" >&2; \
	  echo "       or set CHROMIUM=/path/to/chromium. The tests never skip without it." >&2; exit 1; \
	fi

browser: $(STAMP) web chromium
	$(BIN)/pytest tests/browser

# Refresh the web client's screenshots (docs/screenshots, shown in web/README.md) from the browser tests.
screenshots: $(STAMP) web chromium
	SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/browser -k "two_people or bot_settings"

# Upload web/dist to the deployed stack's web bucket with a config.json made from its outputs
# (AWS credentials and a stack deployed with WebClient=true; STACK=name, default samconfig's).
publish-web: $(STAMP) web
	$(BIN)/python web/publish.py $(if $(STACK),--stack $(STACK))
