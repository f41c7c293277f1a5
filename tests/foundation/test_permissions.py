"""The permission matrix, checked end to end on a real database.

- Every registered action is called through ``engine.actions.call`` as an admin, an
  analyst, another analyst and a viewer: a refused call raises ``PermissionDenied``
  before any job, trial or dataset row is written; an allowed one gets past the gate.
  An action missing from ``MATRIX`` fails the test, so a new action must be classified.
- Every repository listing (conversations, trials, jobs, goals, datasets, dynamic
  actions) is read with two analysts' rows (and system rows) present: each role sees
  exactly the expected rows.
- docs/security.md shows the matrix the code enforces.
- Regression tests of the leaks of issue 15: another analyst's trial in ``predict`` and
  ``build_ensemble``, pinning a message of another conversation, cancelling without a
  signed-in user, viewers creating datasets or spending data-provider quota.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.actions import ActionError, PermissionDenied, UserRef, call, get_action
from engine.actions.base import NeedsConfirmation
from engine.auth import permissions
from engine.auth.matrix import catalogue_actions, documented_block, render
from storage.access import OwnerScope
from storage.db import session_scope
from storage.models import Dataset, Job, Trial

ROOT = Path(__file__).resolve().parents[2]
ROLES_WALKED = ("admin", "alice", "bob", "vic")  # alice and bob are analysts, vic a viewer

# Every built-in action: the lowest role that may run it, and parameters that validate.
# Parameters name nothing that exists (unknown symbols, trial 999999), so an allowed call
# is refused by the action itself at once instead of doing real work.
NOWHERE = ["NO_SUCH_SYMBOL", "NOR_THIS_ONE"]
MATRIX: dict[str, tuple[str, dict]] = {
    # viewers: read the team's record only
    "list_datasets": ("viewer", {"include_recorded": False}),
    "list_dynamic_actions": ("viewer", {}),
    "list_goals": ("viewer", {}),
    "list_models": ("viewer", {"text": "no such model"}),
    "goal_insights": ("viewer", {"goal_id": 999999}),
    "export_bundle": ("viewer", {"kind": "trial", "id": 999999}),
    "export_notebook": ("viewer", {"kind": "trial", "id": 999999}),
    "query_trials": ("viewer", {"symbol": "NO_SUCH_SYMBOL", "order": "best"}),
    "compare_trials": ("viewer", {"trial_ids": [999998, 999999]}),
    "query_jobs": ("viewer", {"status": ["failed"]}),
    "usage_report": ("viewer", {"goal_id": 999999}),
    # analysts: anything that computes, records, writes a dataset or spends quota
    "load_prices": ("analyst", {"symbols": NOWHERE}),
    "describe_dataset": ("analyst", {"symbols": NOWHERE}),
    "fetch_fred_series": ("analyst", {"series_id": "NO_SUCH_SERIES"}),
    "generate_synthetic_prices": ("analyst", {"days": 2, "seed": 1}),
    "backtest_strategy": ("analyst", {"symbols": NOWHERE}),
    "compute_indicators": ("analyst", {"symbols": NOWHERE}),
    "efficient_frontier": ("analyst", {"symbols": NOWHERE}),
    "optimize_portfolio": ("analyst", {"symbols": NOWHERE}),
    "risk_report": ("analyst", {"symbols": NOWHERE}),
    "correlation_matrix": ("analyst", {"symbols": NOWHERE}),
    "rolling_beta": ("analyst", {"symbols": NOWHERE}),
    "risk_contributions": ("analyst", {"symbols": NOWHERE}),
    "backtest_portfolio": ("analyst", {"symbols": NOWHERE}),
    "implied_volatility": (
        "analyst",
        {"spot": 100, "strike": 100, "maturity_years": 1, "price": 10},
    ),
    "price_option": (
        "analyst",
        {"spot": 100, "strike": 100, "maturity_years": 1, "volatility": 0.2},
    ),
    "predict": ("analyst", {"trial_id": 999999}),
    "train_model": ("analyst", {"model_id": "no such model", "symbols": NOWHERE}),
    "compare_models": ("analyst", {"model_ids": ["no such model", "nor this"], "symbols": NOWHERE}),
    "tune_model": ("analyst", {"model_id": "no such model", "symbols": NOWHERE}),
    "build_ensemble": ("analyst", {"trial_ids": [999998, 999999]}),
    "create_goal": ("analyst", {"name": "matrix goal", "symbols": ["AAPL"]}),
    "update_goal": ("analyst", {"goal_id": 999999}),
    "control_goal": ("analyst", {"goal_id": 999999, "command": "pause"}),
    "run_goal_loop": ("analyst", {"goal_id": 999999}),
    "propose_dynamic_action": (
        "analyst",
        {"name": "matrix_probe", "description": "probe", "source": "x = 1"},
    ),
    "create_dynamic_from_template": ("analyst", {"template": "rolling_stat"}),
    "test_dynamic_action": ("analyst", {"name": "matrix_probe", "symbols": NOWHERE}),
    # admins: approvals
    "approve_dynamic_action": ("admin", {"name": "matrix_probe"}),
    "retire_dynamic_action": ("admin", {"name": "matrix_probe"}),
    # admins: budgets
    "set_budget": ("admin", {"scope": "user", "username": "nobody_here", "max_tokens": 1}),
}
RANK = {"viewer": 0, "analyst": 1, "admin": 2}


@pytest.fixture
def people(fresh_db, make_user):
    return {
        "admin": make_user("root", "admin"),
        "alice": make_user("alice", "analyst"),
        "bob": make_user("bob", "analyst"),
        "vic": make_user("vic", "viewer"),
    }


def _counts() -> tuple[int, int, int]:
    with session_scope() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Job, Trial, Dataset)
        )


# --- actions -------------------------------------------------------------------------------


def test_every_registered_action_is_classified():
    registered = catalogue_actions()
    unclassified = sorted(set(registered) - set(MATRIX))
    assert not unclassified, f"add these actions to MATRIX (and docs/security.md): {unclassified}"
    assert not sorted(set(MATRIX) - set(registered)), "MATRIX names actions that do not exist"
    moved = {
        name: (registered[name], MATRIX[name][0])
        for name in MATRIX
        if registered[name] != MATRIX[name][0]
    }
    assert not moved, f"min_role (registered, expected) differs: {moved}"
    for name, (_, params) in MATRIX.items():
        action = get_action(name)
        action.params_model.model_validate(params)  # the examples really validate


def test_every_action_as_every_role_through_call(people, monkeypatch):
    # remote sources point at a closed local port: no test reaches the internet
    monkeypatch.setenv("FRED_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("POLYGON_BASE_URL", "http://127.0.0.1:9")
    from engine import executor

    refused: dict[str, set[str]] = {}
    for name, (min_role, params) in sorted(MATRIX.items()):
        for who in ROLES_WALKED:
            user = people[who]
            may = RANK[user.role] >= RANK[min_role]
            before = _counts()
            if not may:
                with pytest.raises(PermissionDenied):
                    call(name, params, user)
                assert _counts() == before, f"{name} as {who}: work done before the refusal"
                refused.setdefault(name, set()).add(who)
                continue
            try:
                outcome = call(name, params, user)
            except NeedsConfirmation:
                assert get_action(name).needs_confirmation
                continue
            except PermissionDenied as denied:  # pragma: no cover - the failure message
                pytest.fail(f"{name} as {who} ({user.role}) was refused: {denied}")
            assert outcome.job_id, f"{name} as {who}: no job recorded"
            assert "cannot run" not in (outcome.error or ""), (name, who, outcome.error)
            if outcome.status in ("queued", "running"):
                executor.cancel_as_operator(outcome.job_id)
    expected = {
        name: {who for who in ROLES_WALKED if RANK[people[who].role] < RANK[min_role]}
        for name, (min_role, _) in MATRIX.items()
    }
    assert refused == {name: whom for name, whom in expected.items() if whom}


def test_viewers_can_neither_create_datasets_nor_spend_quota(people, monkeypatch):
    """Regression (issue 15, finding 4): these ran for viewers and wrote dataset rows."""
    monkeypatch.setenv("FRED_BASE_URL", "http://127.0.0.1:9")
    vic = people["vic"]
    before = _counts()
    for name, params in (
        ("generate_synthetic_prices", {"days": 30, "seed": 3}),
        ("load_prices", {"symbols": ["AAPL"], "start": "2022-12-01"}),
        ("describe_dataset", {"symbols": ["AAPL"], "start": "2022-12-01"}),
        ("fetch_fred_series", {"series_id": "DGS10"}),
    ):
        with pytest.raises(PermissionDenied, match="needs analyst"):
            call(name, params, vic)
    assert _counts() == before
    made = call("generate_synthetic_prices", {"days": 30, "seed": 3}, people["alice"])
    assert made.status == "succeeded", made.error
    assert _counts()[2] == before[2] + 1


# --- listings ------------------------------------------------------------------------------


@pytest.fixture
def rows(any_db, make_user):
    """Two analysts' rows of every kind, plus rows without an owner (made by the system)."""
    from storage.repositories import conversations, datasets, dynamic_actions, goals, jobs, trials

    people = {
        "admin": make_user("root", "admin"),
        "alice": make_user("alice", "analyst"),
        "bob": make_user("bob", "analyst"),
        "vic": make_user("vic", "viewer"),
    }
    made: dict[str, dict[str | None, set[int]]] = {}

    def add(kind: str, owner: str | None, row_id: int) -> None:
        made.setdefault(kind, {}).setdefault(owner, set()).add(row_id)

    for owner in ("alice", "bob"):
        user = people[owner]
        add("conversation", owner, conversations.create_conversation(user.id, owner).id)
        add("goal", owner, goals.create_goal(user.id, f"{owner}'s goal", {}, None).id)
        add("job", owner, jobs.create_job("train_model", {}, user.id, status="succeeded"))
        add(
            "trial",
            owner,
            trials.create_trial(action="train_model", params={}, user_id=user.id).id,
        )
        add(
            "dataset",
            owner,
            datasets.record_dataset(
                name=f"{owner}'s upload",
                source="upload",
                symbols=["X"],
                start_date=None,
                end_date=None,
                rows=1,
                fingerprint=f"fp-{owner}",
                user_id=user.id,
            ),
        )
        draft = dynamic_actions.create_version(
            f"{owner}_draft",
            description="d",
            parameters={},
            source="x = 1",
            source_hash=f"h-{owner}",
            author_id=user.id,
        )
        add("dynamic_action", owner, draft.id)
    approved = dynamic_actions.create_version(
        "bob_published",
        description="d",
        parameters={},
        source="x = 2",
        source_hash="h-published",
        author_id=people["bob"].id,
    )
    dynamic_actions.set_status(approved.id, "approved", approved_by=people["admin"].id)
    add("dynamic_action", "approved", approved.id)
    # data from a provider is the team's, whoever loaded it first (rows are de-duplicated)
    add(
        "dataset",
        "public",
        datasets.record_dataset(
            name="bob's bundled load",
            source="bundled",
            symbols=["KO"],
            start_date=None,
            end_date=None,
            rows=1,
            fingerprint="fp-bob-bundled",
            user_id=people["bob"].id,
        ),
    )
    add("goal", None, goals.create_goal(None, "system goal", {}, None).id)
    add("job", None, jobs.create_job("train_model", {}, None, status="succeeded"))
    add("trial", None, trials.create_trial(action="train_model", params={}, user_id=None).id)
    add(
        "dataset",
        None,
        datasets.record_dataset(
            name="bundled",
            source="bundled",
            symbols=["AAPL"],
            start_date=None,
            end_date=None,
            rows=1,
            fingerprint="fp-system",
        ),
    )
    return people, made


