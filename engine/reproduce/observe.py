"""What a run produced, as an :class:`Observation`: the numbers a reproduction must
match. The bundle observes the original run and the replay observes the new one with
these same functions, so both sides are measured alike.

- A run that recorded trials (train, compare, tune, ensemble) is known by its trials:
  each one's fold means and hold-out values (``Trial.flat_metrics``), the data
  fingerprint and library versions it recorded.
- Any other action by its stored result: every numeric leaf of ``values`` (ids,
  timings and versions left out: they differ between databases and machines, not
  between results) and of each table column its SHA-256 and last value.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from engine.lazy import pandas as pd
from engine.reproduce.manifest import Observation
from engine.trials.record import Trial

# Keys whose values name rows of one database or time one machine, not results.
_VOLATILE_SUFFIXES = ("_id", "_ids", "_seconds", "_s", "_at", "_epoch", "_mb")
_VOLATILE_KEYS = frozenset({"version", "versions", "elapsed", "seconds", "cache", "job", "sandbox"})


def _volatile(key: str) -> bool:
    key = key.lower()
    return key in _VOLATILE_KEYS or key.endswith(_VOLATILE_SUFFIXES)


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def numeric_leaves(values: Any, prefix: str = "") -> tuple[dict[str, float | None], list[str]]:
    """``{"a.b[0]": 1.5, ...}`` of every number in ``values``, and every ``fingerprint``
    string found (the data a result was computed from)."""
    numbers: dict[str, float | None] = {}
    fingerprints: list[str] = []
    if isinstance(values, dict):
        for key, value in values.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if str(key) == "fingerprint" and isinstance(value, str):
                fingerprints.append(value)
                continue
            if _volatile(str(key)):
                continue
            inner, prints = numeric_leaves(value, name)
            numbers.update(inner)
            fingerprints += prints
    elif isinstance(values, list):
        for position, value in enumerate(values):
            inner, prints = numeric_leaves(value, f"{prefix}[{position}]")
            numbers.update(inner)
            fingerprints += prints
    elif isinstance(values, (int, float)) and not isinstance(values, bool):
        numbers[prefix] = _number(values)
    return numbers, fingerprints


def column_digest(column: pd.Series) -> str:
    """SHA-256 of a numeric column's float64 bytes (NaN canonical)."""
    array = pd.to_numeric(column, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    array = np.where(np.isnan(array), np.nan, array).astype("<f8")
    return hashlib.sha256(array.tobytes()).hexdigest()


def table_observation(
    tables: dict[str, Any],
) -> tuple[dict[str, float | None], dict[str, str]]:
    """Of every numeric column of every stored table (rows as objects, or column by
    column as results are stored now): the last value and the digest."""
    from engine.actions.base import frame_from_json

    numbers: dict[str, float | None] = {}
    digests: dict[str, str] = {}
    for name, rows in sorted(tables.items()):
        frame = frame_from_json(rows)
        for column in frame.columns:
            if _volatile(str(column)):
                continue
            values = frame[column]
            if not (
                pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            ):
                continue
            label = f"{name}.{column}"
            digests[label] = column_digest(values)
            numbers[f"{label} (last)"] = _number(values.iloc[-1]) if len(values) else None
    return numbers, digests


def of_trials(trials: list[Trial]) -> Observation:
    """The numbers of the trials one run recorded (in id order)."""
    metrics: dict[str, float | None] = {}
    prints: list[str] = []
    versions: dict[str, str | None] = {}
    ordered = sorted(trials, key=lambda t: t.id)
    for position, trial in enumerate(ordered):
        label = "" if len(ordered) == 1 else f"trial {position + 1} ({trial.model_id}): "
        metrics[f"{label}status"] = 1.0 if trial.status == "succeeded" else 0.0
        for name, value in trial.flat_metrics().items():
            metrics[f"{label}{name}"] = _number(value)
        recorded = trial.reproducibility
        if recorded.fingerprint and recorded.fingerprint not in prints:
            prints.append(recorded.fingerprint)
        versions.update(recorded.versions)
    return Observation(
        metrics=metrics,
        fingerprints=prints,
        versions=versions,
        trial_ids=[t.id for t in ordered],
    )


def of_result(result: dict[str, Any] | None, versions: dict[str, str | None]) -> Observation:
    """The numbers of a stored action result (``jobs.result`` JSON)."""
    result = result or {}
    metrics, prints = numeric_leaves(result.get("values") or {})
    table_numbers, digests = table_observation(result.get("tables") or {})
    metrics.update(table_numbers)
    return Observation(
        metrics=metrics,
        digests=digests,
        fingerprints=list(dict.fromkeys(prints)),
        versions=dict(versions),
    )


def of_job(job_id: int) -> Observation:
    """A finished job's observation: its trials when it recorded any, else its result."""
    from engine.ml.recording import library_versions
    from engine.trials.record import parse_all
    from storage.repositories import jobs
    from storage.repositories import trials as trial_repo

    job = jobs.get_job(job_id)
    if job is None:
        raise LookupError(f"job {job_id} vanished")
    recorded = parse_all(trial_repo.trials_for_job(job_id))
    if recorded:
        observation = of_trials(recorded)
    else:
        observation = of_result(job.result, library_versions())
        observation.metrics["succeeded"] = 1.0 if job.status == "succeeded" else 0.0
    return observation
