"""What the start-up paths import, from ``python -X importtime`` (module names, no timings).

Every CLI call, spawned pool worker and Dask worker loads the whole action catalogue, so a
library imported at module level anywhere under it is paid by each of them: the Anthropic
SDK costs about a second of CPU, scikit-learn and scipy.stats most of another, although
most processes never call Claude or train a model. Those libraries load when an action
that needs them runs. The checks are on module presence, not on microseconds, so a busy
machine cannot fail them; bench/bench_startup.py measures the time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Never imported by the catalogue, a worker's preparation or one option through the CLI;
# each loads where it is used (the reason says where).
HEAVY = {
    "anthropic": "the Claude SDK: engine.llm.claude imports it when Claude is first called",
    "httpx2": "the Claude SDK's HTTP client: imported with the SDK",
    "sklearn": "scikit-learn: imported by the ML actions when they run",
    "scipy.stats": "imported by the functions that test or rank (feedback, autonomy, ml)",
    "scipy.signal": "lfilter: imported by the indicator and risk functions that filter",
    "scipy.optimize": "imported by the portfolio optimisers",
    "xgboost": "an ML catalogue backend",
    "lightgbm": "an ML catalogue backend",
    "optuna": "the goal loop's sampler: imported when a study is opened",
    "plotly": "figures are drawn by ui/presenters and the trials pages, not by actions",
    "statsmodels": "a dependency of arch (GARCH), imported by risk_report's GARCH fit",
    "arch": "GARCH: imported by risk_report's GARCH fit",
    "streamlit": "engine never imports Streamlit",
    "bcrypt": "the login service's hashing: engine.auth loads it on first use",
    "alembic": "storage.migrate loads it only when the schema is behind the migration files",
    "redis": "storage.cache loads it; the log handler's portalocker loads without its Redis lock",
}

# Loaded by the actions that use them, but never by the catalogue or a worker's
# preparation (one option through the CLI builds a DataFrame, so it does load pandas).
AT_FIRST_USE = {
    "pandas": "modules under the catalogue import it as engine.lazy.pandas (on first use)",
    "pyarrow": "imported by pandas",
    "engine.ml.workflows": "the training code: engine.ml.actions imports it when it runs",
    "engine.ml.pipeline": "the training code: imported by engine.ml.workflows",
    "engine.ml.predict": "imported by the predict action when it runs",
}

# Every third-party package the catalogue may load (besides what `python -c pass` loads).
# A new entry is a deliberate decision: each costs every CLI call and worker start.
CATALOGUE_LIBRARIES = {
    "numpy",
    "pydantic",  # typed parameter models
    "pydantic_core",
    "annotated_types",
    "typing_extensions",
    "typing_inspection",
    "sqlalchemy",  # the dynamic actions are read from the database
    "greenlet",
    "prometheus_client",  # storage metrics
    "snappy",  # imported by prometheus_client
}

OPTION = {"spot": 100, "strike": 105, "maturity_years": 0.5, "rate": 0.03, "volatility": 0.2}


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(
        os.environ,
        MLTRAINER_DATA_DIR=str(tmp_path),
        DATABASE_URL=f"sqlite:///{tmp_path / 'budget.db'}",
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "metrics"),
    )
    env.pop("MLTRAINER_EXTRA_ACTION_MODULES", None)  # test-only actions are not the budget
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def imported_modules(args: list[str], env: dict[str, str]) -> dict[str, list[str]]:
    """Each module ``python -X importtime <args>`` imported, with its chain of importers
    (outermost first)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    # importtime prints a module after the modules it imported, indented two spaces deeper.
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        name_column = line.split("|")[2]
        name = name_column.strip()
        if name == "imported package":
            continue
        rows.append((len(name_column) - len(name_column.lstrip()), name))
    chains: dict[str, list[str]] = {}
    for index, (depth, name) in enumerate(rows):
        parents = []
        wanted = depth
        for later_depth, later_name in rows[index + 1 :]:
            if later_depth < wanted:
                parents.append(later_name)
                wanted = later_depth
        chains.setdefault(name, list(reversed(parents)))
    return chains


def _heavy_offenders(
    chains: dict[str, list[str]], forbidden: dict[str, str] = HEAVY
) -> list[str]:
    found = []
    for name, chain in chains.items():
        for heavy, why in forbidden.items():
            if name == heavy or name.startswith(heavy + "."):
                importer = next(
                    (m for m in reversed(chain) if m.split(".")[0] in ("engine", "storage")),
                    "?",
                )
                found.append(f"{heavy} (imported via {importer}; {why})")
                break
    return sorted(set(found))


def _top_level(chains: dict[str, list[str]]) -> set[str]:
    # private names are the interpreter's (_sysconfigdata_*, _distutils_hack), not libraries
    return {name.split(".")[0] for name in chains if not name.startswith("_")}


@pytest.fixture(scope="module")
def interpreter_modules(tmp_path_factory) -> set[str]:
    """What the interpreter loads for `python -c pass` (site hooks, .pth files)."""
    env = _env(tmp_path_factory.mktemp("bare"))
    return _top_level(imported_modules(["-c", "pass"], env))


def test_the_catalogue_imports_no_heavy_library(tmp_path):
    chains = imported_modules(
        ["-c", "from engine.actions.registry import load_catalog; print(len(load_catalog()))"],
        _env(tmp_path),
    )
    # (importlib.import_module, which loads the actions modules, is not itself logged)
    assert "engine.finance.options" in chains and "engine.ml.params" in chains
    assert _heavy_offenders(chains) == []


def test_the_catalogue_defers_pandas_and_the_training_code(tmp_path):
    chains = imported_modules(
        ["-c", "from engine.actions.registry import load_catalog; print(len(load_catalog()))"],
        _env(tmp_path),
    )
    assert "engine.ml.params" in chains and "engine.data.loader" in chains
    assert _heavy_offenders(chains, AT_FIRST_USE) == []


def test_the_catalogue_loads_only_the_named_libraries(tmp_path, interpreter_modules):
    chains = imported_modules(
        ["-c", "from engine.actions.registry import load_catalog; load_catalog()"],
        _env(tmp_path),
    )
    third_party = (
        _top_level(chains)
        - interpreter_modules
        - set(sys.stdlib_module_names)
        - {"engine", "storage", "org"}  # org.python.core: pickle's probe for Jython
    )
    unexpected = {
        name: " < ".join(reversed(chains.get(name, [])[-3:]))
        for name in third_party - CATALOGUE_LIBRARIES
    }
    assert unexpected == {}, (
        "the catalogue imports libraries outside CATALOGUE_LIBRARIES (name: nearest "
        f"importers): {unexpected}"
    )


def test_preparing_a_worker_process_imports_no_heavy_library(tmp_path):
    # What a spawned pool process or a Dask worker runs before its first job.
    chains = imported_modules(
        [
            "-c",
            "from engine.runtime import RUNNER; RUNNER.prepare()\n"
            "from engine.actions import get_action; get_action('train_model')",
        ],
        _env(tmp_path),
    )
    assert _heavy_offenders(chains) == []
    assert _heavy_offenders(chains, AT_FIRST_USE) == []


def test_one_option_through_the_cli_imports_no_heavy_library(tmp_path):
    env = _env(tmp_path)
    args = ["-m", "engine", "action", "price_option", "--params", json.dumps(OPTION)]
    subprocess.run(  # migrate first, so the measured run is the common case (schema current)
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, timeout=300, check=True
    )
    chains = imported_modules(args, env)
    assert "scipy.special" in chains  # the pricer's normal CDF, imported when it prices
    assert _heavy_offenders(chains) == []
