# sipdash developer tasks. `make` (or `make help`) lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help venv test demo bench bench-smoke bench-old-vs-new lint format clean

help: ## List the targets
	@echo "sipdash make targets:"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*## "}; {printf "  %-8s %s\n", $$1, $$2}'
	@echo "Variables: PYTHON=$(PYTHON)  PYTEST_ARGS='-k ...'  TEST_DATABASE_URL=postgresql://..."

venv: $(STAMP) ## Create .venv and install sipdash[test] (again only when pyproject.toml changes)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: venv ## Lint (ruff check + format check), the whole test suite, then a bench smoke run
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory bench-smoke

bench-smoke: venv ## bench/run_all.py --quick (2k + 10k, 2 reps, no PostgreSQL, no pack): fails if a benchmark crashes
	@tmp=$$(mktemp -d) && \
	$(BIN)/python bench/run_all.py --quick --no-pg --no-eventsourcing --tmp $$tmp \
		--out $$tmp/smoke.json --chart $$tmp/smoke.png > $$tmp/smoke.log 2>&1 \
		|| { cat $$tmp/smoke.log; rm -rf $$tmp; exit 1; }; \
	tail -n 2 $$tmp/smoke.log; rm -rf $$tmp

demo: venv ## Seed a demo programme if the database is empty, then serve the dashboard
	$(BIN)/sipdash seed --if-empty && $(BIN)/sipdash serve

$(BENCH_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -c constraints.txt -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## Install sipdash[test,bench]; bench/run_all.py (10k-10M, ~35-40 min), then old vs new
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)
	$(MAKE) --no-print-directory bench-old-vs-new
	$(BIN)/python bench/report_md.py > bench/results/report.md
	@echo "tables: bench/results/report.md"

bench-old-vs-new: $(BENCH_STAMP) ## The old commit (75f4e0d) vs this tree, interleaved (100k events, 5 reps, ~3-4 min)
	$(BIN)/python bench/old_vs_new.py --out bench/results/old_vs_new.json > /dev/null

lint: venv ## ruff check + ruff format --check (changes nothing)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv ## Apply ruff formatting and safe lint fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean: ## Remove caches and build artefacts (keeps .venv and databases)
	rm -rf .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +
