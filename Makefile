# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test lint typecheck security audit migrate worker bench clean lock gpu

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs come from the lock files (every package pinned, with its SHA-256 hashes):
# requirements*.txt are the human-readable top-level pins, `make lock` re-resolves them.
$(VENV)/.runtime: requirements.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.dev: requirements-dev.lock | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	touch $(VENV)/.runtime $@

# Re-lock after editing requirements.txt or requirements-dev.txt (tests/deploy/test_locks.py
# fails until you do). Resolved for the image's platform: CPython 3.11.11 (any 3.11.3+
# resolves the same), Linux x86_64 manylinux_2_28. Versions already in a lock are kept
# unless a pin moves them; the dev lock is constrained to the runtime lock's versions.
UV_PIN := $(shell grep -E '^uv==' requirements-dev.txt)
LOCK := $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock"

lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet "$(UV_PIN)"
	$(LOCK) requirements.txt -o requirements.lock
	$(LOCK) requirements-dev.txt -c requirements.lock -o requirements-dev.lock

# Optional: swap the CPU-only XGBoost for its CUDA build (requirements-gpu.txt; docs/ml.md).
gpu: $(VENV)/.runtime
	$(BIN)/python -m pip uninstall --yes --quiet xgboost-cpu
	$(BIN)/python -m pip install --quiet -r requirements-gpu.txt

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

# The suite runs on TEST_WORKERS pytest-xdist processes (default: the machine's 2 cores),
# a whole test file per worker (module fixtures and the executor's stacks stay together);
# each worker has its own data directory, SQLite files, PostgreSQL schemas and Redis db
# (tests/conftest.py). TEST_WORKERS=0 runs in this process. The Dask executor matrix runs
# only with MLTRAINER_DASK_TESTS=1, which .ci/run sets.
TEST_WORKERS ?= 2
test: lint typecheck security
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# Known vulnerabilities in the installed dependencies (needs the PyPI vulnerability
# service, so it is not part of `make test`; CI runs it as its own step).
audit: $(VENV)/.dev
	$(BIN)/pip-audit --strict --progress-spinner off --skip-editable

bench: $(VENV)/.dev
	for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache .import_linter_cache
