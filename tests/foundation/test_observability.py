"""JSON logs with secrets redacted, safe across processes; Prometheus metrics."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import stat
import urllib.request

from engine.config import get_settings, reset_settings
from engine.observability.logging import JsonFormatter, configure_logging, redact


def test_redaction_masks_secret_keys_and_values():
    entry = {"message": "key sk-ant-SECRET123 used", "api_key": "x", "nested": {"password": "p"}}
    cleaned = redact(entry, ["sk-ant-SECRET123"])
    assert cleaned == {"message": "key *** used", "api_key": "***", "nested": {"password": "***"}}


def test_json_formatter_writes_one_object_per_line_with_extras():
    record = logging.makeLogRecord(
        {"msg": "login %s", "args": ("alice",), "levelname": "INFO", "name": "mltrainer.auth"}
    )
    record.password = "hunter2"
    line = JsonFormatter(["hunter2"]).format(record)
    parsed = json.loads(line)
    assert parsed["message"] == "login alice" and parsed["extra"]["password"] == "***"
    assert "hunter2" not in line


def _log_from_child(index: int, data_dir: str) -> None:
    os.environ["MLTRAINER_DATA_DIR"] = data_dir
    reset_settings()
    configure_logging()
    for line in range(200):
        logging.getLogger("mltrainer.test").info("child %s line %s", index, line)


def test_log_file_is_shared_safely_by_several_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("MLTRAINER_DATA_DIR", str(tmp_path))
    reset_settings()
    try:
        context = multiprocessing.get_context("spawn")
        children = [
            context.Process(target=_log_from_child, args=(i, str(tmp_path))) for i in range(3)
        ]
        for child in children:
            child.start()
        for child in children:
            child.join(60)
        assert [child.exitcode for child in children] == [0, 0, 0]
        lines = (tmp_path / "logs" / "mltrainer.jsonl").read_text().splitlines()
        parsed = [json.loads(line) for line in lines]
        from_children = [p for p in parsed if p["logger"] == "mltrainer.test"]
        assert len(from_children) == 600
    finally:
        reset_settings()


def test_cookie_key_is_generated_once_with_owner_only_permissions(tmp_path, monkeypatch):
    monkeypatch.setenv("MLTRAINER_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("MLTRAINER_COOKIE_KEY", raising=False)
    reset_settings()
    try:
        first = get_settings().cookie_key
        reset_settings()
        assert get_settings().cookie_key == first and len(first) == 64
        mode = stat.S_IMODE(os.stat(tmp_path / "cookie_key").st_mode)
        assert mode == 0o600
    finally:
        reset_settings()


def test_metrics_endpoint_aggregates_counters_with_conventional_names():
    from engine.observability import metrics

    metrics.LOGINS.labels("success").inc()
    metrics.ACTION_CALLS.labels("example", "succeeded").inc()
    metrics.ACTION_SECONDS.labels("example").observe(0.02)
    metrics.PAGE_VIEWS.labels("Chat").inc()
    metrics.CACHE_REQUESTS.labels("memory", "hit").inc()
    # Port 0 cannot be discovered from prometheus_client, so bind a known free port.
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    metrics._server_port = None
    port = metrics.start_metrics_server(free)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert 'mltrainer_logins_total{outcome="success"}' in body
    assert "mltrainer_action_calls_total" in body
    assert "mltrainer_action_duration_seconds_bucket" in body
    assert "mltrainer_db_query_duration_seconds" in body
    assert "mltrainer_cache_requests_total" in body
    assert "mltrainer_page_views_total" in body


def _log_one_line(tmp_path, **env) -> tuple[str, str]:
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import logging\n"
        "from engine.observability.logging import configure_logging\n"
        "configure_logging()\n"
        "logging.getLogger('mltrainer.test').info('hello with key %s', 'sk-ant-SECRET1234')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env=dict(
            os.environ,
            MLTRAINER_DATA_DIR=str(tmp_path),
            ANTHROPIC_API_KEY="sk-ant-SECRET1234",
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_containers_can_have_the_json_log_lines_on_stderr(tmp_path):
    stdout, stderr = _log_one_line(tmp_path, MLTRAINER_LOG_STDERR="1")
    assert stdout == ""  # stdout stays the CLI's
    ours = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert [entry["message"] for entry in ours] == ["hello with key ***"]
    assert "SECRET1234" not in stderr
    in_file = (tmp_path / "logs" / "mltrainer.jsonl").read_text()
    assert "hello with key ***" in in_file  # the file is written as well

    _stdout, quiet = _log_one_line(tmp_path / "default")
    assert "hello with key" not in quiet
