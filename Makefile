# Two commands do all set-up on a fresh machine:  `make demo`  and  `make test`.
# Each creates .venv (if missing), installs CPU torch 2.13.0 when no torch is present,
# then the project with its test extra.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tsdiff-installed

.PHONY: demo lint test test-all install bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tsdiff demo

# The linter runs before the tests (ruff comes with the test extra).
lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest -q -m "not slow"

test-all: $(STAMP)
	$(PY) -m pytest -q

# Peers for the benchmark tables (statsforecast, lightning for GluonTS DeepAR); see benchmarks/README.md.
bench: $(STAMP)
	$(PY) -m pip install -q -e ".[test,bench]"
	$(PY) benchmarks/run_benchmarks.py

clean:
	rm -rf $(VENV) build *.egg-info
