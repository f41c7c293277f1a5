"""Recorded library versions name the version of the module that actually ran."""

from __future__ import annotations

import importlib

import pytest

from engine.ml.recording import LIBRARIES, library_versions


@pytest.mark.parametrize("module", ["xgboost", "lightgbm", "numpy", "pandas", "scipy", "optuna"])
def test_recorded_version_is_the_imported_modules_version(module):
    assert module in LIBRARIES
    # xgboost is installed as the CPU-only distribution `xgboost-cpu`: its version must
    # still be recorded under "xgboost" (a lookup of the distribution "xgboost" alone
    # finds nothing and recorded None).
    assert library_versions()[module] == importlib.import_module(module).__version__


def test_sklearn_recorded_under_its_import_name():
    import sklearn

    assert library_versions()["sklearn"] == sklearn.__version__
