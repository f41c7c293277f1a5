"""Issue 15, finding 4: the sandbox fails closed, and holds regardless of layers.

* Without one of the kernel layers (rlimits, network namespace, Landlock, seccomp) no
  generated code runs unless an administrator waives exactly that layer with
  MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS. A missing layer is produced for real: the
  child is told not to apply it (MLTRAINER_SANDBOX_DISABLE_LAYERS / ``disable_layers``),
  nothing about the kernel is mocked.
* Whatever the layers: the child never sees the parent's secrets, cannot attach to or
  read the parent (non-dumpable parent, capability-less child), cannot renice or move
  other processes, and its wall-clock limit holds even when it stops its parent.
* The parent reads the child's result with bounded work and memory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path

import pytest

from engine.sandbox import runner, service
from engine.sandbox.runner import InvalidResult, SandboxLimits, parse_json, run_source
from tests.sandbox.conftest import TEST_LIMITS, require_layers

ROOT = Path(__file__).resolve().parents[2]
GOOD = "def run(data):\n    print('user code ran')\n    return float(data.iloc[-1].sum())\n"
VARIABLE = runner.ALLOW_MISSING_VARIABLE


# ------------------------------------------------------------------------ the policy


def test_default_requires_every_layer_and_the_waiver_is_exact():
    assert runner.required_layers({}) == runner.REQUIRED_LAYERS
    environ = {VARIABLE: " Landlock , netns,bogus,"}
    assert runner.waived_layers(environ) == (("landlock", "network_namespace"), ("bogus",))
    assert runner.required_layers(environ) == ("rlimits", "seccomp")
    assert SandboxLimits().require is None  # resolved from the environment at run time


@pytest.mark.parametrize("layer", runner.REQUIRED_LAYERS)
def test_a_missing_layer_refuses_by_default(layer, small_prices, monkeypatch):
    monkeypatch.delenv(VARIABLE, raising=False)
    limits = replace(TEST_LIMITS, disable_layers=(layer,))
    run = run_source(GOOD, small_prices, limits=limits)
    assert run.reason == "sandbox_unavailable", run.describe()
    assert run.stdout == "" and run.value is None  # no user code ran
    assert run.layers[layer] == "off (disabled by configuration)"
    message = run.describe()
    assert f"could not apply {layer}" in message and "fail closed" in message
    assert f"{VARIABLE}={layer}" in message  # the opt-out, named exactly
    assert runner.GRANT_HINTS[layer] in message  # and how to grant the layer


def test_the_opt_out_runs_with_exactly_the_waived_layers(small_prices, monkeypatch):
    limits = replace(TEST_LIMITS, disable_layers=("landlock", "network_namespace"))
    monkeypatch.setenv(VARIABLE, "landlock")  # one of the two missing layers
    run = run_source(GOOD, small_prices, limits=limits)
    assert run.reason == "sandbox_unavailable" and "network_namespace" in run.error
    assert "could not apply landlock" not in run.error
    monkeypatch.setenv(VARIABLE, "landlock,netns")
    run = run_source(GOOD, small_prices, limits=limits)
    assert run.ok, run.describe()
    assert run.stdout == "user code ran\n"
    assert run.value == pytest.approx(float(small_prices.iloc[-1].sum()))


def test_the_environment_switch_reaches_runs_and_the_probe(small_prices, monkeypatch):
    monkeypatch.setenv(runner.DISABLE_VARIABLE, "seccomp")
    monkeypatch.delenv(VARIABLE, raising=False)
    run = run_source(GOOD, small_prices, limits=TEST_LIMITS)
    assert run.reason == "sandbox_unavailable" and "seccomp" in run.error
    try:
        status = service.sandbox_status(refresh=True)
        assert not status["runs"] and status["refusing"] == ["seccomp"]
        assert "libseccomp" in status["hints"]["seccomp"]
        rows = {row["layer"]: row for row in status["layers"]}
        assert rows["seccomp"]["state"] == "missing" and rows["seccomp"]["how to grant"]
        monkeypatch.setenv(VARIABLE, "seccomp")
        status = service.sandbox_status()
        assert status["runs"] and status["waived_and_missing"] == ["seccomp"]
    finally:
        monkeypatch.delenv(runner.DISABLE_VARIABLE)
        runner.active_layers(refresh=True)


def test_all_layers_are_granted_here_and_the_default_runs(small_prices, machine_layers):
    require_layers(machine_layers, *runner.REQUIRED_LAYERS)
    status = service.sandbox_status()
    assert status["runs"] and status["missing"] == [] and status["waived"] == []
    run = run_source(GOOD, small_prices, limits=TEST_LIMITS)
    assert run.ok and run.layers["capabilities"] in ("all dropped", "none held")
    assert run.layers["wall_clock_timer"].startswith("SIGKILL after")


# ------------------------------------------------------------- whatever the layers

PARENT_SECRETS = {
    "ANTHROPIC_API_KEY": "sk-ant-fake-0a9f",
    "POLYGON_API_KEY": "polygon-fake-51b2",
    "FRED_API_KEY": "fred-fake-c3d4",
    "DATABASE_URL": "postgresql://user:fake-db-pass-e5@127.0.0.1/x",
    "REDIS_URL": "redis://:fake-redis-pass-f6@127.0.0.1:6379/0",
    "MLTRAINER_COOKIE_KEY": "fake-cookie-key-a7b8",
}
WEAK = ("landlock", "seccomp")  # the layers that would otherwise stop these attacks

SNOOP = """
import ctypes, os

