"""Dynamic actions end to end on a fresh database: drafts, versions, ownership, approval,
registration by name, retirement, runs recording their version, and the templates."""

from __future__ import annotations

import pytest

from engine.actions import ActionContext, ActionError, call, get_action, registry
from engine.actions.base import NeedsConfirmation, PermissionDenied
from engine.sandbox import service
from storage.access import OwnerScope
from storage.repositories import compliance
from storage.repositories import dynamic_actions as repo

ZSCORE = '''
"""Rolling z-score of returns."""
import pandas as pd


def run(data, window: int = 20):
    returns = data.pct_change()
    rolling = returns.rolling(window, min_periods=window)
    return (returns - rolling.mean()) / rolling.std()
'''
ZSCORE_V2 = ZSCORE.replace("returns.rolling(window", "returns.rolling(int(window)")


def act(action_name, user, **params):
    action = get_action(action_name)
    return action.run(action.params_model(**params), ActionContext(user=user))


@pytest.fixture
def people(fresh_db, make_user):
    yield make_user("alice", "analyst"), make_user("bob", "analyst"), make_user("root", "admin")
    service.sync_registry()  # back to what the next database approves


def propose(user, source=ZSCORE, name="zscore_returns", **extra):
    params = {
        "name": name,
        "description": "Rolling z-score of daily returns",
        "source": source,
        "symbols": ["AAPL", "MSFT"],
        **extra,
    }
    return act("propose_dynamic_action", user, **params)


def test_propose_validates_tests_and_saves_a_draft(people):
    alice, _, _ = people
    with pytest.raises(NeedsConfirmation):
        call("propose_dynamic_action", {"name": "x_y", "description": "d", "source": ZSCORE}, alice)
    result = propose(alice)
    values = result.values
    assert (values["name"], values["version"], values["status"]) == ("zscore_returns", 1, "draft")
    assert values["source"] == ZSCORE and values["parameters"]["properties"]["window"] == {
        "type": "integer",
        "default": 20,
    }
    assert values["run"]["version"] == 1 and values["run"]["data"]["symbols"] == ["AAPL", "MSFT"]
    assert list(result.tables["result"].columns) == ["AAPL", "MSFT"]
    assert list(result.series["result"].y) == ["AAPL", "MSFT"]
    assert "Saved 'zscore_returns' as draft v1" in result.summary
    record = repo.get_version("zscore_returns", 1)
    assert record.author == "alice" and record.source_hash == service.source_hash(ZSCORE)


def test_preview_refusals_and_failed_tests_store_nothing(people):
    alice, _, _ = people
    preview = propose(alice, save=False)
    assert preview.values["status"] == "preview" and preview.values["version"] is None
    with pytest.raises(ActionError, match=r"rule 'forbidden_attribute', line 3"):
        propose(alice, source="def run(data):\n    x = 1\n    return data.to_csv('x')\n")
    with pytest.raises(ActionError, match=r"raised an error: KeyError.*line 2"):
        propose(alice, source="def run(data):\n    return data['NOPE']\n")
    with pytest.raises(ActionError, match="built-in action"):
        propose(alice, name="risk_report")
    with pytest.raises(ActionError, match="not a valid name"):
        propose(alice, name="Bad Name")
    assert repo.versions("zscore_returns") == []


def test_versions_and_ownership(people):
    alice, bob, root = people
    propose(alice)
    same = propose(alice)
    assert (same.values["version"], same.values["created"]) == (1, False)
    edited = propose(alice, source=ZSCORE_V2)
    assert (edited.values["version"], edited.values["created"]) == (2, True)
    with pytest.raises(PermissionDenied):
        propose(bob, source=ZSCORE_V2 + "\n")
    assert [r.version for r in repo.versions("zscore_returns")] == [2, 1]
    # drafts belong to their author: bob can neither see nor run them
    with pytest.raises(ActionError):
        act("test_dynamic_action", bob, name="zscore_returns", symbols=["KO"])
    assert service.listing(bob) == []
    assert {r.version for r in service.listing(root)} == {1, 2}
    # the author runs a draft (after confirming: the action needs it)
    with pytest.raises(NeedsConfirmation):
        call("test_dynamic_action", {"name": "zscore_returns", "symbols": ["KO"]}, alice)
    run = act("test_dynamic_action", alice, name="zscore_returns", symbols=["KO"], version=1)
    assert run.values["run"]["version"] == 1 and run.values["run"]["params"] == {"window": 20}
    with pytest.raises(ActionError, match="not a parameter"):
        act("test_dynamic_action", alice, name="zscore_returns", symbols=["KO"], params={"w": 1})


