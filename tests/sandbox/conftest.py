"""Sandbox fixtures: real bundled prices, hostile-environment helpers and small limits.

The sandbox fails closed: without every kernel layer (rlimits, network namespace,
Landlock, seccomp) generated code does not run. The session fixture below probes this
machine; for a layer the machine lacks it sets MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS
(the administrator's opt-out) for this test directory only, says so in a warning, and
the tests that need the layer skip naming it. On the reference machine (Linux 6.18,
Landlock ABI 7, libseccomp, CAP_SYS_ADMIN) every layer is granted and nothing is waived.
"""

from __future__ import annotations

import os
import socket
import threading
import warnings

import pandas as pd
import pytest

from engine.sandbox import runner
from engine.sandbox.runner import SandboxLimits


@pytest.fixture(scope="session", autouse=True)
def machine_layers():
    """The required layers this machine lacks (empty here); waived for these tests only."""
    variables = (runner.ALLOW_MISSING_VARIABLE, runner.DISABLE_VARIABLE)
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.pop(runner.DISABLE_VARIABLE, None)
    missing = runner.layer_policy(runner.active_layers(refresh=True))["missing"]
    if missing:
        os.environ[runner.ALLOW_MISSING_VARIABLE] = ",".join(missing)
        warnings.warn(
            f"this machine lacks sandbox layers {missing}: tests/sandbox waive them with "
            f"{runner.ALLOW_MISSING_VARIABLE}={','.join(missing)}; tests needing them skip",
            stacklevel=1,
        )
    else:
        os.environ.pop(runner.ALLOW_MISSING_VARIABLE, None)
    yield tuple(missing)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def require_layers(machine_layers, *names: str) -> None:
    """Skip (naming the layer) when this machine cannot grant one of ``names``."""
    lacking = [name for name in names if name in machine_layers]
    if lacking:
        pytest.skip(f"this machine lacks the sandbox layer(s) {', '.join(lacking)}")


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
