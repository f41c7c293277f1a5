"""Test-only actions for the executor suite (and bench/bench_executor.py).

Worker processes import this module through MLTRAINER_EXTRA_ACTION_MODULES, so these
actions run in the real process pool and on real Dask workers.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from engine.actions import ActionError, ActionResult
from engine.actions.base import Action
from engine.actions.registry import add

NAMES = (
    "test_echo",
    "test_io_echo",
    "test_sleep",
    "test_sleep_once",
    "test_fail",
    "test_crash",
    "test_progress",
    "test_spin",
    "test_noop",
    "test_policy_probe",
    "test_implausible",
    "test_count_inline",
    "test_count_io",
    "test_pool_sleep",
    "test_until_released",
    "test_until_released_once",
)

# How often a CountedParams model was validated in this process (see test_policy_install).
VALIDATIONS: list[int] = []


class EchoParams(BaseModel):
    value: int = 0


class SleepParams(BaseModel):
    seconds: float = Field(1.0, ge=0)
    step: float = Field(0.05, gt=0)


class FailParams(BaseModel):
    message: str = "this went wrong"


class ProgressParams(BaseModel):
    points: int = Field(1000, ge=0)
    spike_at: int = -1
    nan_at: int = -1


class SpinParams(BaseModel):
    iterations: int = Field(1_000_000, ge=0)


class ReleaseParams(BaseModel):
    folder: str  # where the job and the test leave marker files for each other


class CountedParams(BaseModel):
    value: int = 0

    @model_validator(mode="after")
    def _count(self) -> CountedParams:
        VALIDATIONS.append(self.value)
        return self


def _where() -> dict:
    return {"pid": os.getpid()}


def test_echo(params: EchoParams, ctx) -> ActionResult:
    return ActionResult(f"{params.value} doubled", {"doubled": params.value * 2, **_where()})


def test_io_echo(params: EchoParams, ctx) -> ActionResult:
    time.sleep(0.01)
    return ActionResult(f"{params.value} doubled", {"doubled": params.value * 2, **_where()})


def _sleep(params: SleepParams, ctx) -> ActionResult:
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < params.seconds:
        ctx.raise_if_cancelled()
        time.sleep(min(params.step, params.seconds - elapsed))
    return ActionResult("slept", {"seconds": params.seconds, **_where()})


def test_sleep(params: SleepParams, ctx) -> ActionResult:
    return _sleep(params, ctx)


def test_sleep_once(params: SleepParams, ctx) -> ActionResult:
    return _sleep(params, ctx)


def test_pool_sleep(params: SleepParams, ctx) -> ActionResult:
    """Waits on a blocking call in a thread pool, as a library call would (the call itself
    cannot be interrupted; the action can stop waiting for it)."""
    from concurrent.futures import ThreadPoolExecutor
    from concurrent.futures import TimeoutError as Pending

    pool = ThreadPoolExecutor(1, thread_name_prefix="test-pool-sleep")
    try:
        future = pool.submit(time.sleep, params.seconds)
        while True:
            ctx.raise_if_cancelled()
            ctx.progress(0.0, waiting=1.0)  # tells a test the blocking call has started
            try:
                future.result(timeout=params.step)
                break
            except Pending:
                continue
    finally:
        pool.shutdown(wait=False)
    return ActionResult("slept in a pool", {"seconds": params.seconds, **_where()})


def test_fail(params: FailParams, ctx) -> ActionResult:
    raise ActionError(params.message)


def test_crash(params: FailParams, ctx) -> ActionResult:
    raise ZeroDivisionError(params.message)


def test_progress(params: ProgressParams, ctx) -> ActionResult:
    for i in range(params.points):
        loss = 1.0 / (1 + i)
        if i == params.spike_at:
            loss = 1000.0
        if i == params.nan_at:
            loss = float("nan")  # a diverged step: stored as null
        ctx.progress((i + 1) / params.points, loss=loss, step=i)
    return ActionResult("reported", {"points": params.points})


def test_spin(params: SpinParams, ctx) -> ActionResult:
    total = 0
    for i in range(params.iterations):
        total += i * i % 7
    return ActionResult("spun", {"total": total, **_where()})


def test_noop(params: EchoParams, ctx) -> ActionResult:
    return ActionResult("ok")


# A Monte Carlo price with twice the compliance cap on paths (the model allows it).
OVER_CAP_OPTION = {
    "spot": 100,
    "strike": 100,
    "maturity_years": 1,
    "rate": 0.05,
    "volatility": 0.2,
    "method": "monte_carlo",
    "paths": 10_000_000,
}


def test_policy_probe(params: EchoParams, ctx) -> ActionResult:
    """Inside whichever process runs the job: is an over-cap call blocked here?"""
    from engine.actions import call
    from engine.actions.base import PolicyBlocked
    from engine.actions.hooks import installed_policies

    try:
        call("price_option", OVER_CAP_OPTION, ctx.user)
    except PolicyBlocked as blocked:
        rule = blocked.rule
    else:
        rule = None
    return ActionResult(
        "probed", {"blocked_by": rule, "policies": installed_policies(), **_where()}
    )


def test_implausible(params: EchoParams, ctx) -> ActionResult:
    """A result the after-call rules refuse (an accuracy above 1)."""
    return ActionResult("too good", {"accuracy": 3.0, **_where()})


def test_until_released(params: ReleaseParams, ctx) -> ActionResult:
    """Reports progress (metric ``step`` = 0, 1, 2, ...) and checks for cancellation until
    the test creates ``release`` in the folder; ``running`` and ``returning`` tell the test
    where it is, without the database (which the test may have cut off)."""
    folder = Path(params.folder)
    (folder / "running").touch()
    step = 0
    while not (folder / "release").exists():
        ctx.progress(min(0.99, step / 10_000), step=step)
        ctx.raise_if_cancelled()
        step += 1
        time.sleep(0.005)
    (folder / "returning").touch()
    return ActionResult("released", {"steps": step, **_where()})


def test_count(params: CountedParams, ctx) -> ActionResult:
    return ActionResult("counted", {"value": params.value})


def _actions() -> list[Action]:
    common = {"long": True, "min_role": "viewer", "category": "test"}
    return [
        Action("test_echo", "Test: doubles a number.", EchoParams, test_echo, **common),
        Action(
            "test_io_echo",
            "Test: doubles a number (I/O-bound).",
            EchoParams,
            test_io_echo,
            cpu_bound=False,
            **common,
        ),
        Action(
            "test_sleep",
            "Test: sleeps, checking for cancellation.",
            SleepParams,
            test_sleep,
            **common,
        ),
        Action(
            "test_sleep_once",
            "Test: sleeps; not safe to retry.",
            SleepParams,
            test_sleep_once,
            idempotent=False,
            **common,
        ),
        Action(
            "test_pool_sleep",
            "Test: waits on a blocking call in a thread pool (I/O-bound).",
            SleepParams,
            test_pool_sleep,
            cpu_bound=False,
            **common,
        ),
        Action("test_fail", "Test: fails with a clear message.", FailParams, test_fail, **common),
        Action("test_crash", "Test: a bug.", FailParams, test_crash, **common),
        Action(
            "test_progress",
            "Test: reports many progress points.",
            ProgressParams,
            test_progress,
            **common,
        ),
        Action("test_spin", "Test: CPU-bound busy loop.", SpinParams, test_spin, **common),
        Action("test_noop", "Test: does nothing.", EchoParams, test_noop, **common),
        Action(
            "test_policy_probe",
            "Test: calls an over-cap action where the job runs.",
            EchoParams,
            test_policy_probe,
            **common,
        ),
        Action(
            "test_implausible",
            "Test: an implausible metric.",
            EchoParams,
            test_implausible,
            **common,
        ),
        Action(
            "test_until_released",
            "Test: reports progress until released.",
            ReleaseParams,
            test_until_released,
            **common,
        ),
        Action(
            "test_until_released_once",
            "Test: reports progress until released; not safe to retry (I/O-bound).",
            ReleaseParams,
            test_until_released,
            idempotent=False,
            cpu_bound=False,
            **common,
        ),
        Action(
            "test_count_inline",
            "Test: counts validations (quick).",
            CountedParams,
            test_count,
            **{**common, "long": False},
        ),
        Action(
            "test_count_io",
            "Test: counts validations (job, thread).",
            CountedParams,
            test_count,
            cpu_bound=False,
            **common,
        ),
    ]


def register_all() -> None:
    """Add the test actions to the registry (idempotent; runs on import, so worker
    processes that import this module through MLTRAINER_EXTRA_ACTION_MODULES get them)."""
    for action in _actions():
        add(action, replace=True)


def unregister_all() -> None:
    from engine.actions.registry import remove

    for name in NAMES:
        remove(name)


register_all()
