"""Configuration from environment variables, then `.streamlit/secrets.toml`, then defaults.

Every setting has a working default so `make run` needs no configuration at all.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from storage.settings import PROJECT_ROOT as PROJECT_ROOT  # the project's root, re-exported
from storage.settings import (
    get_storage_settings,
    read,
    read_optional,
    reset_storage_settings,
)

DEFAULT_CLAUDE_MODEL = "claude-sonnet-5-5"
LOOP_PROPOSERS = ("auto", "claude", "bandit")


def _read(name: str, default: str) -> str:
    return read(name, default)


def _read_optional(name: str) -> str | None:
    return read_optional(name)


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    redis_url: str | None
    anthropic_api_key: str | None
    anthropic_base_url: str | None
    claude_model: str
    loop_proposer: str  # auto: Claude when a key is set, else the offline bandit
    polygon_api_key: str | None
    fred_api_key: str | None
    executor: str
    dask_address: str | None
    metrics_port: int
    cookie_key: str
    session_hours: float
    upload_limit_mb: int
    process_workers: int
    thread_workers: int
    log_to_stderr: bool = False  # containers: JSON log lines on stderr too, for the runtime
    # addresses/networks of reverse proxies whose X-Forwarded-For names the login's client
    trusted_proxies: str = ""
    # chat: long work whose estimate exceeds this many wall seconds (or that calls Claude)
    # stops at a confirmation showing the estimate
    chat_confirm_seconds: float = 30.0
    # chat: the longest message a turn accepts (longer ones are refused, not truncated)
    chat_max_chars: int = 8000

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def secret_values(self) -> list[str]:
        """Values that must never appear in a log line."""
        candidates = [
            self.anthropic_api_key,
            self.polygon_api_key,
            self.fred_api_key,
            self.cookie_key,
            _read_optional("MLTRAINER_AUDIT_KEY"),  # read by storage (the compliance chain)
        ]
        return [value for value in candidates if value and len(value) >= 6]


def _cookie_key(data_dir: Path) -> str:
    configured = _read_optional("MLTRAINER_COOKIE_KEY")
    if configured:
        return configured
    path = data_dir / "cookie_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # O_EXCL so two processes starting together cannot both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    # data dir, database and cache: storage/settings.py reads them (storage is below engine)
    stored = get_storage_settings()
    data_dir = stored.data_dir
    cores = os.cpu_count() or 2
    return Settings(
        data_dir=data_dir,
        database_url=stored.database_url,
        redis_url=stored.redis_url,
        anthropic_api_key=_read_optional("ANTHROPIC_API_KEY"),
        anthropic_base_url=_read_optional("ANTHROPIC_BASE_URL"),
        claude_model=_read("MLTRAINER_CLAUDE_MODEL", DEFAULT_CLAUDE_MODEL),
        loop_proposer=_read("MLTRAINER_LOOP_PROPOSER", "auto").strip().lower(),
        polygon_api_key=_read_optional("POLYGON_API_KEY"),
        fred_api_key=_read_optional("FRED_API_KEY"),
        executor=_read("MLTRAINER_EXECUTOR", "local"),
        dask_address=_read_optional("MLTRAINER_DASK_ADDRESS"),
        metrics_port=int(_read("MLTRAINER_METRICS_PORT", "9464")),
        cookie_key=_cookie_key(data_dir),
        session_hours=float(_read("MLTRAINER_SESSION_HOURS", "8")),
        upload_limit_mb=int(_read("MLTRAINER_UPLOAD_LIMIT_MB", "200")),
        process_workers=int(_read("MLTRAINER_PROCESS_WORKERS", str(cores))),
        thread_workers=int(_read("MLTRAINER_THREAD_WORKERS", str(max(4, cores)))),
        log_to_stderr=_read("MLTRAINER_LOG_STDERR", "0").strip().lower() in ("1", "true", "yes"),
        trusted_proxies=_trusted_proxies(),
        chat_confirm_seconds=float(_read("MLTRAINER_CHAT_CONFIRM_SECONDS", "30")),
        chat_max_chars=int(_read("MLTRAINER_CHAT_MAX_CHARS", "8000")),
    )


def _trusted_proxies() -> str:
    from engine.auth.clients import parse_networks

    value = _read("MLTRAINER_TRUSTED_PROXIES", "")
    try:
        parse_networks(value)
    except ValueError as error:
        raise ValueError(
            f"MLTRAINER_TRUSTED_PROXIES must list IP addresses or networks "
            f"(e.g. 10.0.0.0/8,127.0.0.1): {error}"
        ) from None
    return value


def reset_settings() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    get_settings.cache_clear()
    reset_storage_settings()
