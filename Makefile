# omnisession: `make demo` runs the offline demo, `make test` runs every test.
# Both bootstrap .venv on first use (Python 3.11+ and make are all they need).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PLUGINS := $(sort $(wildcard plugins/*))
INSTALLED := $(VENV)/.installed
# Workers for pytest-xdist; the tests wait on databases more than on the CPU.
WORKERS ?= 4

.PHONY: install demo test bench lint dist first-hour clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml core/pyproject.toml conformance/pyproject.toml benchmarks/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "omnisession needs Python 3.11+: run make PYTHON=python3.11 ...")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e "core[openai,adk,cli]" -e conformance \
		$(foreach plugin,$(PLUGINS),-e "$(plugin)[test]") -e "benchmarks[all]" --group dev
	touch $@

demo: $(INSTALLED)
	$(BIN)/omnisession demo

test: $(INSTALLED)
	$(BIN)/pytest -n $(WORKERS)

bench: $(INSTALLED)
	$(PY) -m omnisession_bench.results

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict core/src conformance/src plugins/*/src benchmarks/src

# Every distribution: `make dist` builds each one's sdist, then its wheel FROM that sdist
# (so a file missing from the sdist fails here), into $(DIST)/, and runs
# `twine check --strict` on all of them. tests/test_packaging.py checks their metadata.
DISTRIBUTIONS := core conformance $(PLUGINS) benchmarks
DIST ?= dist

dist: $(INSTALLED)
	rm -rf $(DIST)
	for project in $(DISTRIBUTIONS); do \
		$(PY) -m build --quiet --no-isolation --outdir $(DIST) $$project || exit 1; \
	done
	$(BIN)/twine check --strict $(DIST)/*

# A new user's first hour: each README code block run in a fresh venv with only what the
# README says to install (built wheels from $(DIST)/ + PyPI). Slow: see tests/test_first_hour.py.
first-hour: dist
	OMNISESSION_FIRST_HOUR=$(abspath $(DIST)) $(BIN)/pytest -n 2 tests/test_first_hour.py

clean:
	rm -rf $(VENV) $(DIST) omnisession-demo.db omnisession-demo.db-*
