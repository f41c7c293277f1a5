"""The bundle's one schema: ``manifest.json`` at the root of every reproduction bundle.

A bundle is a zip holding this manifest, the data slices the steps read
(``data/<fingerprint>.parquet``), the stored results of the original runs
(``results/step_<n>.json``), the code of any dynamic action, the lock file, a
``reproduce.py`` and a notebook. ``python -m engine reproduce`` reads it back through
these models (``extra="forbid"``: a manifest that does not follow the schema is refused,
not guessed at).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

FORMAT: Literal["mltrainer-bundle"] = "mltrainer-bundle"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

SubjectKind = Literal["trial", "job", "goal", "conversation"]
SUBJECT_KINDS: tuple[str, ...] = ("trial", "job", "goal", "conversation")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Observation(_Strict):
    """What one run produced that a reproduction must match.

    ``metrics``: every number by name (a trial's fold means and hold-out values, or the
    numeric leaves of an action's values and the last value of each table column);
    ``digests``: SHA-256 of every numeric table column (the whole column must match);
    ``fingerprints``: the data each trial or result read; ``versions``: the libraries
    that computed it (recorded by trials; the bundling process's for other actions)."""

    metrics: dict[str, float | None] = Field(default_factory=dict)
    digests: dict[str, str] = Field(default_factory=dict)
    fingerprints: list[str] = Field(default_factory=list)
    versions: dict[str, str | None] = Field(default_factory=dict)
    trial_ids: list[int] = Field(default_factory=list)


class DatasetEntry(_Strict):
    """A recorded dataset a step read, and its slice in the bundle (``file``) when the
    reader could see it and a copy exists (remote sources: their cached slice)."""

    original_id: int
    source: str
    name: str
    symbols: list[Any] = Field(default_factory=list)
    rows: int | None = None
    start: str | None = None
    end: str | None = None
    fingerprint: str
    synthetic: bool = False
    provenance: dict[str, Any] = Field(default_factory=dict)
    file: str | None = None
    note: str | None = None


class DynamicCode(_Strict):
    """The code of a dynamic action a step ran (the exact version)."""

    name: str
    version: int
    description: str
    source: str
    source_hash: str
    parameters: dict[str, Any]
    file: str


class Step(_Strict):
    """One action call: what ran, with which parameters, and what it produced."""

    index: int
    action: str
    params: dict[str, Any]
    job_id: int | None = None
    dataset_ids: list[int] = Field(default_factory=list)
    expected: Observation
    result_file: str | None = None
    summary: str | None = None
    # markdown from the conversation that led to this call (notebook cells)
    context: list[tuple[str, str]] = Field(default_factory=list)


class Manifest(_Strict):
    format: Literal["mltrainer-bundle"] = FORMAT
    format_version: int = FORMAT_VERSION
    kind: SubjectKind
    subject_id: int
    title: str
    created_at: datetime
    created_by: str
    python: str
    platform: str
    versions: dict[str, str | None]
    lock_file: str | None = None
    steps: list[Step]
    datasets: list[DatasetEntry] = Field(default_factory=list)
    dynamic_actions: list[DynamicCode] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    closing: list[tuple[str, str]] = Field(default_factory=list)  # conversation after the last call

    def dataset(self, original_id: int) -> DatasetEntry | None:
        return next((d for d in self.datasets if d.original_id == original_id), None)
