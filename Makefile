# tunequeue: every target a developer or CI needs. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
DATA ?= $(if $(wildcard ../shared/data/Tweets.csv),../shared/data/Tweets.csv,shared/sample_data/airline_tweets_sample.csv)
MODELS ?= smollm2-135m-instruct local-minilm
ZERO_SHOT ?= smollm2-135m-instruct
# Debian packages only the tests need (`make test` installs them; `make setup` and `make demo` never do): Chromium for
# the browser test; docker-compose (installed without its recommended Docker engine) to validate docker-compose.yml.
TEST_DEBIAN_PACKAGES := chromium chromium-driver
TEST_DEBIAN_PACKAGES_NO_RECOMMENDS := docker-compose

.DEFAULT_GOAL := help

# $(call apt_install,PACKAGES,APT_FLAGS): apt-get install the PACKAGES that dpkg does not know yet.
define apt_install
missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
	echo "Installing Debian packages:$$missing"; \
	SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	$$SUDO apt-get install -y -q $(2) $$missing || { $$SUDO apt-get update -q && $$SUDO apt-get install -y -q $(2) $$missing; }; \
fi
endef

.PHONY: help
help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

.PHONY: test-system-deps
test-system-deps: ## Install the Debian packages the tests need, when missing
	@$(call apt_install,$(TEST_DEBIAN_PACKAGES),)
	@$(call apt_install,$(TEST_DEBIAN_PACKAGES_NO_RECOMMENDS),--no-install-recommends)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	$(VENV)/bin/pip install -q --no-deps -r requirements-nodeps.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

.PHONY: setup
setup: $(STAMP) ## Create .venv with the pinned runtime requirements and the project (the `tunequeue` command)

.PHONY: setup-dev
setup-dev: $(DEV_STAMP) ## Add the pinned test and lint tools (requirements-dev.txt) to .venv

.PHONY: demo
demo: setup ## Run the reference experiment end to end and print the comparison (DATA=..., MODELS="...")
	$(PY) -m worker demo --data "$(DATA)" $(foreach m,$(MODELS),--model $(m)) $(foreach m,$(ZERO_SHOT),--zero-shot $(m)) --output var/demo-result.json

.PHONY: lint
lint: $(DEV_STAMP) ## Check style, formatting, types and the architecture contracts (ruff, mypy, import-linter)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

.PHONY: lint-imports
lint-imports: $(DEV_STAMP) ## Check the import contracts of pyproject.toml (the layering of docs/ARCHITECTURE.md)
	$(VENV)/bin/lint-imports

.PHONY: test
test: test-system-deps lint ## Check (make lint), then run every test (the slow end-to-end ones included)
	$(PY) -m pytest

.PHONY: test-fast
test-fast: test-system-deps lint ## Check (make lint), then run the tests not marked slow
	$(PY) -m pytest -m "not slow"

.PHONY: bench
bench: setup ## Measure the local models (accuracy, training time, throughput) and the queue overhead; rewrite the README tables
	$(PY) bench/local_quality.py --readme README.md
	$(PY) bench/queue_overhead.py --readme README.md

.PHONY: clean
clean: ## Remove var/ (Redis data, local_openai data, demo output)
	rm -rf var

# Environment file honcho reads for `make up` (and `make down` for TQ_DATA_DIR); see .env.example.
ENV_FILE ?= .env

.PHONY: up
up: $(STAMP) ## Run Redis, local_openai (:8100), a worker, web (:5000) and Flower (:5555) in the foreground; Ctrl-C stops all
	TQ_STACK="$(CURDIR)" $(VENV)/bin/honcho start -f Procfile -e "$(ENV_FILE)"

.PHONY: down
down: ## Stop whatever a crashed `make up` left running (only its own processes, found by their pidfiles)
	@dir="$${TQ_DATA_DIR:-$$(sed -n 's/^TQ_DATA_DIR=//p' "$(ENV_FILE)" 2>/dev/null | tail -n 1)}"; dir="$${dir:-var}"; \
	stopped=""; alive=""; \
	for f in "$$dir"/run/*.pid; do \
		[ -f "$$f" ] || continue; pid=$$(cat "$$f"); \
		if { tr '\0' '\n' < /proc/$$pid/environ; } 2>/dev/null | grep -qxF "TQ_STACK=$(CURDIR)"; then \
			echo "stopping $$(basename "$$f" .pid) (pid $$pid)"; kill -TERM -- -$$pid 2>/dev/null || kill -TERM $$pid; \
			stopped="$$stopped $$pid"; \
		fi; \
		rm -f "$$f"; \
	done; \
	for i in $$(seq 50); do \
		alive=""; for p in $$stopped; do \
			kill -0 $$p 2>/dev/null && ! grep -qs '^State:[[:space:]]*Z' /proc/$$p/status && alive="$$alive $$p"; \
		done; \
		[ -z "$$alive" ] && break; sleep 0.2; \
	done; \
	for p in $$alive; do echo "pid $$p ignored SIGTERM for 10 s; sending SIGKILL"; kill -KILL -- -$$p 2>/dev/null || kill -KILL $$p; done; \
	[ -n "$$stopped" ] || echo "nothing from make up is running (no live pidfiles in $$dir/run)"
