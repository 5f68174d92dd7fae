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

.PHONY: install demo test bench lint clean

install: $(INSTALLED)

$(INSTALLED): pyproject.toml core/pyproject.toml conformance/pyproject.toml benchmarks/pyproject.toml $(wildcard plugins/*/pyproject.toml)
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "omnisession needs Python 3.11+: run make PYTHON=python3.11 ...")'
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=25.1"
	$(PY) -m pip install --quiet -e "core[openai,adk]" -e conformance \
		$(foreach plugin,$(PLUGINS),-e "$(plugin)[test]") -e "benchmarks[all]" --group dev
	touch $@

demo: $(INSTALLED)
	$(BIN)/omnisession demo

test: $(INSTALLED)
	$(BIN)/pytest -n $(WORKERS) --dist loadgroup

bench: $(INSTALLED)
	$(PY) -m omnisession_bench.results

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict core/src conformance/src plugins/*/src

clean:
	rm -rf $(VENV) omnisession-demo.db omnisession-demo.db-*