def _listed(kind: str, scope: OwnerScope) -> set[int]:
    from storage.repositories import conversations, datasets, dynamic_actions, goals, jobs, trials

    if kind == "conversation":
        return {r.id for r in conversations.list_conversations(scope)}
    if kind == "goal":
        return {r.id for r in goals.list_goals(scope)}
    if kind == "job":
        return {r.id for r in jobs.list_jobs(scope, limit=1000)}
    if kind == "dataset":
        return {r.id for r in datasets.list_datasets(scope, limit=1000)}
    if kind == "dynamic_action":
        return {r.id for r in dynamic_actions.list_versions(scope)}
    if kind == "trial":
        return {r.id for r in trials.search_trials(trials.TrialFilter(), scope, limit=1000)[0]}
    raise AssertionError(kind)


# Whose rows each role sees, by kind ("approved": published dynamic actions; "public":
# bob's load of bundled data).
ALL = ("alice", "bob", None, "approved", "public")
SEES: dict[str, dict[str, tuple]] = {
    "conversation": {"admin": ALL, "alice": ("alice",), "bob": ("bob",), "vic": ALL},
    "trial": {"admin": ALL, "alice": ("alice", None), "bob": ("bob", None), "vic": ALL},
    "job": {"admin": ALL, "alice": ("alice",), "bob": ("bob",), "vic": ()},
    "goal": {"admin": ALL, "alice": ("alice", None), "bob": ("bob", None), "vic": ALL},
    "dataset": {
        "admin": ALL,
        "alice": ("alice", None, "public"),
        "bob": ("bob", None, "public"),
        "vic": ALL,
    },
    "dynamic_action": {
        "admin": ALL,
        "alice": ("alice", "approved"),
        "bob": ("bob", "approved"),
        "vic": ("approved",),
    },
}


