"""``python -m engine reproduce``: a bundle made in one data directory re-runs in a
fresh one with byte-identical numbers, and a changed data slice is reported as drift
(exit 1) with the reason."""

from __future__ import annotations

import io
import json

import pandas as pd

from engine.__main__ import main
from engine.reproduce.bundle import bundle_bytes
from engine.trials.query import get_trial
from tests.reproduce.conftest import manifest_of, members, rezip


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
