"""Fixtures for the ML tests: one BLAS/OpenMP thread per test process.

The machine's two cores are shared; multi-threaded OpenMP models (hist gradient
boosting, LightGBM) run ten times slower on tiny data when they fight for them."""

from __future__ import annotations

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _single_thread():
    with threadpool_limits(limits=1):
        yield
