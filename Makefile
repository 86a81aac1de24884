# tunequeue: every target a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA ?= $(if $(wildcard ../shared/data/Tweets.csv),../shared/data/Tweets.csv,shared/sample_data/airline_tweets_sample.csv)
MODELS ?= smollm2-135m-instruct local-minilm
ZERO_SHOT ?= smollm2-135m-instruct
DEBIAN_PACKAGES := chromium chromium-driver

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: system-deps
system-deps: ## Install the Debian packages the browser tests need, when missing
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get install -y -q $$missing || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $$missing; }; \
	fi

$(STAMP): requirements.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

.PHONY: setup
setup: system-deps $(STAMP) ## Create .venv with the pinned requirements

.PHONY: demo
demo: setup ## Run the reference experiment end to end and print the comparison (DATA=..., MODELS="...")
	$(PY) -m worker demo --data "$(DATA)" $(foreach m,$(MODELS),--model $(m)) $(foreach m,$(ZERO_SHOT),--zero-shot $(m)) --output var/demo-result.json

.PHONY: test
test: setup ## Run every test (the slow end-to-end ones included)
	$(PY) -m pytest

.PHONY: test-fast
test-fast: setup ## Run the tests not marked slow
	$(PY) -m pytest -m "not slow"

.PHONY: bench
bench: setup ## Print measured accuracy, training time and throughput of the local models
	$(PY) bench/local_quality.py

.PHONY: clean
clean: ## Remove var/ (Redis data, local_openai data, demo output)
	rm -rf var
