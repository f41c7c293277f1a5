"""Comparing trials in a real Chromium: the comparison opens from the address, a baseline
is pinned from the selector, the deltas and the address follow it, and a reload keeps it.
Every step waits for an element; nothing waits a fixed time."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from tests.browser.conftest import ROOT
from tests.browser.test_app_flow import PASSWORD, expect, heading, log_in, settle

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SEED = """
import json, sys
from datetime import UTC, datetime, timedelta
from engine.ml.recording import library_versions
from engine.trials.record import Reproducibility
from storage.repositories import trials
owner = int(sys.argv[1])
made = []
for i, depth in enumerate([2, 6, 3, 9, 4, 8, 5, 7, 2, 9]):
    made.append(trials.create_trial(
        action='train_model', model_id='RandomForest', family='ensemble', status='succeeded',
        metric_name='balanced_accuracy', metric_value=0.5 + depth / 100,
        params={'model_id': 'RandomForest', 'symbols': ['SPX'],
                'model_params': {'max_depth': depth, 'n_estimators': 100}},
        user_id=owner, created_at=datetime.now(UTC) - timedelta(minutes=10 - i),
        reproducibility=Reproducibility(seed=0, versions=library_versions())
        .model_dump(mode='json', exclude_none=True)).id)
print(json.dumps(made))
"""


def _seed(server, owner: int) -> list[int]:
    done = subprocess.run(
        [sys.executable, "-c", SEED, str(owner)],
        cwd=ROOT,
        env=server.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_compare_and_pin_a_baseline(page, server):
    x = expect()
    made = json.loads(
        server.cli("create-user", "comparer", "--role", "analyst", stdin=PASSWORD + "\n")
    )
    ids = _seed(server, made["id"])
    log_in(page, server, "comparer")
    page.goto(f"{server.url}/trials?compare={','.join(map(str, ids))}")
    x(heading(page, f"Comparing {len(ids)} trials")).to_be_visible()
    x(page.get_by_text(f"Baseline: trial {ids[0]}.")).to_be_visible()

    # pin the best one (max_depth 9, balanced accuracy 0.59) as the baseline
    settle(page)
    page.get_by_role("combobox", name="Baseline").click()
    page.get_by_role("option", name=re.compile(rf"^trial {ids[3]} ")).click()
    settle(page)
    page.get_by_role("button", name="Pin as baseline").click()
    x(page.get_by_text(f"Baseline: trial {ids[3]}.")).to_be_visible()
    x(page).to_have_url(re.compile(rf"[?&]baseline={ids[3]}(&|$)"))
    x(
        page.get_by_text(
            f"Best: trial {ids[3]} (RandomForest), balanced_accuracy 0.5900, "
            "+0.0000 against the baseline."
        )
    ).to_be_visible()

    # the pin survives a reload (it is in the address)
    page.reload()
    x(heading(page, f"Comparing {len(ids)} trials")).to_be_visible()
    x(page.get_by_text(f"Baseline: trial {ids[3]}.")).to_be_visible()

    # only the parameter that differs, then every parameter
    page.get_by_role("tab", name="Parameters").click()
    x(page.get_by_text("1 of 4 parameters differ between these trials.")).to_be_visible()
    page.get_by_role("tab", name="Importance").click()
    panel = page.get_by_role("tabpanel", name="Importance")
    x(panel.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    x(panel.get_by_text("Parameter importance for balanced_accuracy (10 trials)")).to_be_visible()
