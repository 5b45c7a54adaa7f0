# modlake — every target installs what it needs first (see `make help`).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAGE ?= dev
CDK := npx --no-install cdk

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_VERSION_CHECK := 1
export PYTHONDONTWRITEBYTECODE := 1

.DEFAULT_GOAL := help
.PHONY: help demo up install test lint twin unit synth bench serve digest-preview deploy destroy lock clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

VIDEO ?=
demo: $(VENV)/.installed ## the whole pipeline on this machine, no AWS account (your clip: make demo VIDEO=clip.mp4)
	$(BIN)/modlake demo $(if $(VIDEO),"$(VIDEO)")

up: $(VENV)/.installed ## the local stack in the foreground; other terminals use .venv/bin/modlake --local …
	$(BIN)/modlake up

install: $(VENV)/.installed node_modules/.installed ## create .venv with pinned packages and the pinned CDK CLI (idempotent)

$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing the pinned Python packages into $(VENV) (the first time takes a minute or two)"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --editable .
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "installing the pinned CDK CLI into node_modules"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

CODE_DIRS := $(wildcard functions glue queries stacks cli sandbox bench)

lint: install ## ruff, mypy and the import contracts over functions glue queries stacks cli sandbox bench
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(CODE_DIRS)
	$(BIN)/lint-imports --no-cache --no-logo

test: install lint chromium ## lint, then the whole offline test suite, then the functions' tests in the Lambda twin
	$(BIN)/pytest -q
	$(MAKE) --no-print-directory twin

# The browser tests (tests/browser) drive Debian's chromium; installed with apt-get when it is missing (sudo unless root).
CHROMIUM := /usr/bin/chromium
.PHONY: chromium
chromium: ## Debian's chromium for the browser tests (apt-get), when /usr/bin/chromium is missing
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing Debian's chromium for the browser tests (apt-get)"; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium > /dev/null; \
	fi

# The Lambda twin: Lambda's Python with exactly the layers' packages and the runtime's SDK (tests/twin/lambda.txt,
# from stacks/lambda_layers.json) in .twin/lambda, first on the path; the test tools live in the venv behind them.
TWIN := .twin
# Looked up on first use only (memoized), so targets other than the twin's never run the search.
LAMBDA_PYTHON_VERSION = $(eval LAMBDA_PYTHON_VERSION := $(shell sed -n 's/.*"runtime": "python\([0-9.]*\)".*/\1/p' stacks/lambda_layers.json))$(LAMBDA_PYTHON_VERSION)
LAMBDA_PYTHON ?= $(eval LAMBDA_PYTHON := $(shell for c in $$(command -v python$(LAMBDA_PYTHON_VERSION)) $(HOME)/.pyenv/versions/$(LAMBDA_PYTHON_VERSION)*/bin/python$(LAMBDA_PYTHON_VERSION); do "$$c" -c '' 2>/dev/null && { echo "$$c"; break; }; done))$(LAMBDA_PYTHON)
TWIN_PYTHON = $(if $(LAMBDA_PYTHON),$(LAMBDA_PYTHON),$(PYTHON))

$(TWIN)/.installed: tests/twin/lambda.txt tests/twin/tools.txt requirements.txt
	@if [ -z "$(LAMBDA_PYTHON)" ]; then \
	  if [ "$$CI" = "true" ]; then echo "no python$(LAMBDA_PYTHON_VERSION) found for the Lambda twin (set LAMBDA_PYTHON=...)"; exit 1; fi; \
	  echo "WARNING: no python$(LAMBDA_PYTHON_VERSION) on this machine: the Lambda twin runs on $$($(PYTHON) --version)"; fi
	rm -rf $(TWIN) && $(TWIN_PYTHON) -m venv $(TWIN)
	@echo "installing Lambda's packages into $(TWIN)/lambda and the test tools into $(TWIN)"
	$(TWIN)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --target $(TWIN)/lambda -r tests/twin/lambda.txt
	$(TWIN)/bin/python -m pip install --quiet --disable-pip-version-check -c requirements.txt -r tests/twin/tools.txt
	@touch $@

twin: $(TWIN)/.installed ## the functions' unit, adapter, handler and retry tests on Lambda's Python and packages
	MODLAKE_TWIN=1 MODLAKE_TWIN_PYTHON=$(if $(LAMBDA_PYTHON),lambda,fallback) PYTHONPATH=$(TWIN)/lambda \
	  $(TWIN)/bin/python -m pytest -q -p no:cacheprovider tests/twin tests/unit tests/adapters tests/handlers \
	  tests/sandbox/test_retry_policies.py

synth: install ## write cdk.out/modlake-$(STAGE).template.json
	$(CDK) synth --quiet -c stage=$(STAGE) > /dev/null
	@echo "wrote cdk.out/modlake-$(STAGE).template.json"

bench: install ## collector, local moderation, burst-scheduling and faults benchmarks (print one JSON object per line)
	POWERTOOLS_LOG_LEVEL=WARNING $(BIN)/python -m bench.collector
	$(BIN)/python -m bench.moderation
	POWERTOOLS_LOG_LEVEL=WARNING $(BIN)/python -m bench.burst
	POWERTOOLS_LOG_LEVEL=WARNING $(BIN)/python -m bench.faults

PORT ?= 4566
serve: install ## the local AWS endpoint on 127.0.0.1:$(PORT) (our Rekognition Video and Athena, moto for the rest)
	$(BIN)/python -m sandbox serve --port $(PORT)

digest-preview: install ## render the daily digest of a generated 35-day sample lake to build/digest-preview/
	POWERTOOLS_LOG_LEVEL=WARNING $(BIN)/python -m sandbox.digest_preview --out build/digest-preview

deploy: install ## deploy modlake-$(STAGE) to the AWS account in your environment
	$(CDK) deploy -c stage=$(STAGE) modlake-$(STAGE)

destroy: install ## delete modlake-$(STAGE) (dev also deletes its buckets' objects)
	$(CDK) destroy -c stage=$(STAGE) modlake-$(STAGE)

lock: ## re-pin requirements.txt from requirements.in
	rm -rf .lockenv && $(PYTHON) -m venv .lockenv && .lockenv/bin/pip install -q -r requirements.in
	{ echo "# Fully pinned environment for modlake (generated by 'make lock' from requirements.in)."; .lockenv/bin/pip freeze; } > requirements.txt
	rm -rf .lockenv

clean: ## remove build output (keeps .venv and node_modules)
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache $(TWIN)