def run(data):
    found = {"environ_keys": float(len(os.environ))}
    parent = os.getppid()
    try:
        found["parent_environ"] = float(len(open(f"/proc/{parent}/environ", "rb").read()))
    except OSError as error:
        found["parent_environ_errno"] = float(error.errno)
    try:
        found["parent_mem"] = float(len(open(f"/proc/{parent}/mem", "rb").read(1)))
    except OSError as error:
        found["parent_mem_errno"] = float(error.errno)
    libc = ctypes.CDLL(None, use_errno=True)
    found["ptrace_attach"] = float(libc.ptrace(16, parent, None, None))
    found["ptrace_errno"] = float(ctypes.get_errno())
    for key in os.environ:
        print(key, os.environ[key])
    return found
"""


def test_no_secrets_and_no_attach_even_without_landlock_and_seccomp(small_prices, monkeypatch):
    for name, value in PARENT_SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(VARIABLE, ",".join(WEAK))
    limits = replace(TEST_LIMITS, disable_layers=WEAK)
    run = run_source(SNOOP, small_prices, limits=limits, validate=False)
    assert run.ok, run.describe()
    text = json.dumps(run.to_json())
    for value in PARENT_SECRETS.values():
        assert value not in text
    assert run.value["environ_keys"] <= 6  # the thread variables (and LC_CTYPE) only
    assert "parent_environ" not in run.value and "parent_mem" not in run.value
    assert run.value["ptrace_attach"] == -1.0 and run.value["ptrace_errno"] == 1.0  # EPERM
    assert runner.protect_parent().startswith("non-dumpable")


def test_seccomp_keeps_other_processes_scheduling_intact(small_prices, machine_layers):
    require_layers(machine_layers, "seccomp")
    victim = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=-1)
    try:
        before = os.getpriority(os.PRIO_PROCESS, victim.pid)
        affinity = os.sched_getaffinity(victim.pid)
        source = f"""
import ctypes, os

def run(data):
    libc = ctypes.CDLL(None, use_errno=True)
    outcome = {{}}
    calls = {{
        "setpriority": lambda: os.setpriority(os.PRIO_PROCESS, {victim.pid}, 19),
        "setpriority_user": lambda: os.setpriority(os.PRIO_USER, 0, 19),
        "sched_setaffinity": lambda: os.sched_setaffinity({victim.pid}, {{0}}),
        "sched_setscheduler": lambda: os.sched_setscheduler(
            {victim.pid}, os.SCHED_BATCH, os.sched_param(0)
        ),
    }}
    for name, call in calls.items():
        try:
            call()
            outcome[name] = 0.0
        except OSError as error:
            outcome[name] = float(error.errno)
    libc.syscall.restype = ctypes.c_long
    outcome["ioprio_set"] = float(libc.syscall(251, 1, {victim.pid}, (3 << 13)))
    outcome["ioprio_errno"] = float(ctypes.get_errno())
    return outcome
"""
        run = run_source(source, small_prices, limits=TEST_LIMITS, validate=False)
        assert run.ok, run.describe()
        for name in ("setpriority", "setpriority_user", "sched_setaffinity", "sched_setscheduler"):
            assert run.value[name] == 1.0, (name, run.value)  # EPERM
        assert run.value["ioprio_set"] == -1.0 and run.value["ioprio_errno"] == 1.0
        assert os.getpriority(os.PRIO_PROCESS, victim.pid) == before
        assert os.sched_getaffinity(victim.pid) == affinity
        assert os.sched_getscheduler(victim.pid) == os.SCHED_OTHER
    finally:
        victim.kill()
        victim.wait()


STOPPER = """
import json, sys
import pandas as pd
from engine.sandbox.runner import SandboxLimits, run_source

