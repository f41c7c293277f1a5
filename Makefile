# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test lint typecheck security audit migrate worker bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.runtime $@

migrate: $(VENV)/.runtime
	$(BIN)/python -m engine migrate

run: migrate
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.headless true

worker: $(VENV)/.runtime
	$(BIN)/python -m engine worker

lint: $(VENV)/.dev
	$(BIN)/ruff check .

# Static security scan (bandit): medium severity and up fails, except the findings
# justified in bandit.yaml / deploy/security/bandit-baseline.json.
security: $(VENV)/.dev
	$(BIN)/bandit -q -c bandit.yaml -b deploy/security/bandit-baseline.json -ll \
		-r app.py engine storage ui pages tools deploy/dask

# Enforced layers (import-linter contracts in pyproject.toml) and mypy over the core.
typecheck: $(VENV)/.dev
	$(BIN)/lint-imports
	$(BIN)/mypy engine storage

test: lint typecheck security
	$(BIN)/python -m pytest

# Known vulnerabilities in the installed dependencies (needs the PyPI vulnerability
# service, so it is not part of `make test`; CI runs it as its own step).
audit: $(VENV)/.dev
	$(BIN)/pip-audit --strict --progress-spinner off --skip-editable

bench: $(VENV)/.dev
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
