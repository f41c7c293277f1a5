"""JSON-lines logs, rotated safely by several processes, with secrets redacted."""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from datetime import UTC, datetime
from typing import Any


def _import_portalocker_without_redis() -> None:
    """portalocker, the handler's file lock, imports its optional Redis lock, and with it
    all of redis-py (about 0.1 s of CPU per process), whenever redis is installed. The
    handler uses only file locks, so ``portalocker.redis`` is hidden while portalocker
    loads (portalocker then binds RedisLock to a class whose constructor raises
    ImportError; nothing here constructs one) and importable again afterwards."""
    if "portalocker" in sys.modules or "portalocker.redis" in sys.modules:
        return
    sys.modules["portalocker.redis"] = None  # type: ignore[assignment]
    try:
        import portalocker  # noqa: F401
    finally:
        if sys.modules.get("portalocker.redis", ...) is None:
            del sys.modules["portalocker.redis"]


_import_portalocker_without_redis()

from concurrent_log_handler import ConcurrentRotatingFileHandler  # noqa: E402

_SECRET_KEY_PATTERN = re.compile(r"(password|passwd|secret|token|api[_-]?key|cookie)", re.I)
_configured_lock = threading.Lock()
_configured_pid: int | None = None


def redact(value, secrets: list[str]):
    """Mask secret values anywhere in a structure, and any value under a secret-looking key."""
    if isinstance(value, dict):
        return {
            key: "***" if _SECRET_KEY_PATTERN.search(str(key)) else redact(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact(item, secrets) for item in value]
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, "***")
        return value
    return value


class JsonFormatter(logging.Formatter):
    _standard = set(vars(logging.makeLogRecord({})))

    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        extra = {k: v for k, v in vars(record).items() if k not in self._standard}
        extra.pop("message", None)
        if extra:
            entry["extra"] = extra
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(redact(entry, self.secrets), default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Attach the rotating JSON handler to the root logger, once per process."""
    global _configured_pid
    with _configured_lock:
        if _configured_pid == os.getpid():
            return
        from engine.config import get_settings

        settings = get_settings()
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        handler = ConcurrentRotatingFileHandler(
            str(settings.log_dir / "mltrainer.jsonl"),
            maxBytes=10 * 1024 * 1024,
            backupCount=5,
            encoding="utf-8",
        )
        handler.setFormatter(JsonFormatter(settings.secret_values()))
        handler.set_name("mltrainer-json")
        handlers: list[logging.Handler] = [handler]
        if settings.log_to_stderr:
            # stderr, not stdout: the CLI's stdout carries its one JSON answer.
            console = logging.StreamHandler(sys.stderr)
            console.setFormatter(JsonFormatter(settings.secret_values()))
            console.set_name("mltrainer-json-stderr")
            handlers.append(console)
        root = logging.getLogger()
        for existing in list(root.handlers):
            if existing.get_name() in ("mltrainer-json", "mltrainer-json-stderr"):
                root.removeHandler(existing)
        for each in handlers:
            root.addHandler(each)
        logging.getLogger("mltrainer").setLevel(level)
        if root.level > level or root.level == logging.NOTSET:
            root.setLevel(level)
        _configured_pid = os.getpid()
