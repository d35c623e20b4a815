# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test bench lint mutation system-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $(VENV)/.installed $@

## run: install what is needed and start the catalog on its embedded SQLite default
run: $(VENV)/.installed
	$(BIN)/service-catalog serve

## system-deps: the PostgreSQL server binaries, Node.js with npm and Chromium from Debian packages, when missing
system-deps:
	@./scripts/system-deps.sh

## test: install what is needed (Python packages, PostgreSQL server), check the layers
## (.importlinter), types (mypy strict), lint and formatting (ruff) of src, tests and bench,
## and run every test
test: $(VENV)/.installed-test system-deps
	$(BIN)/lint-imports
	$(BIN)/mypy src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/pytest -n 2 --dist loadfile -q

## bench: run the benchmarks; each prints its figures, its limit and the ratio
bench: $(VENV)/.installed-test
	$(BIN)/python -m bench

## mutation: mutation score of core/query.py, core/jsonindex.py and resources/ids.py (mutmut;
## each mutant is judged by the fast unit tests only); survivors must be explained in
## tests/mutation-equivalents.md
mutation: $(VENV)/.installed-test
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python scripts/mutation_score.py

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

clean:
	rm -rf $(VENV) .pytest_cache mutants
