"""Where Optuna keeps its studies: with the app's database, never in the app's tables.

Optuna's schema has its own `trials` and `alembic_version` tables, which would collide
with ours. On PostgreSQL the studies live in the same database, in a schema of their
own (`optuna`, or `<schema>_optuna` when the app's URL sets a search_path); on SQLite
they live in a file beside the app's database file (`mltrainer.db` ->
`mltrainer-optuna.db`). Either way, pointing the app at another database also points
it at other studies: study names (`goal-<id>-<family>`) restart with the goal ids.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

_lock = threading.Lock()
_SEARCH_PATH = re.compile(r"-csearch_path=([A-Za-z_][A-Za-z0-9_]*)")


def optuna_url(database_url: str, data_dir) -> str:
    from storage.db import normalise_url

    url = make_url(normalise_url(database_url))
    if url.get_backend_name() == "sqlite":
        if url.database in (None, "", ":memory:"):
            return f"sqlite:///{Path(data_dir) / 'optuna.db'}"
        database = Path(url.database)
        return f"sqlite:///{database.with_name(database.stem + '-optuna.db')}"
    app_schema = _SEARCH_PATH.search(str(url.query.get("options", "")))
    schema = f"{app_schema.group(1)}_optuna" if app_schema else "optuna"
    with _lock:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        engine.dispose()
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@lru_cache(maxsize=4)
def _storage(url: str):
    import optuna

    return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})


def optuna_storage():
    from storage.settings import get_storage_settings

    settings = get_storage_settings()
    return _storage(optuna_url(settings.database_url, settings.data_dir))
