"""Compare what a run produced with what was recorded, and say why numbers moved.

Numbers match when they are equal (``tolerance=0``: byte-identical floats after the
JSON round trip both sides take) or within a relative and absolute ``tolerance``;
missing on one side never matches. Table columns match on their SHA-256. The reasons
name what differs around the numbers: a library version, the data's fingerprint (a
data revision), a bundle slice or dynamic action whose content changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.reproduce.manifest import Observation

COLUMNS = ["metric", "recorded", "re-run", "difference", "match"]


@dataclass
class StepComparison:
    index: int
    action: str
    rows: list[dict[str, Any]]
    reasons: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def identical(self) -> bool:
        return self.error is None and bool(self.rows) and all(r["match"] for r in self.rows)

    @property
    def moved(self) -> list[dict[str, Any]]:
        return [row for row in self.rows if not row["match"]]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)


@dataclass
class Comparison:
    steps: list[StepComparison]
    reasons: list[str] = field(default_factory=list)  # drift of the whole bundle (data, code)
    notes: list[str] = field(default_factory=list)  # context: library versions that changed

    @property
    def identical(self) -> bool:
        return not self.reasons and all(step.identical for step in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "reasons": self.reasons,
            "notes": self.notes,
            "steps": [
                {
                    "index": s.index,
                    "action": s.action,
                    "identical": s.identical,
                    "error": s.error,
                    "reasons": s.reasons,
                    "metrics": s.rows,
                }
                for s in self.steps
            ],
        }


def same_number(a: float | None, b: float | None, tolerance: float = 0.0) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if tolerance <= 0:
        return a == b
    return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)


def metric_rows(
    expected: Observation, actual: Observation | None, tolerance: float = 0.0
) -> list[dict[str, Any]]:
    """One row per recorded or reproduced number and table column."""
    got = actual.metrics if actual is not None else {}
    rows = []
    for name in list(expected.metrics) + [n for n in got if n not in expected.metrics]:
        a, b = expected.metrics.get(name), got.get(name)
        present = name in expected.metrics and name in got
        difference = b - a if a is not None and b is not None else None
        match = present and same_number(a, b, tolerance)
        rows.append(
            {"metric": name, "recorded": a, "re-run": b, "difference": difference, "match": match}
        )
    digests = actual.digests if actual is not None else {}
    for name in list(expected.digests) + [n for n in digests if n not in expected.digests]:
        a_digest, b_digest = expected.digests.get(name), digests.get(name)
        rows.append(
            {
                "metric": f"{name} (whole column, sha256)",
                "recorded": a_digest[:12] if a_digest else None,
                "re-run": b_digest[:12] if b_digest else None,
                "difference": None,
                "match": a_digest is not None and a_digest == b_digest,
            }
        )
    return rows


def version_changes(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    return [
        f"library version: {name} {recorded.get(name)} → {current.get(name)}"
        for name in sorted(set(recorded) | set(current))
        if name in recorded and name in current and recorded[name] != current[name]
    ]


def reasons(expected: Observation, actual: Observation | None) -> list[str]:
    """Why the numbers may differ: library versions and data fingerprints."""
    if actual is None:
        return []
    out = version_changes(expected.versions, actual.versions)
    before, after = set(expected.fingerprints), set(actual.fingerprints)
    if before and after and before != after:
        old = ", ".join(sorted(f[:12] for f in before - after))
        new = ", ".join(sorted(f[:12] for f in after - before))
        out.append(f"data revision: the data's fingerprint is now {new}…, recorded {old}…")
    return out


def compare_step(
    index: int,
    action: str,
    expected: Observation,
    actual: Observation | None,
    error: str | None = None,
    tolerance: float = 0.0,
) -> StepComparison:
    return StepComparison(
        index=index,
        action=action,
        rows=metric_rows(expected, actual, tolerance),
        reasons=reasons(expected, actual),
        error=error,
    )


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_text(comparison: Comparison, title: str = "") -> str:
    """The comparison as plain text (what ``python -m engine reproduce`` prints)."""
    lines = [title] if title else []
    for step in comparison.steps:
        state = "identical" if step.identical else "DRIFT"
        lines.append(f"step {step.index}: {step.action} — {state}")
        if step.error:
            lines.append(f"  error: {step.error}")
        width = max((len(r["metric"]) for r in step.rows), default=6)
        for row in step.rows:
            mark = "=" if row["match"] else "≠"
            lines.append(
                f"  {mark} {row['metric']:<{width}}  {_cell(row['recorded']):>24}  "
                f"{_cell(row['re-run']):>24}"
                + (
                    ""
                    if row["match"] or row["difference"] is None
                    else f"  Δ {row['difference']:+.3g}"
                )
            )
        lines += [f"  why: {reason}" for reason in step.reasons]
    lines += [f"bundle: {reason}" for reason in comparison.reasons]
    lines += [f"note: {note}" for note in comparison.notes]
    moved = sum(len(step.moved) for step in comparison.steps)
    if comparison.identical:
        lines.append(f"REPRODUCED: every number of {len(comparison.steps)} step(s) is identical.")
    else:
        lines.append(f"DRIFT: {moved} number(s) moved; see the rows marked ≠ and the reasons.")
    return "\n".join(lines) + "\n"
