"""`python -m engine dynamic ...` (the operators' interface) and the offline planner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.__main__ import main
from engine.llm.planner import plan

ROOT = Path(__file__).resolve().parents[2]
GOOD = (
    "import numpy as np\n\n"
    "def run(data, window=5):\n"
    "    return float(data.pct_change(window).std().mean())\n"
)


def run_cli(capsys, *argv: str) -> tuple[int, dict]:
    code = main(list(argv))
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1, out
    return code, json.loads(out[0])


def test_check_as_a_real_command(tmp_path):
    good, bad = tmp_path / "good.py", tmp_path / "bad.py"
    good.write_text(GOOD)
    bad.write_text("import numpy as np\n\ndef run(data):\n    return np.load('x')\n")
    for path, code, expected in (
        (good, 0, {"ok": True}),
        (bad, 2, {"ok": False, "rule": "forbidden_attribute", "line": 4}),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "engine", "dynamic", "check", str(path)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == code, done.stderr
        payload = json.loads(done.stdout)
        assert {k: payload[k] for k in expected} == expected
        assert set(payload) == ({"ok"} if code == 0 else {"ok", "rule", "line", "error"})


def test_run_prints_the_result_or_how_it_stopped(tmp_path, capsys, prices):
    good = tmp_path / "good.py"
    good.write_text(GOOD)
    code, payload = run_cli(
        capsys, "dynamic", "run", str(good), "--symbols", "AAPL,MSFT", "--params", '{"window": 3}'
    )
    expected = float(prices[["AAPL", "MSFT"]].pct_change(3).std().mean())
    assert code == 0 and payload["ok"] and payload["result"] == pytest.approx(expected, rel=1e-12)
    assert payload["layers"]["in_process_guard"].startswith("restricted")

    hostile = tmp_path / "hostile.py"
    hostile.write_text("import os\n\ndef run(data):\n    return len(os.listdir('/etc'))\n")
    code, payload = run_cli(capsys, "dynamic", "run", str(hostile), "--symbols", "KO")
    assert (
        code == 2 and payload["stopped"] == "validation" and payload["rule"] == "import_not_allowed"
    )
    code, payload = run_cli(
        capsys, "dynamic", "run", str(hostile), "--symbols", "KO", "--skip-validation"
    )
    assert code == 2 and payload["stopped"] == "error" and "Permission denied" in payload["error"]
    assert payload["layers"]["in_process_guard"].startswith("off")

    spin = tmp_path / "spin.py"
    spin.write_text("def run(data):\n    x = 0\n    while x >= 0:\n        x += 1\n")
    code, payload = run_cli(
        capsys, "dynamic", "run", str(spin), "--symbols", "KO", "--cpu-seconds", "1"
    )
    assert code == 2 and payload["stopped"] in ("cpu", "timeout") and payload["exit_code"] < 0

    code, payload = run_cli(capsys, "dynamic", "run", str(good), "--symbols", "NOPE")
    assert code == 2 and "Unknown symbol" in payload["error"]


@pytest.mark.parametrize(
    "text,template,options",
    [
        (
            "Create a rolling 60-day z-score of returns for AAPL",
            "rolling_stat",
            {"stat": "zscore", "window": 60, "on": "returns"},
        ),
        (
            "rolling 90th percentile of MSFT returns over 120 days",
            "rolling_stat",
            {"stat": "quantile", "window": 120, "on": "returns", "q": 0.9},
        ),
        (
            "rolling 60-day VaR of JPM at 99%",
            "risk",
            {"measure": "var", "window": 60, "confidence": 0.99},
        ),
        ("drawdown series of SPX", "risk", {"measure": "drawdown"}),
        (
            "ratio of KO to PEP with a 60-day z-score",
            "pair",
            {"symbol_a": "KO", "symbol_b": "PEP", "mode": "ratio", "zscore_window": 60},
        ),
        (
            "build an ensemble signal: 60% momentum, 40% mean reversion on AAPL",
            "ensemble",
            {
                "signals": [
                    {"signal": "momentum", "weight": 0.6},
                    {"signal": "mean_reversion", "weight": 0.4},
                ]
            },
        ),
        (
            "custom indicator with formula (AAPL - mean(AAPL, 20)) / std(AAPL, 20)",
            "formula",
            {"formula": "(AAPL - mean(AAPL, 20)) / std(AAPL, 20)"},
        ),
    ],
)
def test_planner_creates_from_templates(text, template, options):
    result = plan(text)
    assert len(result.calls) == 1, result.message
    call = result.calls[0]
    assert call.action == "create_dynamic_from_template"
    assert call.params["template"] == template and call.params["options"] == options


@pytest.mark.parametrize(
    "text,action",
    [
        ("Risk report for JPM: 99% VaR over 10 days, beta to SPX", "risk_report"),
        ("Compute RSI and MACD for MSFT from 2018 to 2020", "compute_indicators"),
        ("list the dynamic actions", "list_dynamic_actions"),
        ("test dynamic action rolling_zscore_price_20 on AAPL and MSFT", "test_dynamic_action"),
        ("approve dynamic action rolling_zscore_price_20 v2", "approve_dynamic_action"),
        ("retire rolling_zscore_price_20", "retire_dynamic_action"),
    ],
)
def test_planner_leaves_built_in_requests_alone_and_manages_by_name(text, action):
    result = plan(text)
    assert result.calls and result.calls[0].action == action
    if action == "approve_dynamic_action":
        assert result.calls[0].params == {"name": "rolling_zscore_price_20", "version": 2}
