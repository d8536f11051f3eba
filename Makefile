# Two commands set up everything on a fresh machine (Python 3.10+ with venv):
#   make demo   - create .venv, install gputopic, fit the bundled 20 Newsgroups sample
#   make test   - create .venv, install gputopic with test extras, run the test suite
#
# TORCH picks the torch build installed first. The default pins the CPU build this
# project's development machines carry on disk; on a CUDA machine use e.g.
#   make test TORCH="torch --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python

.PHONY: demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(VENV)/bin/gputopic demo

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

bench: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[bench]'
	HF_HUB_OFFLINE=1 $(PY) bench/run.py

clean:
	rm -rf $(VENV) tests/.cache .pytest_cache
