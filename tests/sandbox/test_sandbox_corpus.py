"""The real boundary: the hostile corpus runs in the sandbox with validation switched off
(no validator, no restricted builtins) and must be contained: nothing written outside the
sandbox, no secret read, no network, the host alive, and a clear report of how it ended."""

from __future__ import annotations

import glob
import json
import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.sandbox import runner
from engine.sandbox.child import THREAD_VARIABLES
from engine.sandbox.runner import run_source
from tests.sandbox.conftest import TEST_LIMITS
from tests.sandbox.corpus import CORPUS, DISABLED

SECRET_ENV = "sk-fake-5ecret-from-the-parent-environment"
# the parent's real secret variables, with fake values the child must never see
PARENT_SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-fake-parent-key-0b1c",
    "POLYGON_API_KEY": "fake-polygon-key-77aa",
    "FRED_API_KEY": "fake-fred-key-91ce",
    "MLTRAINER_COOKIE_KEY": "fake-cookie-key-4d2e",
    "REDIS_URL": "redis://:fake-redis-password-6f@127.0.0.1:6379/0",
}
SECRET_FILE_TEXT = "fake-secret-file-contents-7f3a9"
KNOWN_REASONS = {
    "ok", "error", "timeout", "cpu", "memory", "recursion", "file_size", "crash", "signal",
    "exit", "invalid_result", "result_too_large",
}  # fmt: skip


@dataclass
class Hostile:
    markers: Path
    secret_file: Path
    port: int


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, tcp_trap):
    root = tmp_path_factory.mktemp("hostile")
    markers = root / "markers"
    markers.mkdir()
    secret = root / "secret.txt"
    secret.write_text(SECRET_FILE_TEXT)
    secret.chmod(0o600)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLTRAINER_FAKE_SECRET", SECRET_ENV)
        for name, value in PARENT_SECRETS.items():
            patch.setenv(name, value)
        yield Hostile(markers, secret, tcp_trap.port)


@pytest.fixture(scope="module")
def nofile_before():
    return resource.getrlimit(resource.RLIMIT_NOFILE)


@pytest.fixture(scope="module")
def outcomes(hostile, small_prices, nofile_before):
    def one(case):
        source = case.render(str(hostile.markers / case.id), str(hostile.secret_file), hostile.port)
        return case.id, run_source(source, small_prices, {}, limits=TEST_LIMITS, validate=False)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(pool.map(one, CORPUS))
    results["_elapsed"] = time.monotonic() - started
    return results


def _leaks(run) -> list[str]:
    text = json.dumps(run.to_json(), default=str)
    secrets = [SECRET_ENV, SECRET_FILE_TEXT, os.environ["DATABASE_URL"], *PARENT_SECRETS.values()]
    return [secret for secret in secrets if secret in text]


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_contained(case, outcomes, hostile, machine_layers):
    run = outcomes[case.id]
    assert run.reason in KNOWN_REASONS, run.describe()
    assert run.exit_code is not None
    if case.stops is not None:
        assert run.reason in case.stops, (run.describe(), run.stderr[-500:])
    if case.child_error is not None:
        assert run.reason == "error" and case.child_error in run.error, run.describe()
    assert not (hostile.markers / case.id).exists(), f"{case.id} wrote outside the sandbox"
    assert not _leaks(run), f"{case.id} leaked a secret"
    assert len(run.stdout) <= TEST_LIMITS.max_output_bytes + 300
    assert len(run.stderr) <= TEST_LIMITS.max_output_bytes + 300
    for layer in ("rlimits", "network_namespace", "landlock", "seccomp"):
        if layer not in machine_layers:
            assert runner.layer_active(run.layers.get(layer)), (layer, run.layers.get(layer))
    assert run.layers.get("in_process_guard", "").startswith("off")


def test_nothing_escaped(outcomes, hostile, tcp_trap, nofile_before):
    assert list(hostile.markers.iterdir()) == []
    assert glob.glob("/tmp/mlt-fill-*") == []
    assert tcp_trap.connections == 0 and tcp_trap.received == b""
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == nofile_before
    assert os.environ["MLTRAINER_FAKE_SECRET"] == SECRET_ENV  # the host is untouched
    assert sum(1 for _ in range(1000)) == 1000  # and responsive


def test_child_environment_is_empty(outcomes):
    run = outcomes["own_environ"]
    assert run.ok and set(run.value) <= set(THREAD_VARIABLES)
    # the parent passes an empty environment; Python may add LC_CTYPE (locale coercion)
    assert run.layers["environment"] in (
        "at start: []; while user code runs: " + ", ".join(f"{v}=1" for v in THREAD_VARIABLES),
        "at start: [LC_CTYPE]; while user code runs: "
        + ", ".join(f"{v}=1" for v in THREAD_VARIABLES),
    )


def test_how_runs_were_stopped(outcomes):
    assert outcomes["infinite_loop"].reason in ("cpu", "timeout")
    assert outcomes["infinite_loop"].signal in ("SIGXCPU", "SIGKILL")
    assert outcomes["huge_allocation"].reason == "memory"
    assert outcomes["deep_recursion"].reason == "recursion"
    assert "Permission" in outcomes["open_secret"].error  # Landlock: no read outside
    assert "Permission" in outcomes["disk_fill_cwd"].error  # no write, even in its cwd
    assert "Operation not permitted" in outcomes["socket_connect"].error  # seccomp
    assert "Operation not permitted" in outcomes["kill_parent"].error
    assert "can't start new thread" in outcomes["thread_bomb"].error
    fork = outcomes["fork_bomb"]
    assert fork.reason == "error" and "Operation not permitted" in fork.error
    flood = outcomes["print_flood"]
    assert "output dropped" in flood.stdout or len(flood.stdout) >= 60_000 or not flood.stdout


def test_corpus_ran_in_parallel_reasonably_fast(outcomes):
    assert outcomes["_elapsed"] < 600


DISPATCH = [case for case in CORPUS if case.category == "dispatch"]


def test_dispatch_payloads_are_harmless_with_only_the_validator_bypassed(
    small_prices, hostile, monkeypatch
):
    """A validator bug alone (restricted builtins and guarded imports still on) must not
    let a string-dispatch payload reach eval, query, a writer or numpy's file functions."""
    from engine.sandbox import validator

    monkeypatch.setattr(validator, "validate", lambda source: None)

    def one(case):
        source = case.render(str(hostile.markers / case.id), str(hostile.secret_file), hostile.port)
        return case, run_source(source, small_prices, {}, limits=TEST_LIMITS)

    with ThreadPoolExecutor(max_workers=3) as pool:
        runs = list(pool.map(one, DISPATCH))
    stopped_early = (DISABLED, "not allowed in a dynamic action", "NameError")
    for case, run in runs:
        assert run.layers["in_process_guard"].startswith("restricted"), case.id
        assert run.reason == "error", (case.id, run.describe())
        # never reached the filesystem (Landlock's "Permission denied" would mean it had)
        assert "Errno" not in run.error, (case.id, run.error)
        if case.child_error is not None:
            assert any(text in run.error for text in stopped_early), (case.id, run.error)
        assert not (hostile.markers / case.id).exists(), case.id
