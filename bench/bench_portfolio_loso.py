"""How soon the portfolio of each rule reaches the top decile of a task it has not
seen: leave one stock out and one type of target out over the meta-tasks' stored
scores (engine.autonomy.portfolio_choice, which chooses the shipped rule this way).

    .venv/bin/python bench/bench_portfolio_loso.py [--scores FILE ...]

No model is trained. The threshold is the benchmark's: the 90th percentile of each
task's random configurations. Random search's median is 7 trials at a 10 % hit rate,
so a first hit by trial 3 is a ratio ≤ 0.43 (the target is 0.5); a miss counts as
trial 16 (the portfolio, then ~10 more).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.autonomy import portfolio as pf  # noqa: E402
from engine.autonomy import portfolio_choice as pc  # noqa: E402

RANDOM_MEDIAN = 7


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--scores",
        type=Path,
        nargs="+",
        default=sorted(pf.PORTFOLIO_FILE.parent.glob("portfolio_scores_*.json")),
    )
    args = parser.parse_args()
    print(
        "| task type | left out | rule | first hit ≤ 3 | first hit 1 | median first hit "
        "| ratio of the median | mean first hit |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for path in args.scores:
        document = json.loads(path.read_text())
        tasks = document["tasks"]
        metrics = [t["metric"] for t in tasks]
        matrix = pf._oriented_matrix([row[: len(tasks)] for row in document["scores"]], metrics)
        record = pc.choice_record(document, matrix, pf.rank_matrix(matrix))
        stocks = len({t["symbol"] for t in tasks})
        for left_out, rules in record["first_hit_leave_one_out"].items():
            for rule, positions in rules.items():
                chosen = " (chosen)" if rule == record["rule"] else ""
                median = statistics.median(positions)
                print(
                    f"| {document['task_type']} ({len(tasks)} tasks, {stocks} stocks) | "
                    f"{left_out} | {rule}{chosen} | {pc.early_share(positions):.2f} | "
                    f"{np.mean([p == 1 for p in positions]):.2f} | {median:g} | "
                    f"{median / RANDOM_MEDIAN:.2f} | {np.mean(positions):.1f} |"
                )


if __name__ == "__main__":
    main()
