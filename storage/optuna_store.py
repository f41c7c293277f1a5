"""Where Optuna keeps its studies: beside the app's data, never in the app's tables.

Optuna's schema has its own `trials` and `alembic_version` tables, which would collide
with ours. On PostgreSQL the studies live in the same database, in a schema of their
own (`optuna`); on SQLite (one file per database) they live in `optuna.db` next to the
app's database.
"""

from __future__ import annotations

import threading
from functools import lru_cache

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_lock = threading.Lock()


def optuna_url(database_url: str, data_dir) -> str:
    from storage.db import normalise_url

    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{data_dir / 'optuna.db'}"
    with _lock:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE SCHEMA IF NOT EXISTS optuna"))
        engine.dispose()
    return url.update_query_dict({"options": "-csearch_path=optuna"}).render_as_string(
        hide_password=False
    )


@lru_cache(maxsize=4)
def _storage(url: str):
    import optuna

    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def optuna_storage():
    from engine.config import get_settings

    settings = get_settings()
    return _storage(optuna_url(settings.database_url, settings.data_dir))
