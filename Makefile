# Two set-up commands on a fresh machine: `make demo` and `make test`.
# Each creates .venv from requirements.txt when it is missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export MPLBACKEND := Agg
export PYTHONHASHSEED := 0
# Notebook parameters for `make book` (notebooks/profiles.yml): ci (small, CPU) or full (CIFAR-10).
PROFILE ?= ci

.PHONY: demo test test-fast lint book clean gpu-check

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	$(PY) -m tad run --dataset digits --noise pairflip --rate 0.4 --ipc 10

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not slow and not notebooks and not book"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check tad tests notebooks scripts benchmarks
	$(VENV)/bin/ruff format --check tad tests notebooks scripts benchmarks

# Execute the notebooks with papermill (profile $(PROFILE)), then build the book into _build/html.
book: $(VENV)/.installed
	$(PY) scripts/build_book.py --profile $(PROFILE)

# The full-scale path on a GPU, cut down to minutes: checks it and projects the real run's wall time.
# DATA_ROOT holds cifar-10-batches-py.
DATA_ROOT ?= data
gpu-check: $(VENV)/.installed
	$(PY) -m tad gpu-check --data-root $(DATA_ROOT)

clean:
	rm -rf _build runs .pytest_cache
