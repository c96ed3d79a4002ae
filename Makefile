# The two commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
LABSTAMP := $(VENV)/.installed-lab
SCENARIO ?= data/scenarios/firma1.yaml
OUT ?= report/firma1

.PHONY: demo test lab lint bench clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

$(LABSTAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,lab]'
	touch $@

demo: $(STAMP)
	$(BIN)/mailsim simulate $(SCENARIO) --out $(OUT)
	@echo "Report: $(OUT)/report.html"

lint: $(STAMP)
	$(BIN)/ruff check mailsim tests bench
	$(BIN)/ruff format --check mailsim tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

lab: $(LABSTAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python bench/sim_speed.py

clean:
	rm -rf $(VENV) report .pytest_cache .mypy_cache .ruff_cache
