"""Datasets: the provenance of every dataset a trial or an analyst used.

A dataset is identified by ``(source, fingerprint)``: recording the same content
from the same source twice returns the first row's id, so trials that used the
same numbers point at the same dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from storage.access import PRIVATE_DATASET_SOURCES, OwnerScope
from storage.db import session_scope
from storage.models import Dataset


@dataclass(frozen=True)
class DatasetRecord:
    id: int
    name: str
    source: str
    symbols: list[Any]
    start_date: str | None
    end_date: str | None
    rows: int
    fingerprint: str
    is_synthetic: bool
    provenance: dict[str, Any]
    path: str | None
    user_id: int | None
    fetched_at: datetime


def _record(row: Dataset) -> DatasetRecord:
    return DatasetRecord(
        **{field: getattr(row, field) for field in DatasetRecord.__dataclass_fields__}
    )


def find_dataset(source: str, fingerprint: str) -> DatasetRecord | None:
    with session_scope() as session:
        row = session.scalars(
            select(Dataset)
            .where(Dataset.source == source, Dataset.fingerprint == fingerprint)
            .order_by(Dataset.id)
            .limit(1)
        ).first()
        return _record(row) if row else None


def record_dataset(
    *,
    name: str,
    source: str,
    symbols: list[Any],
    start_date: str | None,
    end_date: str | None,
    rows: int,
    fingerprint: str,
    is_synthetic: bool = False,
    provenance: dict[str, Any] | None = None,
    path: str | None = None,
    user_id: int | None = None,
    fetched_at: datetime | None = None,
) -> int:
    """Insert a dataset row and return its id; an existing ``(source, fingerprint)``
    row is reused (its id returned; a missing ``path`` is filled in). A unique index
    makes two simultaneous inserts of the same data end with one row."""
    fields = dict(
        name=name,
        source=source,
        symbols=symbols,
        start_date=start_date,
        end_date=end_date,
        rows=rows,
        fingerprint=fingerprint,
        is_synthetic=is_synthetic,
        provenance=provenance,
        path=path,
        user_id=user_id,
        fetched_at=fetched_at,
    )
    try:
        return _insert_or_reuse(**fields)
    except IntegrityError:  # another process inserted it between our check and insert
        return _insert_or_reuse(**fields)


def _insert_or_reuse(
    *,
    name,
    source,
    symbols,
    start_date,
    end_date,
    rows,
    fingerprint,
    is_synthetic,
    provenance,
    path,
    user_id,
    fetched_at,
) -> int:
    with session_scope() as session:
        existing = session.scalars(
            select(Dataset)
            .where(Dataset.source == source, Dataset.fingerprint == fingerprint)
            .order_by(Dataset.id)
            .limit(1)
        ).first()
        if existing is not None:
            if path and not existing.path:
                existing.path = path
            return existing.id
        row = Dataset(
            name=name[:200],
            source=source[:32],
            symbols=list(symbols),
            start_date=start_date,
            end_date=end_date,
            rows=int(rows),
            fingerprint=fingerprint,
            is_synthetic=bool(is_synthetic),
            provenance=dict(provenance or {}),
            path=path,
            user_id=user_id,
        )
        if fetched_at is not None:
            row.fetched_at = fetched_at
        session.add(row)
        session.flush()
        return row.id


def get_dataset(dataset_id: int) -> DatasetRecord | None:
    with session_scope() as session:
        row = session.get(Dataset, dataset_id)
        return _record(row) if row else None


def list_datasets(
    scope: OwnerScope, *, source: str | None = None, limit: int = 100
) -> list[DatasetRecord]:
    """Most recent first, of the datasets ``scope`` admits: uploads of the owners it
    admits, and every dataset from a provider (``PRIVATE_DATASET_SOURCES``)."""
    with session_scope() as session:
        query = select(Dataset).order_by(Dataset.id.desc()).limit(limit)
        if source is not None:
            query = query.where(Dataset.source == source)
        owned = scope.where(Dataset.user_id)
        if owned is not None:
            query = query.where(or_(Dataset.source.not_in(PRIVATE_DATASET_SOURCES), owned))
        return [_record(row) for row in session.scalars(query)]


def count_datasets(*, source: str | None = None) -> int:
    with session_scope() as session:
        query = select(func.count()).select_from(Dataset)
        if source is not None:
            query = query.where(Dataset.source == source)
        return session.scalar(query) or 0


def set_path(dataset_id: int, path: str | None) -> None:
    with session_scope() as session:
        session.execute(update(Dataset).where(Dataset.id == dataset_id).values(path=path))


def delete_dataset(dataset_id: int) -> None:
    with session_scope() as session:
        session.execute(delete(Dataset).where(Dataset.id == dataset_id))