@pytest.mark.parametrize("kind", sorted(SEES))
def test_each_role_lists_exactly_the_expected_rows(rows, kind):
    people, made = rows
    everything = set().union(*made[kind].values())
    for who, owners in SEES[kind].items():
        expected = set().union(*(made[kind].get(owner, set()) for owner in owners))
        scope = permissions.scope_for(people[who], kind)
        assert _listed(kind, scope) == expected, (kind, who)
        # the row-by-row rule agrees with the listing's filter
        readable = {
            row_id
            for owner, ids in made[kind].items()
            for row_id in ids
            if owner == "approved"
            or (owner == "public" and permissions.can_read_dataset(people[who], "bundled", 1))
            or (
                owner in ("alice", "bob", None)
                and permissions.can_read(people[who], kind, people[owner].id if owner else None)
            )
        }
        assert readable == expected, (kind, who)
    assert _listed(kind, OwnerScope.all_rows()) == everything


def test_engine_listings_use_the_scope(rows):
    from engine import executor
    from engine.chat import conversations
    from engine.data.loader import recorded_datasets
    from engine.goals import service as goals
    from engine.sandbox import service as sandbox

    people, made = rows
    alice, vic, admin = people["alice"], people["vic"], people["admin"]
    assert {c.id for c in conversations.listing(alice)} == made["conversation"]["alice"]
    assert {g.id for g in goals.listing(alice)} == made["goal"]["alice"] | made["goal"][None]
    assert {j.id for j in executor.list_recent(alice, 100)} == made["job"]["alice"]
    assert {j.id for j in executor.list_recent(admin, 100, all_users=True)} == set().union(
        *made["job"].values()
    )
    with pytest.raises(PermissionDenied):
        executor.list_recent(alice, 100, all_users=True)
    assert {d["dataset_id"] for d in recorded_datasets(alice)} == (
        made["dataset"]["alice"] | made["dataset"][None] | made["dataset"]["public"]
    )
    assert {r.id for r in sandbox.listing(vic)} == made["dynamic_action"]["approved"]
    assert permissions.scope_for(alice, "trial") == OwnerScope(
        everyone=False, owner_id=alice.id, include_shared=True
    )