def test_approve_register_run_by_name_and_retire(people):
    alice, bob, root = people
    propose(alice)
    with pytest.raises(PermissionDenied):
        call("approve_dynamic_action", {"name": "zscore_returns"}, alice, confirmed=True)
    with pytest.raises(PermissionDenied):
        service.approve(alice, "zscore_returns")
    outcome = call("approve_dynamic_action", {"name": "zscore_returns"}, root, confirmed=True)
    assert outcome.status == "succeeded"
    record = repo.get_version("zscore_returns", 1)
    assert record.status == "approved" and record.approver == "root" and record.approved_at

    action = get_action("zscore_returns")
    assert (action.category, action.status, action.long, action.version) == (
        "dynamic",
        "approved",
        True,
        1,
    )
    schema = action.parameter_schema()
    assert {"symbols", "window", "version"} <= set(schema["properties"])
    # any analyst runs it by name without confirming: the compliance rule sees it approved
    queued = call("zscore_returns", {"symbols": ["JPM"], "window": 10}, bob)
    from engine import executor
    from engine.executor.runner import execute_job

    assert executor.status(queued.job_id).params["version"] == 1  # the job records it
    if executor.current() is None:  # no service in this process: run the job right here
        execute_job(queued.job_id)
    done = executor.wait(queued.job_id, timeout=180)
    assert done.status == "succeeded", done.error
    assert done.params["window"] == 10
    assert done.result["values"]["run"]["version"] == 1
    assert done.result["values"]["run"]["source_hash"] == record.source_hash
    decisions = compliance.search(action="zscore_returns", rule="dynamic_code_approved")
    assert decisions and decisions[0].outcome == "pass"
    assert [j.id for j in repo.runs_of("zscore_returns", OwnerScope.all_rows())] == [queued.job_id]

    # a new version stays a draft until approved; then the registry switches to it
    propose(alice, source=ZSCORE_V2)
    assert get_action("zscore_returns").version == 1
    act("approve_dynamic_action", root, name="zscore_returns")
    assert get_action("zscore_returns").version == 2

    # after a restart the approved version is registered again at catalogue load
    registry.remove("zscore_returns")
    service._registered.clear()
    assert "zscore_returns" in service.sync_registry()
    assert get_action("zscore_returns").version == 2

    act("retire_dynamic_action", root, name="zscore_returns")
    assert "zscore_returns" not in registry.load_catalog()
    with pytest.raises(ActionError, match="Unknown action"):
        call("zscore_returns", {"symbols": ["JPM"]}, bob)
    with pytest.raises(ActionError, match="retired|no version"):
        act("test_dynamic_action", bob, name="zscore_returns", symbols=["KO"], version=2)
    assert {r.status for r in repo.versions("zscore_returns")} == {"retired"}


def test_listing_shows_approved_and_own(people):
    alice, bob, root = people
    propose(alice)
    propose(bob, name="bob_metric", source=ZSCORE_V2)
    act("approve_dynamic_action", root, name="zscore_returns")
    listing = act("list_dynamic_actions", bob)
    table = listing.tables["dynamic_actions"]
    assert set(zip(table["name"], table["status"], strict=True)) == {
        ("zscore_returns", "approved"),
        ("bob_metric", "draft"),
    }
    assert listing.values["names"] == ["bob_metric", "zscore_returns"]


@pytest.mark.parametrize(
    "template,options,columns",
    [
        ("rolling_stat", {"stat": "quantile", "q": 0.9, "window": 30}, ["SPX"]),
        ("formula", {"formula": "(KO - mean(KO, 20)) / std(KO, 20)"}, ["indicator"]),
        ("pair", {"symbol_a": "KO", "symbol_b": "PEP", "zscore_window": 30}, ["ratio", "zscore"]),
        ("ensemble", {}, ["SPX"]),
        ("risk", {"measure": "cvar", "confidence": 0.99}, ["SPX"]),
    ],
)
def test_templates_create_drafts(people, template, options, columns):
    alice, _, _ = people
    result = act("create_dynamic_from_template", alice, template=template, options=options)
    assert result.values["status"] == "draft" and result.values["origin"] == f"template:{template}"
    assert list(result.tables["result"].columns) == columns
    record = repo.get_version(result.values["name"], 1)
    assert record.source == result.values["source"]


def test_template_errors_are_clear(people):
    alice, _, _ = people
    with pytest.raises(ActionError, match="Formula: unknown function 'system'"):
        act(
            "create_dynamic_from_template",
            alice,
            template="formula",
            options={"formula": "system(1)"},
        )
    with pytest.raises(ActionError, match="Invalid options for template 'risk'"):
        act("create_dynamic_from_template", alice, template="risk", options={"window": 1})
