"""Who may bundle what, and what a bundle never holds: another analyst's trial or job
answers exactly like a missing one; a dataset the reader may not see travels without
its slice; no secret (API keys, the audit key) is ever written."""

from __future__ import annotations

import pytest

from engine.actions import call
from engine.actions.base import ActionError
from engine.reproduce.bundle import bundle_bytes
from engine.reproduce.notebook import export_notebook
from tests.reproduce.conftest import manifest_of, members, train, upload

BACKTEST = {"symbols": ["AAPL"], "strategy": "momentum", "start": "2016-01-01", "end": "2017-12-31"}


def refusal(user, kind, ident) -> str:
    with pytest.raises(ActionError) as caught:
        bundle_bytes(user, kind, ident)
    return str(caught.value)


def test_another_analysts_trial_is_the_same_not_found_as_a_missing_one(alice_trial, people):
    trial_id, _ = alice_trial
    bob, vic = people["bob"], people["vic"]
    assert refusal(bob, "trial", trial_id) == refusal(bob, "trial", 10_000).replace(
        "10000", str(trial_id)
    )
    assert "does not exist or is not visible" in refusal(bob, "trial", trial_id)
    with pytest.raises(ActionError, match="not visible"):
        export_notebook(bob, "trial", trial_id)
    # the team's viewer reads every trial, so may bundle it
    assert manifest_of(bundle_bytes(vic, "trial", trial_id))["steps"][0]["action"] == "train_model"


def test_jobs_are_private_to_their_owner(people):
    alice, bob, vic = people["alice"], people["bob"], people["vic"]
    job_id = call("backtest_strategy", BACKTEST, alice).job_id
    assert manifest_of(bundle_bytes(alice, "job", job_id))["steps"][0]["params"]["strategy"] == (
        "momentum"
    )
    missing = refusal(bob, "job", 10_000).replace("10000", str(job_id))
    assert refusal(bob, "job", job_id) == missing
    assert refusal(vic, "job", job_id) == missing


def test_a_dataset_the_reader_cannot_see_travels_without_its_data(people):
    bob, alice = people["bob"], people["alice"]
    bobs_upload = upload(bob, seed=5)
    result = train(bob, bobs_upload)
    # a trial shared with everyone (no owner) that read bob's private upload
    trial_id = result.values["trial_id"]
    from storage.db import session_scope
    from storage.models import Trial

    with session_scope() as session:
        session.get(Trial, trial_id).user_id = None
    files = members(bundle_bytes(alice, "trial", trial_id))
    manifest = manifest_of(bundle_bytes(alice, "trial", trial_id))
    (entry,) = manifest["datasets"]
    assert entry["file"] is None and entry["provenance"] == {}
    assert "not visible" in entry["note"]
    assert not [name for name in files if name.startswith("data/")]
    assert b"table-5.csv" not in b"".join(files.values())  # not even the file name


def test_a_bundle_holds_no_secret(alice_trial, people, monkeypatch):
    from engine.config import get_settings

    secrets = {
        "ANTHROPIC_API_KEY": "sk-ant-SECRET-anthropic-0001",
        "POLYGON_API_KEY": "SECRET-polygon-0002",
        "FRED_API_KEY": "SECRET-fred-0003",
        "MLTRAINER_AUDIT_KEY": "SECRET-audit-0004",
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    trial_id, _ = alice_trial
    alice = people["alice"]
    job_id = call("backtest_strategy", BACKTEST, alice).job_id
    key_files = [p for p in get_settings().data_dir.glob("*key*") if p.is_file()]
    secret_bytes = [v.encode() for v in secrets.values()] + [
        p.read_bytes().strip() for p in key_files if p.stat().st_size >= 16
    ]
    for kind, ident in (("trial", trial_id), ("job", job_id)):
        blob = b"".join(members(bundle_bytes(alice, kind, ident)).values())
        assert not [s for s in secret_bytes if s in blob]


def test_the_export_actions_follow_the_same_access(alice_trial, people):
    import zipfile
    from pathlib import Path

    trial_id, _ = alice_trial
    outcome = call("export_bundle", {"kind": "trial", "id": trial_id}, people["vic"])
    assert outcome.status == "succeeded", outcome.error
    path = Path(outcome.result.artifacts["file"])
    assert zipfile.ZipFile(path).read("manifest.json") and outcome.result.values["steps"] == 1
    notebook = call("export_notebook", {"kind": "trial", "id": trial_id}, people["vic"])
    assert Path(notebook.result.artifacts["file"]).suffix == ".ipynb"
    refused = call("export_bundle", {"kind": "trial", "id": trial_id}, people["bob"])
    assert refused.status == "failed" and "not visible" in refused.error


def test_a_goal_bundle_holds_its_visible_trials(alice_trial, people):
    from storage.db import session_scope
    from storage.models import Trial
    from storage.repositories.goals import create_goal

    trial_id, _ = alice_trial
    goal = create_goal(people["alice"].id, "beat 0.6", {}, None)
    second = train(people["alice"], upload(people["alice"], seed=2), seed=9).values["trial_id"]
    with session_scope() as session:
        for ident in (trial_id, second):
            session.get(Trial, ident).goal_id = goal.id
    manifest = manifest_of(bundle_bytes(people["vic"], "goal", goal.id))
    assert manifest["title"] == f"Goal {goal.id}: beat 0.6"
    assert [s["params"]["seed"] for s in manifest["steps"]] == [3, 9]
    assert len(manifest["datasets"]) == 2 and all(d["file"] for d in manifest["datasets"])
    missing = refusal(people["bob"], "goal", 10_000).replace("10000", str(goal.id))
    assert refusal(people["bob"], "goal", goal.id) == missing


def test_a_dynamic_actions_code_travels_with_its_run(people):
    """The exact version's source is in the bundle (and its hash in the manifest)."""
    from engine.actions import UserRef
    from engine.sandbox import service
    from storage.repositories import jobs as job_repo

    source = "def run(data, window=5):\n    return data.pct_change().rolling(window).std()\n"
    record, _ = service.save_draft(UserRef.system(), "rolling_vol_demo", "Rolling vol.", source)
    service.approve(UserRef.system(), "rolling_vol_demo", record.version)
    alice = people["alice"]
    job_id = job_repo.create_job(
        "rolling_vol_demo",
        {"symbols": ["AAPL"], "window": 5, "version": record.version},
        alice.id,
        status="running",
    )
    job_repo.finish(job_id, "succeeded", result={"summary": "ok", "values": {"last": 0.01}})
    bundle = members(bundle_bytes(alice, "job", job_id))
    manifest = manifest_of(bundle_bytes(alice, "job", job_id))
    (code,) = manifest["dynamic_actions"]
    assert code["name"] == "rolling_vol_demo" and code["version"] == record.version
    assert bundle[code["file"]].decode() == source and code["source_hash"] == record.source_hash


def test_the_bundle_pins_every_package(alice_trial, people, monkeypatch, tmp_path):
    from pathlib import Path

    import engine
    from engine.reproduce import bundle as bundle_module

    trial_id, _ = alice_trial
    files = members(bundle_bytes(people["alice"], "trial", trial_id))
    root = Path(engine.__file__).resolve().parent.parent
    assert files["requirements.lock"] == (root / "requirements.lock").read_bytes()
    # an installation without the lock file (a wheel, say) pins what is installed
    monkeypatch.setattr(engine, "__file__", str(tmp_path / "engine" / "__init__.py"))
    pins = bundle_module.lock_file().decode().splitlines()
    assert any(line.lower().startswith("scikit-learn==") for line in pins)