# --- the document --------------------------------------------------------------------------


def test_security_doc_shows_the_matrix_the_code_enforces():
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    authorisation = text.split("\n## Authorisation\n", 1)[1].split("\n## ", 1)[0]
    documented = documented_block(authorisation)
    assert documented is not None, "the generated matrix block is missing from Authorisation"
    assert documented == render(), (
        "docs/security.md is out of date: paste the output of `python -m engine.auth.matrix`"
    )
    assert render({name: role for name, (role, _) in MATRIX.items()}) == documented


# --- regressions of issue 15 -----------------------------------------------------------------


def _trial(user: UserRef, **fields) -> int:
    from storage.repositories import trials

    return trials.create_trial(
        action="train_model", params={}, user_id=user.id, status="succeeded", **fields
    ).id


def test_predict_and_ensemble_refuse_another_analysts_trial_like_a_missing_one(people):
    """Regression (finding 1): any trial id was accepted, whoever had made it."""
    from engine.actions import ActionContext

    alice, bob, admin = people["alice"], people["bob"], people["admin"]
    first, second = _trial(alice), _trial(alice)
    missing = second + 1000

    def predict_error(user: UserRef, trial_id: int) -> str:
        outcome = call("predict", {"trial_id": trial_id}, user)
        assert outcome.status == "failed"
        return outcome.error

    gone = predict_error(bob, missing)
    assert predict_error(bob, first) == gone.replace(str(missing), str(first))
    assert gone == f"Trial {missing} does not exist or is not visible to you."
    # the owner and an admin get past the check (to the next problem: no saved model)
    assert "has no saved model" in predict_error(alice, first)
    assert "has no saved model" in predict_error(admin, first)

    ensemble = get_action("build_ensemble")
    params = ensemble.params_model(trial_ids=[first, second])
    with pytest.raises(ActionError) as refused:
        ensemble.run(params, ActionContext(user=bob))
    assert str(refused.value) == f"Trial {first} does not exist or is not visible to you."
    with pytest.raises(ActionError) as absent:
        ensemble.run(ensemble.params_model(trial_ids=[missing, first]), ActionContext(user=bob))
    assert str(absent.value) == gone
    with pytest.raises(ActionError) as owner:
        ensemble.run(params, ActionContext(user=alice))
    assert "not visible" not in str(owner.value)  # alice's own trials pass the check


