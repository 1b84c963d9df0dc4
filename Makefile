# Two commands do everything on a fresh machine: `make run` and `make test`.
# Both create .venv and install the project from its own files.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
export WASMIND_CACHE_DIR ?= $(CURDIR)/.wasmind-cache

.PHONY: help venv run test test-slow lint fmt schemas bench build-actors clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version' 
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)  ## create .venv and install the project with its dev tools

DEMO_PROMPT ?= Write a haiku about Wasmind to /tmp/wasmind-demo/haiku.txt, then count its words in parallel with worker agents

run: venv  ## the offline multi-agent LLM demo: a scripted LLM (no model, no network), real tools and agents
	$(BIN)/wasmind run examples/offline-demo.toml -p "$(DEMO_PROMPT)"

test: venv  ## run the test suite (slow tier excluded)
	$(BIN)/pytest -m "not slow"

test-slow: venv  ## run only the slow tier
	$(BIN)/pytest -m slow

lint: venv  ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

fmt: venv  ## apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

schemas: venv  ## regenerate schemas/ from the message models
	$(BIN)/python -m wasmind.wire.schemas schemas
	$(BIN)/python -m wasmind.config.schemas schemas

build-actors: venv  ## build and precompile the shipped and test actors
	$(BIN)/wasmind build actors/examples/* tests/actors/*

LITELLM_VENV := .venv-litellm
.PHONY: litellm-env test-litellm

litellm-env: $(LITELLM_VENV)/bin/litellm  ## a separate venv with the LiteLLM proxy (1.106.0; not 1.107.0, reported compromised)

$(LITELLM_VENV)/bin/litellm:
	test -x $(LITELLM_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/pip install --quiet --disable-pip-version-check 'litellm[proxy]==1.106.0'
	touch $@

test-litellm: venv litellm-env  ## the slow tier against a real LiteLLM proxy (mock models, no network)
	WASMIND_LITELLM=$(CURDIR)/$(LITELLM_VENV)/bin/litellm $(BIN)/pytest -m slow tests/llm/test_litellm_real.py

bench: venv  ## every benchmark suite at full size, one after the other (JSON lines; ~5 min, 1,000 agents)
	$(BIN)/wasmind bench runtime --json
	$(BIN)/wasmind bench messaging --json
	$(BIN)/wasmind bench hops --json
	$(BIN)/wasmind bench spawn --json
	$(BIN)/wasmind bench scale --json
	$(BIN)/wasmind bench build --json

clean:  ## remove the venv and the local build cache
	rm -rf $(VENV) .wasmind-cache
