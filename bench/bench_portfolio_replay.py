"""The goal loop replayed on the meta-tasks' stored scores, leaving one type of target
(or one symbol) out: loop ÷ random search trials to the top decile, per variant.

    .venv/bin/python bench/bench_portfolio_replay.py [--seeds 25] [--budget 40]

No model is trained: ``engine/autonomy/portfolio_scores_*.json`` hold every candidate's
walk-forward score on every meta-task, and :mod:`engine.autonomy.replay` replays a
search on them (a trial is a candidate, the goal the task's top decile). For each
held-out group the portfolio and the family prior are learned from the other groups'
tasks only. Variants: each portfolio rule of :data:`engine.autonomy.portfolio.RULES`,
with the previous loop's search after the portfolio (hand-set family prior, UCB only)
and with the current one (family prior from the meta-tasks, the best trial's family
every other trial). Random search draws candidates in a random order. Medians over
seeds per task; the table gives the median and mean of the per-task ratios, the worst
ratio and how many tasks are above 1.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.autonomy import portfolio as pf  # noqa: E402
from engine.autonomy import replay as rp  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=25)
    parser.add_argument("--budget", type=int, default=40)
    args = parser.parse_args()
    started, cpu = time.perf_counter(), time.process_time()
    shipped = json.loads(pf.PORTFOLIO_FILE.read_text())["rule"]
    print(
        "| task type | left out | rule | search after the portfolio | median ratio | mean "
        "| worst | tasks > 1 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for path in sorted(pf.PORTFOLIO_FILE.parent.glob("portfolio_scores_*.json")):
        document = json.loads(path.read_text())
        m = rp.matrices(document)
        symbols = [t["symbol"] for t in document["tasks"]]
        for left_out, groups in (("target type", m.types), ("symbol", symbols)):
            for rule in pf.RULES:
                for previous in (True, False):
                    variant = (
                        rp.Variant(rule=rule, learned_prior=False, exploit_every=0)
                        if previous
                        else rp.Variant(rule=rule)
                    )
                    rows = rp.leave_one_group_out(m, variant, groups, args.seeds, args.budget)
                    ratios = [r["ratio"] for r in rows]
                    search = (
                        "previous (hand-set prior, UCB)"
                        if previous
                        else "now (meta-task prior, best family every 2nd)"
                    )
                    mark = " (shipped)" if rule == shipped[document["task_type"]] else ""
                    print(
                        f"| {document['task_type']} ({len(m.keys)} tasks) | {left_out} | "
                        f"{rule}{mark} | {search} | {statistics.median(ratios):.2f} | "
                        f"{statistics.mean(ratios):.2f} | {max(ratios):.2f} | "
                        f"{sum(r > 1 for r in ratios)}/{len(ratios)} |"
                    )
    print(
        f"\n{time.perf_counter() - started:.0f} s wall, {time.process_time() - cpu:.0f} s CPU, "
        f"seeds {args.seeds}, budget {args.budget}"
    )


if __name__ == "__main__":
    main()
