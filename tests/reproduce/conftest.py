"""Fixtures of the reproduction tests: analysts with a trained trial on an uploaded
table (walk-forward along its date column) and a conversation that ran a backtest."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from engine.actions import ActionContext, get_action
from tests.data.conftest import data_dir, fake_apis  # noqa: F401  (the Polygon test's fixtures)

TABLE_TRIAL = {
    "target_column": "label",
    "feature_columns": ["x1", "x2"],
    "time_column": "date",
    "model_id": "sklearn.DecisionTreeClassifier",
    "model_params": {"max_depth": 3},
    "n_splits": 3,
    "embargo": 2,
    "seed": 3,
}


def upload(user, seed: int = 1, rows: int = 240) -> int:
    from engine.data.upload import import_upload

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "date": pd.bdate_range("2021-01-01", periods=rows).strftime("%Y-%m-%d"),
            "x1": rng.normal(size=rows).round(6),
            "x2": rng.normal(size=rows).round(6),
        }
    )
    frame["label"] = (frame["x1"] + rng.normal(scale=0.5, size=rows) > 0).astype(int)
    return import_upload(
        frame.to_csv(index=False).encode(), f"table-{seed}.csv", user=user
    ).dataset_id


def train(user, dataset_id: int, **overrides):
    action = get_action("train_model")
    params = action.params_model(**{**TABLE_TRIAL, "dataset_id": dataset_id, **overrides})
    return action.run(params, ActionContext(user=user))


@pytest.fixture
def people(fresh_db, make_user):
    return {
        "alice": make_user("alice", "analyst"),
        "bob": make_user("bob", "analyst"),
        "vic": make_user("vic", "viewer"),
    }


@pytest.fixture
def alice_trial(people):
    dataset_id = upload(people["alice"])
    result = train(people["alice"], dataset_id)
    return result.values["trial_id"], dataset_id


def members(payload: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def rezip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def manifest_of(payload: bytes) -> dict:
    return json.loads(members(payload)["manifest.json"])
