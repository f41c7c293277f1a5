"""tools/build_portfolio.py: the second round's tasks and joining its shares."""

from __future__ import annotations

import json

import pytest

from tools.build_portfolio import merge, meta_tasks


def _scores(tasks: list[str], rows: list[list[float | None]], seconds: float) -> dict:
    return {
        "task_type": "classification",
        "seed": 0,
        "tasks": [{"key": key} for key in tasks],
        "candidates": [{"model_id": "a"}, {"model_id": "b"}],
        "scores": rows,
        "seconds": seconds,
        "too_slow": [],
    }


def test_merge_lines_every_shares_new_tasks_up_with_the_candidates(tmp_path):
    start = _scores(["t1"], [[0.1], [0.2]], 10.0)
    share_a = _scores(["t1", "t2", "t4"], [[0.1, 0.3, 0.5], [0.2, 0.4, None]], 25.0)
    share_b = _scores(["t1", "t3", "t2"], [[0.1, 0.6, 9.9], [0.2, 0.7, 9.9]], 14.0)
    paths = []
    for name, document in (("start", start), ("a", share_a), ("b", share_b)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(document))
    out = tmp_path / "merged.json"
    merge(paths, out)
    merged = json.loads(out.read_text())
    assert [t["key"] for t in merged["tasks"]] == ["t1", "t2", "t4", "t3"]
    # each candidate's row follows its tasks; a task already in (t2 in b) is not taken twice
    assert merged["scores"] == [[0.1, 0.3, 0.5, 0.6], [0.2, 0.4, None, 0.7]]
    assert merged["seconds"] == 10.0 + 15.0 + 4.0  # the start, then each share's own time
    other = _scores(["t5"], [[0.1]], 1.0)
    other["candidates"] = [{"model_id": "c"}]
    paths[1].write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="different candidates"):
        merge(paths, out)


def test_the_second_round_spreads_over_ten_stocks_and_every_target_of_the_type():
    from engine.autonomy.meta_tasks import TARGETS

    for kind in ("classification", "regression"):
        second = meta_tasks(kind, 2)
        targets = {t for t, spec in TARGETS.items() if spec[1] == kind}
        assert {m.target for m in second} == targets
        assert len({m.symbol for m in second}) == 10
        assert len(second) == 10 * len(targets) == len({m.key for m in second})
        assert not {m.symbol for m in second} & {m.symbol for m in meta_tasks(kind, 1)}
        halves = meta_tasks(kind, 2)[0::2] + meta_tasks(kind, 2)[1::2]
        assert sorted(m.key for m in halves) == sorted(m.key for m in second)
