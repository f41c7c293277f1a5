"""Files of the data layer under ``settings.data_dir``.

- ``datasets/<fingerprint>.parquet``: the stored copy of a recorded dataset
  (uploads, remote fetches, synthetic data). Content-addressed, so writing the
  same data twice is harmless.
- ``cache/<source>/<key>.parquet`` + ``.json``: the persistent copy of a remote
  fetch (see :mod:`engine.data.remote_cache`).

Every write goes to a temporary file in the same directory, then ``os.replace``
renames it into place: a reader never sees a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from engine.actions.base import ActionError


def data_dir() -> Path:
    from engine.config import get_settings

    return get_settings().data_dir


def datasets_dir() -> Path:
    path = data_dir() / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cache_dir(source: str) -> Path:
    path = data_dir() / "cache" / source
    path.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_parquet(path: Path, frame: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        frame.to_parquet(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, payload: dict[str, Any]) -> None:
    atomic_write_bytes(path, json.dumps(payload, sort_keys=True, default=str).encode())


def read_parquet(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    if isinstance(frame.index, pd.DatetimeIndex) and frame.index.unit != "ns":
        frame.index = frame.index.as_unit("ns")
    return frame


def dataset_path(fingerprint: str) -> Path:
    return datasets_dir() / f"{fingerprint}.parquet"


def save_frame(frame: pd.DataFrame, fingerprint: str) -> Path:
    """Store ``frame`` content-addressed by its fingerprint; returns the path."""
    path = dataset_path(fingerprint)
    if not path.exists():
        atomic_write_parquet(path, frame)
    return path


def read_dataset_table(dataset_id: int) -> pd.DataFrame:
    from storage.repositories import datasets

    record = datasets.get_dataset(int(dataset_id))
    if record is None:
        raise ActionError(f"Dataset {dataset_id} does not exist (list_datasets shows the ids).")
    if not record.path:
        raise ActionError(
            f"Dataset {dataset_id} ({record.source}) has no stored table; "
            "reload it with load_prices from its source."
        )
    path = Path(record.path)
    if not path.exists():
        raise ActionError(
            f"The stored file of dataset {dataset_id} is missing ({path.name}); "
            "upload or fetch it again."
        )
    return read_parquet(path)
