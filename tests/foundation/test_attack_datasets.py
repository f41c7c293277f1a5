"""Attack regressions (session G): another analyst's upload named in a form the dispatch
check did not recognise but the loader still parsed as the same id."""

from __future__ import annotations

import pytest

from engine.actions import ActionError, PermissionDenied, call

CSV = (
    b"date,close\n2024-01-02,10\n2024-01-03,11\n2024-01-04,12\n2024-01-05,11.5\n"
    b"2024-01-08,11.7\n2024-01-09,12.4\n"
)


@pytest.fixture
def people(fresh_db, make_user):
    return {"alice": make_user("alice", "analyst"), "bob": make_user("bob", "analyst")}


@pytest.mark.parametrize("spelling", ["+{}", "0_{}", " +{} ", "{}_", "-{}"])
def test_another_analysts_upload_is_not_read_through_an_odd_spelling_of_its_id(people, spelling):
    from engine.data.upload import import_upload

    alice, bob = people["alice"], people["bob"]
    upload = import_upload(CSV, "alice.csv", user=alice, symbol="ALC").dataset_id
    source = "upload:" + spelling.format(upload)
    for name, params in (
        ("load_prices", {"symbols": ["ALC"], "source": source}),
        ("correlation_matrix", {"symbols": ["ALC", "ALC"], "source": source}),
    ):
        try:
            outcome = call(name, params, bob, wait=30)
        except (PermissionDenied, ActionError):
            continue
        assert outcome.status != "succeeded", (name, source)
        assert "ALC" not in str(outcome.result and outcome.result.values), (name, source)


def test_the_owner_still_loads_the_upload_by_its_plain_id(people):
    from engine.data.upload import import_upload

    alice = people["alice"]
    upload = import_upload(CSV, "alice.csv", user=alice, symbol="ALC").dataset_id
    outcome = call(
        "load_prices", {"symbols": ["ALC"], "source": f"upload: {upload}"}, alice, wait=30
    )
    assert outcome.status == "succeeded"
    odd = call("load_prices", {"symbols": ["ALC"], "source": f"upload:+{upload}"}, alice, wait=30)
    assert odd.status == "failed" and "numeric dataset id" in (odd.error or "")
