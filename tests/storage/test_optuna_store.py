"""Optuna's studies belong to the app database they were created with."""

from __future__ import annotations

import optuna
import pytest

from storage.optuna_store import optuna_url


def _study_names(url: str) -> list[str]:
    storage = optuna.storages.RDBStorage(url)
    try:
        return [summary.study_name for summary in optuna.get_all_study_summaries(storage)]
    finally:
        storage.remove_session()
        storage.engine.dispose()


def test_two_sqlite_databases_in_one_data_dir_keep_separate_studies(tmp_path):
    first = optuna_url(f"sqlite:///{tmp_path / 'one.db'}", tmp_path)
    second = optuna_url(f"sqlite:///{tmp_path / 'two.db'}", tmp_path)
    assert first == f"sqlite:///{tmp_path / 'one-optuna.db'}"
    assert first != second
    optuna.create_study(study_name="goal-1-linear", storage=first)
    assert _study_names(first) == ["goal-1-linear"]
    assert _study_names(second) == []


@pytest.mark.postgres
def test_a_postgres_schema_gets_its_own_optuna_schema(postgres_db, tmp_path):
    from tests.conftest import POSTGRES_ADMIN_URL

    url = optuna_url(postgres_db, tmp_path)
    assert "_optuna" in url and url != optuna_url(POSTGRES_ADMIN_URL, tmp_path)
    optuna.create_study(study_name="goal-1-tree", storage=url)
    assert _study_names(url) == ["goal-1-tree"]
