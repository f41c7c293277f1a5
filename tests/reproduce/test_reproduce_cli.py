"""``python -m engine reproduce``: a bundle made in one data directory re-runs in a
fresh one with byte-identical numbers, and a changed data slice is reported as drift
(exit 1) with the reason."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd

from engine.__main__ import main
from engine.reproduce.bundle import bundle_bytes
from engine.trials.query import get_trial
from tests.reproduce.conftest import manifest_of, members, rezip

ROOT = Path(__file__).resolve().parents[2]


def reproduce_json(capsys, path) -> tuple[int, dict]:
    code = main(["reproduce", str(path), "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(lines[-1])


def test_a_trial_bundle_reproduces_byte_identical_metrics_in_a_fresh_data_dir(
    alice_trial, people, tmp_path, capsys
):
    trial_id, dataset_id = alice_trial
    payload = bundle_bytes(people["alice"], "trial", trial_id)
    manifest = manifest_of(payload)
    recorded = get_trial(people["alice"], trial_id).flat_metrics()
    assert manifest["steps"][0]["expected"]["metrics"] == {"status": 1.0, **recorded}
    assert [d["original_id"] for d in manifest["datasets"]] == [dataset_id]
    path = tmp_path / "bundle.zip"
    path.write_bytes(payload)
    code, report = reproduce_json(capsys, path)
    assert code == 0 and report["identical"] is True, report
    rows = report["steps"][0]["metrics"]
    assert {r["metric"] for r in rows} == {"status", *recorded}
    assert all(r["recorded"] == r["re-run"] for r in rows)


def test_a_changed_dataset_is_drift(alice_trial, people, tmp_path, capsys):
    trial_id, _ = alice_trial
    files = members(bundle_bytes(people["alice"], "trial", trial_id))
    (slice_name,) = [name for name in files if name.startswith("data/")]
    frame = pd.read_parquet(io.BytesIO(files[slice_name]))
    frame.iloc[::7, frame.columns.get_loc("x1")] *= -1.0  # a revised dataset
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    files[slice_name] = buffer.getvalue()
    path = tmp_path / "changed.zip"
    path.write_bytes(rezip(files))
    code, report = reproduce_json(capsys, path)
    assert code == 1 and report["identical"] is False
    assert any("data revision" in reason for reason in report["reasons"]), report["reasons"]
    assert any("data revision" in r for r in report["steps"][0]["reasons"])
    assert not all(row["match"] for row in report["steps"][0]["metrics"])


def test_a_conversation_bundle_carries_its_words_and_reproduces_its_backtest(
    people, tmp_path, capsys
):
    from engine.chat import conversations
    from engine.chat.turn import record_tool_call
    from storage.repositories import conversations as conversation_repo

    alice = people["alice"]
    conversation = conversations.start(alice, "Backtest momentum on AAPL")
    conversation_repo.add_message(
        conversation.id, "user", "Backtest <b>momentum</b> on AAPL for 2016-2017"
    )
    params = {
        "symbols": ["AAPL"],
        "strategy": "momentum",
        "start": "2016-01-01",
        "end": "2017-12-31",
    }
    record_tool_call(alice, conversation.id, "backtest_strategy", params)
    conversation_repo.add_message(conversation.id, "assistant", "Done: see the equity curve.")
    bundle_payload = bundle_bytes(alice, "conversation", conversation.id)
    manifest = manifest_of(bundle_payload)
    (step,) = manifest["steps"]
    assert step["context"] == [["user", "Backtest <b>momentum</b> on AAPL for 2016-2017"]]
    assert manifest["closing"] == [["assistant", "Done: see the equity curve."]]
    assert "total_return" in step["expected"]["metrics"]
    assert "equity.equity" in step["expected"]["digests"]  # the whole equity column
    notebook = members(bundle_payload)["reproduce.ipynb"].decode()
    assert "&lt;b&gt;momentum&lt;/b&gt;" in notebook and "<b>momentum" not in notebook
    path = tmp_path / "conversation.zip"
    path.write_bytes(bundle_payload)
    code, report = reproduce_json(capsys, path)
    assert code == 0 and report["identical"] is True, report
    # the bundle's own reproduce.py, run in the folder it was extracted into
    folder = tmp_path / "extracted"
    with zipfile.ZipFile(path) as archive:
        archive.extractall(folder)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "reproduce.py"], cwd=folder, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "REPRODUCED: every number of 1 step(s) is identical." in done.stdout
    assert "= total_return" in done.stdout


def test_a_polygon_trial_reproduces_offline_from_its_cached_slice(
    fake_apis, fresh_db, make_user, tmp_path, capsys, monkeypatch
):
    """The bundle carries the fetched slice; the re-run needs neither the key nor the
    server (both are gone when it runs)."""
    import numpy as np

    from engine.actions import ActionContext, get_action
    from tests.data.conftest import polygon_bar, polygon_payload

    alice = make_user("alice", "analyst")
    days = pd.bdate_range("2019-01-02", "2023-06-30")
    closes = 100 * np.exp(np.cumsum(np.random.default_rng(11).normal(0, 0.01, len(days))))
    volumes = np.random.default_rng(12).uniform(5e5, 2e6, len(days))
    bars = [
        polygon_bar(f"{d:%Y-%m-%d}", float(c), float(v))
        for d, c, v in zip(days, closes, volumes, strict=True)
    ]
    fake_apis.expect_request(
        "/v2/aggs/ticker/ZZZ/range/1/day/2019-01-02/2023-06-30"
    ).respond_with_json(polygon_payload("ZZZ", bars))
    action = get_action("train_model")
    params = action.params_model(
        symbols=["ZZZ"],
        source="polygon",
        start="2019-01-02",
        end="2023-06-30",
        model_id="sklearn.DecisionTreeClassifier",
        model_params={"max_depth": 2},
        n_splits=3,
    )
    trial_id = action.run(params, ActionContext(user=alice)).values["trial_id"]
    payload = bundle_bytes(alice, "trial", trial_id)
    manifest = manifest_of(payload)
    (entry,) = manifest["datasets"]
    assert entry["source"] == "polygon" and entry["file"] == f"data/{entry['fingerprint']}.parquet"
    assert "test-polygon-key" not in payload.decode("latin-1")
    fake_apis.clear()  # the server forgets ZZZ, and the re-run has no key either
    monkeypatch.delenv("POLYGON_API_KEY")
    monkeypatch.setenv("POLYGON_BASE_URL", "http://127.0.0.1:9")
    path = tmp_path / "polygon.zip"
    path.write_bytes(payload)
    code, report = reproduce_json(capsys, path)
    assert code == 0 and report["identical"] is True, report


def test_a_dynamic_action_run_reproduces_with_its_bundled_code(people, tmp_path, capsys):
    """The fresh database has no dynamic actions: the replay saves and approves the
    bundled code (a new version number) and runs it in the sandbox."""
    from engine.actions import ActionContext, UserRef, get_action
    from engine.sandbox import service
    from storage.repositories import jobs as job_repo

    source = "def run(data, window=10):\n    return data.pct_change().rolling(window).std()\n"
    for _ in range(2):  # version 2 here; the replay's database will call it version 1
        record, _ = service.save_draft(UserRef.system(), "rolling_vol_demo", "Rolling vol.", source)
        source = source.replace("window=10", "window=20") if record.version == 1 else source
    service.approve(UserRef.system(), "rolling_vol_demo", record.version)
    alice = people["alice"]
    action = get_action("rolling_vol_demo")
    params = {"symbols": ["AAPL"], "start": "2018-01-01", "end": "2018-12-31", "version": 2}
    job_id = job_repo.create_job("rolling_vol_demo", params, alice.id, status="running")
    result = action.run(action.params_model(**params), ActionContext(user=alice, job_id=job_id))
    job_repo.finish(job_id, "succeeded", result=result.to_json())
    path = tmp_path / "dynamic.zip"
    path.write_bytes(bundle_bytes(alice, "job", job_id))
    assert manifest_of(path.read_bytes())["dynamic_actions"][0]["version"] == 2
    code, report = reproduce_json(capsys, path)
    assert code == 0 and report["identical"] is True, report
    assert any("(whole column, sha256)" in row["metric"] for row in report["steps"][0]["metrics"])


def test_an_ensemble_bundle_recreates_its_members_first(alice_trial, people, tmp_path, capsys):
    from engine.actions import ActionContext, get_action
    from tests.reproduce.conftest import train

    first, dataset_id = alice_trial
    second = train(
        people["alice"], dataset_id, model_id="logistic regression", model_params={}
    ).values["trial_id"]
    action = get_action("build_ensemble")
    ensemble = action.run(
        action.params_model(trial_ids=[first, second]), ActionContext(user=people["alice"])
    ).values["trial_id"]
    payload = bundle_bytes(people["alice"], "trial", ensemble)
    steps = manifest_of(payload)["steps"]
    assert [s["action"] for s in steps] == ["train_model", "train_model", "build_ensemble"]
    assert steps[2]["params"]["trial_ids"] == [first, second]
    path = tmp_path / "ensemble.zip"
    path.write_bytes(payload)
    code, report = reproduce_json(capsys, path)
    assert code == 0 and report["identical"] is True, report
