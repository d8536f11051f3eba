# Two commands set up everything on a fresh machine (Python 3.10+ with venv):
#   make demo   - create .venv, install gputopic, fit the bundled 20 Newsgroups sample
#   make test   - create .venv, install gputopic with test extras, run the test suite
#
# Both install the versions the tests passed with: requirements/constraints-cpu.txt (pip -c).
#   make lock        - refresh that file after a dependency changed in pyproject.toml
#                      (keeps the other pins; `make lock LOCK_ARGS=--upgrade` moves all to the newest)
#   make test-latest - the tests in .venv-latest with the newest releases (no constraints): finds drift
#   make docs        - build the documentation site into site/ (offline)
#   make readme      - run the demo and paste what it prints into README.md
#   make dist        - build the wheel and sdist into dist/
#
# TORCH picks the torch build installed first. The default pins the CPU build this
# project's development machines carry on disk; on a CUDA machine use e.g.
#   make test TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
# (CONSTRAINTS= drops the CPU lock where a CUDA torch needs other versions, e.g. of triton).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
CONSTRAINTS ?= requirements/constraints-cpu.txt
LOCK_ARGS ?=
PY := $(VENV)/bin/python
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))

.PHONY: demo test test-latest lock docs readme dist bench clean

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q $(PIP_C) -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(VENV)/bin/gputopic demo

test: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

test-latest:
	$(MAKE) test VENV=.venv-latest CONSTRAINTS=

# pip-compile over pyproject's dev and bench extras, with torch held at the CPU build
# (requirements/torch-cpu.txt). The "+cpu" local label is cut so that the same pin admits
# a CUDA build of that release.
lock:
	test -x .venv-lock/bin/pip-compile || ($(PYTHON) -m venv .venv-lock && .venv-lock/bin/pip install -q pip-tools)
	CUSTOM_COMPILE_COMMAND="make lock" .venv-lock/bin/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
	    --extra dev --extra bench -c requirements/torch-cpu.txt \
	    $(LOCK_ARGS) -o requirements/constraints-cpu.txt pyproject.toml
	sed -i 's/^torch==\(.*\)+cpu$$/torch==\1/' requirements/constraints-cpu.txt

docs: $(VENV)/.installed
	$(PY) -m mkdocs build --strict --site-dir site

readme: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(PY) bench/readme_demo.py

dist: $(VENV)/.installed
	$(PY) -m build --outdir dist .

bench: $(VENV)/.installed
	$(PY) -m pip install -q $(PIP_C) -e '.[bench]'
	HF_HUB_OFFLINE=1 $(PY) bench/run.py

clean:
	rm -rf $(VENV) .venv-latest .venv-lock tests/.cache .pytest_cache site dist
