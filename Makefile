# driftloop — `make demo` and `make test` work on a fresh machine (they create .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-drift lint typecheck bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/driftloop demo $(ARGS)

# The live Drift venue runs in its own venv (.venv-drift): driftpy pins many packages exactly, so it never
# enters .venv; constraints/drift.txt keeps pip's resolution fast and deterministic (no backtracking).
DRIFT_VENV := .venv-drift
DRIFT_BIN := $(DRIFT_VENV)/bin
DRIFT_STAMP := $(DRIFT_VENV)/.installed

$(DRIFT_STAMP): pyproject.toml constraints/drift.txt
	$(PYTHON) -m venv $(DRIFT_VENV)
	$(DRIFT_BIN)/pip install --quiet --upgrade pip
	$(DRIFT_BIN)/pip install --quiet -e ".[dev,drift]" -c constraints/drift.txt
	$(DRIFT_BIN)/pip check
	touch $(DRIFT_STAMP)

# The main run skips the driftpy tests (importorskip); the drift venv then runs them with the contract suite.
test: $(STAMP) $(DRIFT_STAMP)
	$(BIN)/python -m pytest -q -n 2 $(PYTEST_ARGS)
	$(DRIFT_BIN)/python -m pytest -q -n 2 tests/drift tests/contract $(DRIFT_PYTEST_ARGS)

test-drift: $(DRIFT_STAMP)
	$(DRIFT_BIN)/python -m pytest -q tests/drift tests/contract $(DRIFT_PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

typecheck: $(STAMP)
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(DRIFT_VENV) $(BENCH_VENV) .pytest_cache .mypy_cache .ruff_cache driftloop.db

# The benchmarks run in their own venv: the peers they compare with (vectorbt, backtesting.py,
# pandas + quantstats) and the profilers are never dependencies of driftloop itself.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet -e ".[bench]"
	touch $(BENCH_STAMP)

# DRIFTLOOP_BENCH_PG_URL (default: the local server) is a server URL: the suite creates and drops
# its own scratch database there. BENCH_ARGS e.g. "--only replay,monitor" or "--insights-sizes 10000".
bench: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python -m bench $(BENCH_ARGS)