source = (
    "import os, signal, time\\n"
    "def run(data):\\n"
    "    os.kill(os.getppid(), signal.SIGSTOP)\\n"
    "    time.sleep(3600)\\n"
    "    return 1\\n"
)
data = pd.DataFrame({"X": [1.0]}, index=pd.DatetimeIndex(["2020-01-02"]))
limits = SandboxLimits(wall_seconds=3, require=(), disable_layers=("landlock", "seccomp"))
run = run_source(source, data, validate=False, limits=limits)
print(json.dumps({"reason": run.reason, "signal": run.signal, "wall": run.wall_seconds}))
"""


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None


def _children(pid: int) -> list[tuple[int, str]]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and int(fields[1]) == pid:
                found.append((int(entry), fields[0]))
    return found


def test_wall_clock_kill_works_while_the_child_has_stopped_its_parent(tmp_path):
    """The child SIGSTOPs the process that started it (possible once seccomp and Landlock
    are waived), so the parent's own deadline cannot fire; the child's kernel timer must
    still kill it. The test process watches from outside and resumes the parent after."""
    script = tmp_path / "stopper.py"
    script.write_text(STOPPER)
    parent = subprocess.Popen(
        [sys.executable, str(script)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    stopped_at = killed_at = None
    started = time.monotonic()
    try:
        while time.monotonic() - started < 60:
            fields = _stat(parent.pid)
            if fields is None:
                break
            if fields[0] == "T" and stopped_at is None:
                stopped_at = time.monotonic()
            children = _children(parent.pid)
            if stopped_at is not None and children and all(s == "Z" for _, s in children):
                killed_at = time.monotonic()  # dead, unreaped: the parent is still stopped
                assert _stat(parent.pid)[0] == "T"
                break
            time.sleep(0.05)  # polling the kernel's view, bounded by the deadline above
    finally:
        os.kill(parent.pid, signal.SIGCONT)
        output, _ = parent.communicate(timeout=60)
    assert stopped_at is not None, "the child never stopped its parent"
    assert killed_at is not None, "the child outlived its wall-clock limit"
    assert killed_at - started < 3 + runner.KILL_MARGIN_SECONDS + 20
    report = json.loads(output.strip().splitlines()[-1])
    assert report["reason"] == "timeout" and report["signal"] == "SIGKILL"


def test_fork_is_refused(small_prices, machine_layers):
    require_layers(machine_layers, "seccomp")
    source = "import os\ndef run(data):\n    return float(os.fork())\n"
    run = run_source(source, small_prices, limits=TEST_LIMITS, validate=False)
    assert run.reason == "error" and "Operation not permitted" in run.error
    assert run.layers["rlimits"]["processes"] in (
        0,
        "0 (not enforced for root; seccomp blocks fork and clone)",
    )


# ------------------------------------------------------------- reading the result


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested 100000 levels"),
        (b'{"a":' * 50 + b"1" + b"}" * 50, "nested 50 levels"),
        (b'{"ok": true, "result": {"type": "number", "value": ' + b"9" * 5000 + b"}}", "digits"),
        (b'{"ok": true, "result": {"type": "number", "value": NaN}}', "NaN"),
        (b'{"ok": true, "result": {"type": "number", "value": -Infinity}}', "-Infinity"),
        (b"[" + b"[]," * 2_000_000 + b"[]]", "arrays/objects"),
        (b"[" + b"0," * 4_000_000 + b"0]", "values"),
        (b'{"ok": tru', "not valid JSON"),
    ],
    ids=["deep", "deep-objects", "huge-int", "nan", "infinity", "containers", "values",
         "truncated"],
)  # fmt: skip
def test_hostile_result_json_is_refused_with_a_reason(raw, why):
    with pytest.raises(InvalidResult, match=why):
        parse_json(raw)


def test_out_of_range_numbers_are_refused_when_decoding():
    payload = parse_json(b'{"type": "number", "value": 1e999}')
    with pytest.raises(InvalidResult, match="out of range"):
        runner.decode_result(payload)
    frame = parse_json(
        b'{"type": "frame", "columns": ["a"], "data": [[-1e400]], "index": {"values": [1]}}'
    )
    with pytest.raises(InvalidResult, match="out-of-range cell"):
        runner.decode_result(frame)


def test_brackets_inside_strings_do_not_count():
    text = (
        '{"ok": true, "stdout": "' + "[[[[{" * 1000 + '", "result": {"type": "number", "value": 2}}'
    )
    assert parse_json(text.encode())["result"]["value"] == 2


def test_a_32_mb_result_parses_in_bounded_memory():
    """The largest accepted result (just under the 32 MB cap) costs a bounded amount."""
    row = "[" + ",".join(["123456.789012"] * 100) + "]"
    rows = (32 * 1024 * 1024 - 200) // (len(row) + 1)
    raw = ('{"type": "frame", "data": [' + ",".join([row] * rows) + "]}").encode()
    assert len(raw) <= TEST_LIMITS.max_result_bytes
    tracemalloc.start()
    try:
        payload = parse_json(raw)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(payload["data"]) == rows
    assert peak < 400 * 1024 * 1024, f"peak {peak / 2**20:.0f} MB"


HOSTILE_WRITER = """
import os

def run(data):
    payload = b"[" * 200000 + b"]" * 200000
    for fd in range(3, 40):
        try:
            os.lseek(fd, 0, 0)
            os.ftruncate(fd, 0)
            os.write(fd, payload)
        except OSError:
            pass
    os._exit(0)
"""


def test_a_child_writing_hostile_json_gets_a_clear_error(small_prices):
    run = run_source(HOSTILE_WRITER, small_prices, limits=TEST_LIMITS, validate=False)
    assert run.reason == "invalid_result", run.describe()
    assert "nested" in run.error
