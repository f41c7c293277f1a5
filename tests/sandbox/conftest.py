"""Sandbox fixtures: real bundled prices, hostile-environment helpers and small limits."""

from __future__ import annotations

import socket
import threading

import pandas as pd
import pytest

from engine.sandbox.runner import SandboxLimits

# Small limits keep the suite fast; wall clock is generous because the test machine may
# be busy (CPU seconds, not wall seconds, are what the CPU limit counts).
TEST_LIMITS = SandboxLimits(cpu_seconds=3, wall_seconds=40, memory_mb=1024)


@pytest.fixture(scope="session")
def prices() -> pd.DataFrame:
    from engine.data.loader import load_prices

    return load_prices(["AAPL", "MSFT", "KO", "PEP", "JPM"], "bundled").close()


@pytest.fixture(scope="session")
def small_prices(prices) -> pd.DataFrame:
    return prices.iloc[-300:]


class TcpTrap:
    """A TCP server on 127.0.0.1 that counts every connection and byte it receives."""

    def __init__(self) -> None:
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.server.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            connection.settimeout(0.5)
            try:
                self.received += connection.recv(4096)
            except OSError:
                pass
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.server.close()


@pytest.fixture(scope="module")
def tcp_trap():
    trap = TcpTrap()
    yield trap
    trap.close()