def test_pin_only_a_message_of_a_conversation_one_may_write(people):
    """Regression (finding 2): the conversation was checked, the message was not."""
    from engine.chat import conversations
    from storage.repositories import conversations as repo

    alice, bob, vic = people["alice"], people["bob"], people["vic"]
    hers = conversations.start(alice, "alice's research")
    secret = repo.add_message(hers.id, "user", "alice's private question")
    his = conversations.start(bob, "bob's chat")
    with pytest.raises(ActionError):
        conversations.pin(bob, his.id, secret.id, True)
    with pytest.raises(PermissionDenied):
        conversations.pin(bob, hers.id, secret.id, True)
    with pytest.raises(PermissionDenied):
        conversations.pin(vic, hers.id, secret.id, True)
    assert not [m for m in repo.list_messages(hers.id) if m.pinned]
    conversations.pin(alice, hers.id, secret.id, True)
    assert [m.id for m in repo.list_messages(hers.id) if m.pinned] == [secret.id]


def test_cancel_needs_a_signed_in_user(people):
    """Regression (finding 3): with the session over, Cancel passed no user and the
    executor skipped the permission check."""
    import inspect

    from engine import executor
    from storage.repositories import jobs

    alice, bob = people["alice"], people["bob"]
    job_id = jobs.create_job("train_model", {}, alice.id)
    with pytest.raises(PermissionDenied):
        executor.cancel(job_id, by_user=None)
    assert jobs.get_job(job_id).status == "queued"
    assert inspect.signature(executor.cancel).parameters["by_user"].default is inspect._empty

    from ui.jobs import SIGNED_OUT_CANCEL, cancel_as

    assert cancel_as(None, job_id) == SIGNED_OUT_CANCEL
    assert "does not exist or is not visible" in cancel_as(bob, job_id)
    assert jobs.get_job(job_id).status == "queued" and not jobs.get_job(job_id).cancel_requested
    assert cancel_as(alice, job_id) is None
    assert jobs.get_job(job_id).status == "cancelled"


