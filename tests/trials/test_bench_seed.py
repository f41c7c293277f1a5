"""The benchmark seeder writes trials in the typed record's shapes (the benchmarks then
measure the same parsing the pages do)."""

from __future__ import annotations

from bench import bench_seed
from engine.trials import query
from engine.trials.query import TrialQuery
from engine.trials.record import SplitResult, Trial
from storage.access import OwnerScope
from storage.repositories import trials as trial_repo


def test_seeded_trials_parse_as_typed_records(people):
    counts = bench_seed.seed(trials=30, jobs=3, events_per_job=5, users=2, goals=2)
    assert counts.trials == 30
    rows, total = trial_repo.search_trials(trial_repo.TrialFilter(), OwnerScope.all_rows())
    assert total == 30
    for row in rows:
        trial = Trial.from_row(row)
        assert trial.reproducibility.fingerprint and trial.importances.kind == "native"
        for result in trial_repo.model_results(row.id):
            SplitResult.from_row(result)
    page = query.search(people["root"], TrialQuery(sort="metric_value"))
    assert page.total == 30 and page.frame["± std"].notna().any()
