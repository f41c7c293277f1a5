"""Cost of checking a reply's numbers against its turn's tool results.

    .venv/bin/python bench/bench_chat_verify.py [--repeats 300]

Target: < 5 ms per reply of 2,000 characters (issue 17). The subject is the whole check
the chat runs after a turn (``TurnSources`` from the tool results as Claude read them,
then ``check_reply``: extraction, matching, the stored verdict and the metric). The
input is deterministic: three tool results (a backtest with a 30-row trade table, a
model training with fold scores, a risk report) and a reply of exactly 2,000 characters
quoting about 60 numbers, a fifth of them invented. The baseline, timed interleaved
with the subject in the same loop so machine load affects both alike, is what the page
already does with every reply: ``safe_markdown``. Reported: median and 95th percentile
per reply (wall), the median CPU time (what a loaded machine does not inflate), and the
median ratio to the baseline.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLTRAINER_METRICS_PORT", "0")

REPLY_CHARS = 2000


def tool_results(rng: random.Random) -> list[tuple[dict, dict]]:
    trades = {
        "columns": ["date", "side", "price", "quantity", "pnl", "return", "cost"],
        "rows": [
            [
                f"2015-{1 + i % 12:02d}-{1 + i % 27:02d}",
                "buy" if i % 2 else "sell",
                round(rng.uniform(80, 140), 2),
                rng.randrange(10, 500),
                round(rng.gauss(0, 300), 2),
                round(rng.gauss(0, 0.02), 6),
                round(rng.uniform(0, 0.001), 6),
            ]
            for i in range(30)
        ],
        "rows_total": 212,
        "rows_shown": 30,
    }
    backtest = {
        "result_id": "R41",
        "action": "backtest_strategy",
        "status": "succeeded",
        "summary": "SMA 20/50 crossover on AAPL 2010-01-04 .. 2015-12-31: Sharpe 1.12, "
        "CAGR 9.8%, max drawdown -18.4%, 212 trades, costs 5 bps",
        "values": {
            "sharpe": 1.1213,
            "cagr": 0.0981,
            "max_drawdown": -0.1843,
            "volatility": 0.1532,
            "trades": 212,
            "hit_rate": 0.5377,
            "turnover": 14.2,
        },
        "tables": {"trades": trades},
    }
    folds = {
        "columns": ["fold", "train_rows", "test_rows", "balanced_accuracy", "roc_auc"],
        "rows": [
            [
                k,
                300 + 100 * k,
                100,
                round(rng.uniform(0.5, 0.6), 4),
                round(rng.uniform(0.5, 0.65), 4),
            ]
            for k in range(5)
        ],
        "rows_total": 5,
        "rows_shown": 5,
    }
    training = {
        "result_id": "R42",
        "action": "train_model",
        "status": "succeeded",
        "summary": "Random forest, walk-forward 5 folds: balanced accuracy 0.553 ± 0.021",
        "values": {"metric_value": 0.5531, "metric_std": 0.0212, "holdout": 0.5402},
        "tables": {"folds": folds},
    }
    risk = {
        "result_id": "R43",
        "action": "risk_report",
        "status": "succeeded",
        "summary": "99% 10-day VaR 7.9% of value, CVaR 10.3%",
        "values": {"var": 0.0791, "cvar": 0.1034, "beta": 1.18, "vol": 0.2712},
    }
    return [
        (backtest, {"symbol": "AAPL", "fast": 20, "slow": 50, "cost_bps": 5}),
        (training, {"model_id": "sklearn.RandomForestClassifier", "n_splits": 5}),
        (risk, {"symbols": ["JPM"], "confidence": 0.99, "horizon_days": 10}),
    ]


def reply_text(results: list[tuple[dict, dict]], rng: random.Random) -> str:
    quoted = []
    for payload, _ in results:
        for name, value in payload["values"].items():
            quoted.append((name, value))
    sentences = []
    while sum(len(s) for s in sentences) < REPLY_CHARS + 200:
        name, value = rng.choice(quoted)
        if rng.random() < 0.2:
            written = f"{rng.uniform(1, 5):.2f}"  # invented
        elif isinstance(value, float) and abs(value) < 1:
            written = f"{100 * value:.1f}%"
        else:
            written = f"{value:,}"
        sentences.append(
            f"The {name.replace('_', ' ')} came out at {written} [R4{rng.randrange(1, 4)}]. "
        )
    return "".join(sentences)[:REPLY_CHARS]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    from engine.chat.citations import TurnSources, check_reply
    from engine.chat.verify import verify
    from ui.text import safe_markdown

    rng = random.Random(17)
    results = tool_results(rng)
    reply = reply_text(results, rng)
    request = "Backtest a 20/50 SMA crossover on AAPL with 5 bps costs, then train a model"

    def subject() -> dict:
        sources = TurnSources()
        for payload, params in results:
            sources.add_tool_result(payload, params)
        return check_reply(reply, sources, request=request, mode="bench")

    verdict = subject()  # warm: the system prompt's numbers are read once per process
    subject_ms, baseline_ms, ratios, cpu_ms = [], [], [], []
    for _ in range(args.repeats):
        started = time.perf_counter()
        cpu_started = time.process_time()
        subject()
        cpu_ms.append((time.process_time() - cpu_started) * 1000)
        middle = time.perf_counter()
        safe_markdown(reply)
        ended = time.perf_counter()
        subject_ms.append((middle - started) * 1000)
        baseline_ms.append((ended - middle) * 1000)
        ratios.append(subject_ms[-1] / baseline_ms[-1])
    subject_ms.sort()
    sources = TurnSources()
    for payload, params in results:
        sources.add_tool_result(payload, params)
    claims = verify(reply, sources.references, request=request).claims
    print(
        f"reply {len(reply)} chars, {len(claims)} numbers checked "
        f"({verdict['verified']} verified, {verdict['unverified']} unverified), "
        f"{args.repeats} repeats, {os.cpu_count()} cores"
    )
    print(
        f"check_reply: median {statistics.median(subject_ms):.3f} ms, "
        f"p95 {subject_ms[int(0.95 * len(subject_ms))]:.3f} ms (target < 5 ms), "
        f"CPU time median {statistics.median(cpu_ms):.3f} ms; "
        f"safe_markdown of the same reply: median {statistics.median(baseline_ms):.3f} ms; "
        f"ratio (median of per-repeat ratios) {statistics.median(ratios):.2f}"
    )


if __name__ == "__main__":
    main()