def test_goal_loop_and_insights_only_for_goals_one_may_see(people):
    """Regression: run_goal_loop and goal_insights took any goal id, so an analyst could
    read another analyst's goal or spend trials on it."""
    from engine.actions import ActionContext
    from engine.goals import service as goals
    from engine.goals.spec import GoalSpec

    alice, bob, vic = people["alice"], people["bob"], people["vic"]
    goal = goals.create(alice, GoalSpec(name="alice's goal", symbols=["SPX"]))
    missing = goal.id + 1000
    loop = get_action("run_goal_loop")
    before = _counts()

    def loop_error(user: UserRef, goal_id: int) -> str:
        with pytest.raises(ActionError) as refused:
            loop.run(loop.params_model(goal_id=goal_id), ActionContext(user=user))
        return str(refused.value)

    assert loop_error(bob, goal.id) == loop_error(bob, missing).replace(str(missing), str(goal.id))
    assert loop_error(bob, missing) == f"Goal {missing} does not exist or is not visible to you."
    assert "cannot change" in loop_error(vic, goal.id)  # viewers read goals, never run them
    assert _counts() == before

    hidden = call("goal_insights", {"goal_id": goal.id}, bob)
    assert hidden.status == "failed"
    assert hidden.error == f"Goal {goal.id} does not exist or is not visible to you."
    assert call("goal_insights", {"goal_id": goal.id}, alice).status == "succeeded"
    assert call("goal_insights", {"goal_id": goal.id}, vic).status == "succeeded"


CSV = b"date,close\n2024-01-02,10\n2024-01-03,11\n2024-01-04,12\n2024-01-05,11.5\n"


def test_another_analysts_upload_is_refused_by_id_like_a_missing_one(people):
    """Regression: an upload was private in listings but any analyst could load it by
    id (source='upload:<id>', dataset_id) through any action."""
    from engine.data.upload import import_upload

    alice, bob, vic = people["alice"], people["bob"], people["vic"]
    upload = import_upload(CSV, "alice.csv", user=alice, symbol="ALC").dataset_id
    missing = upload + 1000
    message = "Dataset {} does not exist or is not visible to you."
    before = _counts()
    for name, params in (
        ("load_prices", {"symbols": ["ALC"], "source": f"upload:{upload}"}),
        ("describe_dataset", {"dataset_id": upload}),
        ("backtest_strategy", {"symbols": ["ALC"], "source": f"dataset:{upload}"}),
        ("train_model", {"dataset_id": upload, "target_column": "close", "model_id": "ridge"}),
    ):
        with pytest.raises(PermissionDenied) as hidden:
            call(name, params, bob)
        assert str(hidden.value) == message.format(upload), name
    with pytest.raises(PermissionDenied) as absent:
        call("describe_dataset", {"dataset_id": missing}, bob)
    assert str(absent.value) == message.format(missing)
    assert _counts() == before
    assert call("describe_dataset", {"dataset_id": upload}, alice).status == "succeeded"
    assert call("describe_dataset", {"dataset_id": upload}, people["admin"]).status == "succeeded"
    with pytest.raises(PermissionDenied, match="needs analyst"):
        call("describe_dataset", {"dataset_id": upload}, vic)


def test_no_role_strings_compared_outside_the_permissions_module():
    """Every permission question goes to engine.auth.permissions: no other module of the
    app compares a role with a role name or ranks roles itself."""
    import re

    pattern = re.compile(
        r"""role\s*(==|!=)\s*["'](admin|analyst|viewer)["']"""
        r"""|role\s+(not\s+)?in\s+[(\[{][^)\]}]*["'](admin|analyst|viewer)["']"""
        r"""|\bROLE_RANK\b"""
    )
    allowed_here = {ROOT / "engine" / "auth" / "permissions.py"}
    files = [ROOT / "app.py"] + [
        path for folder in ("engine", "ui", "pages") for path in (ROOT / folder).rglob("*.py")
    ]
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in files
        if path not in allowed_here
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not offenders, "ask engine.auth.permissions instead:\n" + "\n".join(offenders)
