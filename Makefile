# Every target creates .venv when missing and installs what it needs; `make demo` and `make test`
# work on a fresh machine with only python3 (>= 3.11).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test lint bench install browser clean snippets sdk-alone

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e ".[server,dev]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cartwise demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check cartwise tests benchmarks scripts examples
	$(BIN)/ruff format --check cartwise tests benchmarks scripts examples
	$(BIN)/mypy

# The benchmarks' extra (implicit, threadpoolctl, psutil) goes into the same venv, with its own stamp.
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[bench]"
	rm -f $(VENV)/.bench-installed-*
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/quality.py --data cartwise/sample_data
	$(BIN)/python benchmarks/latency.py --data cartwise/sample_data

# The non-Python parts and the SDK installed alone: the checkout extension (npm ci, build with
# its 64 KB bundle check, typecheck, unit tests), the Magento module (php -l, XML well-formed)
# and the base package in a fresh venv.
snippets: sdk-alone
	bash storefront_snippets/shopify/extensions/checkout-recommendations/check.sh
	bash storefront_snippets/magento2/check.sh

sdk-alone:
	bash scripts/check_sdk_alone.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
