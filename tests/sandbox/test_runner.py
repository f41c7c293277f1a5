"""The sandbox runner: how runs end, limits on what comes back, cancellation, the
in-process guard, the layers it reports, and that the host keeps working afterwards."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pandas as pd
import pytest

from engine.sandbox import runner, validator
from engine.sandbox.runner import SandboxLimits, run_source
from tests.sandbox.conftest import TEST_LIMITS

SPIN = "def run(data):\n    total = 0\n    while total >= 0:\n        total += 1\n"


def test_wall_clock_timeout_kills_the_process_group(small_prices):
    limits = replace(TEST_LIMITS, cpu_seconds=60, wall_seconds=4)
    started = time.monotonic()
    run = run_source(SPIN, small_prices, limits=limits)
    assert run.reason == "timeout" and run.signal == "SIGKILL"
    assert time.monotonic() - started < 15
    assert "wall clock" in run.describe()


def test_cancellation_stops_the_run(small_prices):
    flag = threading.Event()
    threading.Timer(1.5, flag.set).start()
    run = run_source(SPIN, small_prices, limits=TEST_LIMITS, cancelled=flag.is_set)
    assert run.reason == "cancelled"


def test_validation_failure_never_starts_a_process(small_prices):
    run = run_source("import os\ndef run(data):\n    return 1\n", small_prices)
    assert (run.reason, run.rule, run.line) == ("validation", "import_not_allowed", 1)
    assert run.exit_code is None and run.to_json()["stopped"] == "validation"


def test_in_process_guard_when_the_validator_is_bypassed(small_prices, monkeypatch):
    """A validator bug must still meet restricted builtins and guarded imports."""
    monkeypatch.setattr(validator, "validate", lambda source: None)
    run = run_source("def run(data):\n    import os\n    return 1\n", small_prices)
    assert run.reason == "error" and "not allowed in a dynamic action" in run.error
    assert run.line == 2
    run = run_source("def run(data):\n    return open('/etc/hostname').read()\n", small_prices)
    assert run.reason == "error" and "NameError" in run.error
    assert run.layers["in_process_guard"].startswith("restricted")


def test_errors_name_the_line_and_keep_output(small_prices):
    source = "def run(data):\n    print('checking', len(data))\n    return data['NOPE']\n"
    run = run_source(source, small_prices, limits=TEST_LIMITS)
    assert run.reason == "error" and run.line == 3 and "KeyError" in run.error
    assert run.stdout == f"checking {len(small_prices)}\n"


def test_print_output_is_capped(small_prices):
    limits = replace(TEST_LIMITS, max_output_bytes=1000)
    source = "def run(data):\n    for i in range(5000):\n        print('line', i)\n    return 1\n"
    run = run_source(source, small_prices, limits=limits)
    assert run.ok and run.value == 1
    assert len(run.stdout) < 1200 and "more characters of output dropped" in run.stdout


def test_unsupported_and_oversized_results(small_prices):
    run = run_source("def run(data):\n    return 'text'\n", small_prices, limits=TEST_LIMITS)
    assert run.reason == "invalid_result" and "number" in run.error
    source = "import pandas as pd\ndef run(data):\n    return pd.DataFrame({'a': ['x', 'y']})\n"
    run = run_source(source, small_prices, limits=TEST_LIMITS)
    assert run.reason == "invalid_result" and "numeric" in run.error
    source = "import numpy as np\ndef run(data):\n    return np.arange(3)\n"
    assert run_source(source, small_prices, limits=TEST_LIMITS).reason == "invalid_result"
    big = (
        "import numpy as np\nimport pandas as pd\ndef run(data):\n"
        "    return pd.DataFrame(np.random.default_rng(0).random((4000, 100)))\n"
    )
    run = run_source(big, small_prices, limits=replace(TEST_LIMITS, max_result_bytes=100_000))
    assert run.reason == "result_too_large"


def test_result_kinds(small_prices):
    source = (
        "def run(data, scale=1.0):\n"
        "    last = data.iloc[-1] * scale\n"
        "    return {symbol: float(value) for symbol, value in last.items()}\n"
    )
    run = run_source(source, small_prices, {"scale": 2.0}, limits=TEST_LIMITS)
    assert run.kind == "dict"
    assert run.value == {s: float(v) * 2 for s, v in small_prices.iloc[-1].items()}
    run = run_source("def run(data):\n    return float('nan')\n", small_prices, limits=TEST_LIMITS)
    assert run.ok and run.value is None  # non-finite numbers come back as null


def test_decode_rejects_malformed_payloads():
    bad = [
        None,
        {"type": "frame", "columns": ["a"], "data": [[1, 2]], "index": {"values": [1]}},
        {"type": "frame", "columns": ["a"], "data": [["x"]], "index": {"values": [1]}},
        {"type": "frame", "columns": [1], "data": [[1]], "index": {"values": [1]}},
        {"type": "dict", "values": {"a": "text"}},
        {"type": "number", "value": [1]},
        {"type": "pickle", "value": "gASV"},
    ]
    for payload in bad:
        with pytest.raises(runner.InvalidResult):
            runner.decode_result(payload)
    kind, value = runner.decode_result(
        {
            "type": "series",
            "columns": ["x"],
            "data": [[1.5], [None]],
            "index": {"kind": "datetime", "values": ["2020-01-02T00:00:00", None]},
        }
    )
    assert kind == "series" and value.iloc[0] == 1.5 and pd.isna(value.iloc[1])


def test_host_and_pool_stay_healthy_after_kills(small_prices):
    """Kill sandboxes (timeout, CPU) while others run; the next runs work normally."""
    limits = replace(TEST_LIMITS, cpu_seconds=2, wall_seconds=30)
    good = "def run(data):\n    return float(data.iloc[-1].sum())\n"
    jobs = [SPIN, good, "def run(data):\n    return [0] * 10**9\n", good]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = list(pool.map(lambda s: run_source(s, small_prices, limits=limits), jobs))
    assert [r.reason for r in runs] == ["cpu", "ok", "validation", "ok"]
    again = run_source(good, small_prices, limits=limits)
    assert again.ok and again.value == pytest.approx(float(small_prices.iloc[-1].sum()))


def test_temporary_directories_are_removed(small_prices, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    run = run_source("def run(data):\n    return 1\n", small_prices, limits=TEST_LIMITS)
    assert run.ok and list(tmp_path.iterdir()) == []


def test_active_layers_are_listed():
    layers = runner.describe_layers()
    for key in ("validator", "environment_passed", "environment", "wall_clock", "rlimits"):
        assert key in layers
    child = runner.active_layers()
    assert set(child) >= {"rlimits", "network_namespace", "landlock", "seccomp"}
    summary = runner.layer_summary(child)
    assert "rlimits=on" in summary
    assert child["rlimits"]["address_space_mb"] == SandboxLimits.from_env().memory_mb


def test_required_layers_fail_closed(small_prices):
    limits = replace(TEST_LIMITS, require=("landlock", "seccomp", "no_such_layer"))
    run = run_source("def run(data):\n    return 1\n", small_prices, limits=limits)
    assert run.reason == "sandbox_unavailable" and "no_such_layer" in run.error
    assert "landlock" not in run.error  # granted on this machine
