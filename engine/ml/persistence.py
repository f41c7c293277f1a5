"""Saved models (skops) and the out-of-sample predictions of a trial (Parquet).

A trial's fitted final model is written with :func:`skops.io.dump` under
``settings.data_dir/models/`` (atomically: a temporary file, then a rename) and read
back by :func:`load_model` only after every type skops does not trust by default
has been checked against an allow-list of scikit-learn, XGBoost, LightGBM and NumPy
modules; anything else (a class from an arbitrary module) is refused, never loaded.

Beside the model, ``<name>.predictions.parquet`` holds the out-of-sample predictions
of every fold and of the hold-out, and ``<name>.equity.parquet`` the hold-out equity
curve of a price target (the trial detail view draws them).
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.actions.base import ActionError
from engine.lazy import pandas as pd

ALLOWED_MODULE_PREFIXES = ("sklearn.", "xgboost.", "lightgbm.", "numpy.")
# LightGBM keeps its params in an OrderedDict; a stacking ensemble on a time series keeps
# its inner splitter (plain integers) in ``cv``.
ALLOWED_TYPES = frozenset({"collections.OrderedDict", "engine.ml.splits.PurgedKFold"})


def models_dir() -> Path:
    from engine.config import get_settings

    path = Path(get_settings().data_dir) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_model_path() -> Path:
    """A fresh, unique file name (the trial id is only known once the row exists)."""
    return models_dir() / f"model_{uuid.uuid4().hex[:16]}.skops"


class _CompactJson:
    """``json`` for skops' writer without ``indent``: the schema of a forest holds
    thousands of objects, and indented output uses the pure-Python encoder (about half
    of the dump's time). The file is the same JSON, loaded the same way."""

    @staticmethod
    def dumps(obj: Any, **kwargs: Any) -> str:
        kwargs.pop("indent", None)
        return json.dumps(obj, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(json, name)


_dump_lock = threading.Lock()


@contextmanager
def _compact_schema():
    try:
        import skops.io._persist as writer
    except ImportError:  # a skops without this module: dump as it is
        yield
        return
    if getattr(writer, "json", None) is not json:
        yield
        return
    with _dump_lock:
        writer.json = _CompactJson()
        try:
            yield
        finally:
            writer.json = json


def save_model(estimator: Any, path: Path) -> Path:
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with _compact_schema():
            sio.dump(estimator, temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def is_allowed(type_name: str) -> bool:
    return type_name in ALLOWED_TYPES or type_name.startswith(ALLOWED_MODULE_PREFIXES)


def untrusted_types(path: Path) -> list[str]:
    import skops.io as sio

    return list(sio.get_untrusted_types(file=str(path)))


def load_model(path: str | Path) -> Any:
    """The estimator saved at ``path``; refuses files holding types outside the allow-list."""
    import skops.io as sio

    path = Path(path)
    if not path.exists():
        raise ActionError(
            f"The saved model {path.name} is missing; train the model again to predict with it."
        )
    types = untrusted_types(path)
    refused = sorted(name for name in types if not is_allowed(name))
    if refused:
        raise ActionError(
            f"Refusing to load {path.name}: it contains types outside the allow-list "
            f"({', '.join(refused)})."
        )
    return sio.load(str(path), trusted=types)


def remove_model(path: str | Path | None) -> None:
    if not path:
        return
    path = Path(path)
    for candidate in (path, *side_files(path).values()):
        candidate.unlink(missing_ok=True)


def side_files(model_path: str | Path) -> dict[str, Path]:
    base = Path(model_path)
    stem = base.name.removesuffix(".skops")
    return {
        "predictions": base.with_name(f"{stem}.predictions.parquet"),
        "equity": base.with_name(f"{stem}.equity.parquet"),
    }


def save_side_tables(
    model_path: Path, predictions: pd.DataFrame | None, equity: pd.DataFrame | None
) -> None:
    from engine.data.files import atomic_write_parquet

    paths = side_files(model_path)
    for name, frame in (("predictions", predictions), ("equity", equity)):
        if frame is not None and not frame.empty:
            atomic_write_parquet(paths[name], frame)


def load_side_tables(model_path: str | Path | None) -> dict[str, pd.DataFrame | None]:
    out: dict[str, pd.DataFrame | None] = {"predictions": None, "equity": None}
    if not model_path:
        return out
    for name, path in side_files(model_path).items():
        if path.exists():
            out[name] = pd.read_parquet(path)
    return out
