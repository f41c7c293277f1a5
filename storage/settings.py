"""Where the data lives: the settings the storage layer needs, read without the engine.

Environment variables win over `.streamlit/secrets.toml`, then defaults (the same order
as :mod:`engine.config`, which builds the full settings on top of these readers).
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from storage.filemodes import ensure_private_dir

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def secrets_file() -> dict[str, str]:
    path = PROJECT_ROOT / ".streamlit" / "secrets.toml"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        raw = tomllib.load(handle)
    return {key: str(value) for key, value in raw.items() if not isinstance(value, dict)}


def read_optional(name: str) -> str | None:
    """The variable's value from the environment, else from secrets.toml, else None."""
    value = os.environ.get(name)
    if value:
        return value
    value = secrets_file().get(name)
    if value:
        return value
    return None


def read(name: str, default: str) -> str:
    """The variable's value (environment, then secrets.toml), else ``default``."""
    value = read_optional(name)
    return default if value is None else value


@dataclass(frozen=True)
class StorageSettings:
    data_dir: Path
    database_url: str
    redis_url: str | None


@lru_cache(maxsize=1)
def get_storage_settings() -> StorageSettings:
    data_dir = Path(read("MLTRAINER_DATA_DIR", str(PROJECT_ROOT / "data"))).resolve()
    ensure_private_dir(data_dir)  # 0700, and a umask of 077 for everything inside
    return StorageSettings(
        data_dir=data_dir,
        database_url=read("DATABASE_URL", f"sqlite:///{data_dir / 'mltrainer.db'}"),
        redis_url=read_optional("REDIS_URL"),
    )


def reset_storage_settings() -> None:
    """Forget cached settings (``engine.config.reset_settings`` calls this)."""
    get_storage_settings.cache_clear()
