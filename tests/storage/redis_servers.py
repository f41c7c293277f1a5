"""Throw-away redis-server processes for fault tests (OOM, read-only replicas)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

from tests.conftest import services_required


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def redis_server() -> Iterator[int]:
    """A fresh redis-server on a free port; yields the port once it accepts connections."""
    binary = shutil.which("redis-server")
    if binary is None:
        if services_required():
            pytest.fail("redis-server binary not installed and MLTRAINER_REQUIRE_SERVICES=1")
        pytest.skip("redis-server binary not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:  # blocks until the server says it is ready (or exits)
            if "Ready to accept connections" in line:
                break
        else:
            pytest.fail(f"redis-server on port {port} exited before it was ready")
        yield port
    finally:
        process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
