"""Each held-out set of the autonomy benchmark is what its recorded rule gives: the
committed file re-derives from its command (the sets were listed before any run, so a
later change to the listing code must not move them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("number", [5, 6, 7, 8])
def test_the_held_out_set_re_derives_from_its_recorded_command(number):
    path = ROOT / "bench" / f"heldout_tasks_{number}.json"
    recorded = json.loads(path.read_text())
    command = recorded["drawn_by"].split()
    assert command[0] == "bench/bench_autonomy.py"
    run = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    derived = json.loads(run.stdout)
    assert derived["tasks"] == recorded["tasks"]
    assert derived.get("used_pairs") == recorded.get("used_pairs")
