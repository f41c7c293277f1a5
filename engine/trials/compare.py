"""Comparing up to 500 trials: a pinned baseline, the parameters that differ, metric
deltas against the baseline, learning and equity curves, parallel coordinates and
parameter importance, and the comparison as CSV and LaTeX.

Everything here is typed data; the Trials page draws it (``ui/trials_compare.py`` and
``ui/presenters/compare.py``) and the ``compare_trials`` action returns it as tables.

What is read: only the columns a comparison needs (:mod:`storage.repositories.trial_compare`),
scoped to the trials the reader may see inside the query; a trial that is missing and
one that is not visible get the same answer. Curves are read for at most
:data:`MAX_CURVES` trials (the baseline and the best by the metric), each downsampled on
the server to at most :data:`CURVE_POINTS` points (min-max decimation of progress
events by the executor, largest-triangle-three-buckets for equity curves).

Parameter importance follows W&B's parameter-importance panel: a random forest from the
parameters to the metric over the compared trials (impurity and permutation
importances, and the Spearman correlation of numeric parameters), and beside it
fANOVA (Hutter et al. 2014) through Optuna's ``FanovaImportanceEvaluator``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np

from engine.actions.base import ActionError
from engine.actions.context import UserRef
from engine.lazy import pandas as pd
from engine.trials.detail import flatten_params, short_value
from engine.trials.query import MAX_COMPARE, MAX_ROW_ID, scope
from engine.trials.record import StrategyStats, TrialMetrics
from storage.repositories import trial_compare as repo

MAX_CURVES = 20  # curves overlaid on one chart: the baseline and the best by the metric
CURVE_POINTS = 500  # points per curve, downsampled on the server
MIN_IMPORTANCE_TRIALS = 8  # fewer trials than this say nothing about importance
PARAM_COVERAGE = 0.8  # a parameter enters importance when this share of trials has it
MAX_PARALLEL_AXES = 12
# fANOVA's forest: 32 trees of depth 6. Optuna's default (64 trees, unbounded depth) grows
# trees to fit noise: on 500 trials where no parameter matters it took 264 s of CPU, 16 x 8
# took 4.8 s, 32 x 6 takes 0.7 s; where one parameter drives the metric all rank it the
# same (bench/bench_compare.py, BENCHMARKS.md).
FANOVA_TREES = 32
FANOVA_DEPTH = 6


# --- the trials ------------------------------------------------------------------------


@dataclass(frozen=True)
class SplitPlanRef:
    """The split plan a trial was evaluated on (overfitting statistics group by it)."""

    split_fingerprint: str | None


@dataclass(frozen=True)
class ComparedTrial:
    """One trial as a comparison reads it (no reproducibility record, no importances)."""

    id: int
    job_id: int | None
    goal_id: int | None
    user_id: int | None
    dataset_id: int | None
    action: str
    model_id: str | None
    family: str | None
    task: str | None
    status: str
    metric_name: str | None
    metric_value: float | None
    params: dict[str, Any]
    metrics: TrialMetrics | None
    holdout: dict[str, float | None] | None
    duration_s: float | None
    created_at: datetime
    reproducibility: SplitPlanRef

    @classmethod
    def from_record(cls, row: repo.CompareRecord) -> ComparedTrial:
        value = row.metric_value
        return cls(
            id=row.id,
            job_id=row.job_id,
            goal_id=row.goal_id,
            user_id=row.user_id,
            dataset_id=row.dataset_id,
            action=row.action,
            model_id=row.model_id,
            family=row.family,
            task=row.task,
            status=row.status,
            metric_name=row.metric_name,
            metric_value=value if value is None or math.isfinite(value) else None,
            params=row.params or {},
            metrics=TrialMetrics.model_validate(row.metrics) if row.metrics else None,
            holdout=dict(row.holdout_metrics) if row.holdout_metrics else None,
            duration_s=row.duration_s,
            created_at=row.created_at,
            reproducibility=SplitPlanRef(row.split_fingerprint),
        )

    @property
    def strategy(self) -> StrategyStats | None:
        return self.metrics.strategy if self.metrics is not None else None

    @property
    def flat_params(self) -> dict[str, Any]:
        return flatten_params(self.params)

    def metric_values(self) -> dict[str, float | None]:
        """Every metric as one number: each metric's mean over the folds (``<m> (cv)``)
        and each hold-out value (``<m> (holdout)``)."""
        out: dict[str, float | None] = {}
        for name, stats in (self.metrics.cv if self.metrics is not None else {}).items():
            out[f"{name} (cv)"] = _finite(stats.mean)
        for name, value in (self.holdout or {}).items():
            out[f"{name} (holdout)"] = _finite(value)
        return out


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def load_trials(user: UserRef | None, trial_ids: Sequence[int]) -> list[ComparedTrial]:
    """The trials to compare in the order asked; every one must be visible to ``user``
    (a foreign trial and a missing one are named the same way)."""
    ids = list(dict.fromkeys(int(i) for i in trial_ids))
    if not ids:
        raise ActionError("Give at least one trial to compare.")
    if len(ids) > MAX_COMPARE:
        raise ActionError(f"Compare at most {MAX_COMPARE} trials at a time ({len(ids)} given).")
    # an id outside the database's integer column cannot exist (and fails the query)
    possible = [i for i in ids if 1 <= i <= MAX_ROW_ID]
    found = {row.id: row for row in repo.compare_records(possible, scope(user))}
    missing = [i for i in ids if i not in found]
    if missing:
        shown = ", ".join(f"trial {i}" for i in missing[:20])
        more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise ActionError(f"Not found or not visible to you: {shown}{more}")
    return [ComparedTrial.from_record(found[i]) for i in ids]


# --- the comparison --------------------------------------------------------------------


def greater_is_better(metric: str | None) -> bool:
    from engine.ml.evaluation import greater_is_better as better

    return better(metric) if metric else True


def _key(value: Any) -> str:
    """A value as text for equality (1 and 1.0 are the same parameter value)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return repr(float(value))
    return json.dumps(value, sort_keys=True, default=str)


@dataclass
class Comparison:
    """Trials side by side against a pinned baseline.

    ``metric`` is the primary metric the trials share (the most common one when they
    do not); ``primary`` the value of that metric per trial (None for a trial of another
    metric); ``differing`` the parameters whose values are not the same in every
    trial (a parameter some trials lack differs)."""

    trials: list[ComparedTrial]
    baseline: ComparedTrial
    metric: str | None
    greater_is_better: bool
    params: dict[int, dict[str, Any]]
    names: list[str]
    differing: list[str]
    other_metrics: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.trials]

    def primary(self, trial: ComparedTrial) -> float | None:
        return trial.metric_value if trial.metric_name == self.metric else None

    def delta(self, value: float | None, base: float | None) -> float | None:
        if value is None or base is None:
            return None
        return value - base

    def ranked(self) -> list[ComparedTrial]:
        """Trials with a value of the metric, best first."""
        sign = -1.0 if self.greater_is_better else 1.0
        valued = [(v, t) for t in self.trials if (v := self.primary(t)) is not None]
        return [t for _, t in sorted(valued, key=lambda pair: sign * pair[0])]

    def best(self) -> ComparedTrial | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    # --- tables --------------------------------------------------------------------

    def overview(self) -> pd.DataFrame:
        """One row per trial: who and what it is, the metric, its delta against the
        baseline, whether that is better, and its rank (1 = best)."""
        base = self.primary(self.baseline)
        rank = {t.id: i + 1 for i, t in enumerate(self.ranked())}
        rows = []
        for t in self.trials:
            value = self.primary(t)
            delta = self.delta(value, base)
            rows.append(
                {
                    "trial": t.id,
                    "baseline": t.id == self.baseline.id,
                    "model": t.model_id or "",
                    "family": t.family or "",
                    "status": t.status,
                    "metric": t.metric_name or "",
                    "value": value if value is not None else _finite(t.metric_value),
                    "Δ vs baseline": delta,
                    "better": None
                    if delta is None or t.id == self.baseline.id
                    else (delta > 0) == self.greater_is_better and delta != 0,
                    "rank": rank.get(t.id),
                    "seconds": _finite(t.duration_s),
                }
            )
        columns = [
            "trial",
            "baseline",
            "model",
            "family",
            "status",
            "metric",
            "value",
            "Δ vs baseline",
            "better",
            "rank",
            "seconds",
        ]
        return pd.DataFrame(rows, columns=columns)

    def params_table(self, diff_only: bool = True) -> pd.DataFrame:
        """One row per trial, one column per parameter (only those that differ with
        ``diff_only``), values as text; the baseline's row first is not implied: rows
        keep the order of the comparison."""
        names = self.differing if diff_only else self.names
        rows = []
        for t in self.trials:
            flat = self.params[t.id]
            row: dict[str, Any] = {"trial": t.id, "baseline": t.id == self.baseline.id}
            for name in names:
                row[name] = short_value(flat[name]) if name in flat else ""
            rows.append(row)
        return pd.DataFrame(rows, columns=["trial", "baseline", *names])

    def changed_from_baseline(self) -> dict[int, list[str]]:
        """The parameters in which each trial differs from the baseline."""
        base = self.params[self.baseline.id]
        out = {}
        for t in self.trials:
            flat = self.params[t.id]
            out[t.id] = [
                n
                for n in self.differing
                if (n in flat) != (n in base) or (n in flat and _key(flat[n]) != _key(base[n]))
            ]
        return out

    def metrics_table(self) -> pd.DataFrame:
        """One row per trial: every metric (fold mean and hold-out) and its delta against
        the baseline's value (``Δ <metric>``)."""
        base = self.baseline.metric_values()
        rows = []
        for t in self.trials:
            values = t.metric_values()
            row: dict[str, Any] = {"trial": t.id, "baseline": t.id == self.baseline.id}
            for name in self.other_metrics:
                row[name] = values.get(name)
                row[f"Δ {name}"] = self.delta(values.get(name), base.get(name))
            rows.append(row)
        columns = ["trial", "baseline"]
        for name in self.other_metrics:
            columns += [name, f"Δ {name}"]
        return pd.DataFrame(rows, columns=columns)

    def table(self, diff_only: bool = True) -> pd.DataFrame:
        """The overview, the parameters and the metrics in one table (what is exported)."""
        params = self.params_table(diff_only).drop(columns=["baseline"])
        metrics = self.metrics_table().drop(columns=["baseline"])
        clash = set(params.columns) & (set(self.overview().columns) | set(metrics.columns))
        params = params.rename(columns={c: f"param {c}" for c in clash if c != "trial"})
        return self.overview().merge(params, on="trial").merge(metrics, on="trial")


def build(
    user: UserRef | None, trial_ids: Sequence[int], baseline: int | None = None
) -> Comparison:
    """Compare the given trials (visible to ``user``) against ``baseline`` (default: the
    first trial given)."""
    trials = load_trials(user, trial_ids)
    return comparison_of(trials, baseline)


def comparison_of(trials: list[ComparedTrial], baseline: int | None = None) -> Comparison:
    if not trials:
        raise ActionError("Give at least one trial to compare.")
    by_id = {t.id: t for t in trials}
    if baseline is not None and baseline not in by_id:
        raise ActionError(f"The baseline must be one of the compared trials (not {baseline}).")
    pinned = by_id[baseline] if baseline is not None else trials[0]
    counts = Counter(t.metric_name for t in trials if t.metric_name and t.metric_value is not None)
    metric = counts.most_common(1)[0][0] if counts else None
    params = {t.id: t.flat_params for t in trials}
    names: list[str] = []
    seen: set[str] = set()
    for flat in params.values():
        for name in flat:
            if name not in seen:
                seen.add(name)
                names.append(name)
    differing = [
        n
        for n in names
        if len({_key(flat[n]) if n in flat else "\0missing" for flat in params.values()}) > 1
    ]
    metric_names: list[str] = []
    for t in trials:
        metric_names += [n for n in t.metric_values() if n not in metric_names]
    return Comparison(
        trials=trials,
        baseline=pinned,
        metric=metric,
        greater_is_better=greater_is_better(metric),
        params=params,
        names=names,
        differing=differing,
        other_metrics=metric_names,
    )


# --- curves ----------------------------------------------------------------------------


def lttb(x: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices of ``n_out`` points chosen by largest-triangle-three-buckets (Steinarsson
    2013): the first and last point, and per bucket the point spanning the largest
    triangle with the previous choice and the next bucket's mean. Missing values count as
    the series' mean for the choice and are kept where chosen."""
    length = len(x)
    if n_out >= length or n_out < 3:
        return np.arange(length) if n_out >= length else np.array([0, length - 1])[:n_out]
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if not np.isfinite(ys).all():
        finite = ys[np.isfinite(ys)]
        ys = np.where(np.isfinite(ys), ys, finite.mean() if len(finite) else 0.0)
    edges = np.linspace(1, length - 1, n_out - 1).astype(int)  # buckets of the inner points
    chosen = [0]
    for b in range(n_out - 2):
        start, stop = edges[b], max(edges[b + 1], edges[b] + 1)
        nxt_start, nxt_stop = stop, (edges[b + 2] if b + 2 < len(edges) else length)
        if nxt_start >= nxt_stop:
            nxt_start, nxt_stop = length - 1, length
        mean_x = xs[nxt_start:nxt_stop].mean()
        mean_y = ys[nxt_start:nxt_stop].mean()
        ax, ay = xs[chosen[-1]], ys[chosen[-1]]
        area = np.abs((ax - mean_x) * (ys[start:stop] - ay) - (ax - xs[start:stop]) * (mean_y - ay))
        chosen.append(start + int(np.argmax(area)))
    chosen.append(length - 1)
    return np.asarray(sorted(set(chosen)))


@dataclass(frozen=True)
class Curve:
    """One trial's curve: ``progress`` (a metric reported while it trained, against
    seconds) or ``equity`` (growth of 1 on the hold-out, against dates)."""

    trial_id: int
    kind: Literal["progress", "equity"]
    name: str
    x: list[Any]
    y: list[float | None]
    total_points: int | None  # before downsampling, where known (equity curves)
    baseline: bool


def curve_trials(comparison: Comparison, max_curves: int = MAX_CURVES) -> list[ComparedTrial]:
    """Whose curves are drawn: the baseline, then the best by the metric, then the rest
    in the comparison's order, ``max_curves`` in all."""
    chosen = [comparison.baseline]
    for t in [*comparison.ranked(), *comparison.trials]:
        if len(chosen) >= max_curves:
            break
        if t not in chosen:
            chosen.append(t)
    return chosen


def _values(values: np.ndarray) -> list[float | None]:
    return [float(v) if math.isfinite(v) else None for v in values.tolist()]


def curves(
    user: UserRef | None,
    comparison: Comparison,
    *,
    max_curves: int = MAX_CURVES,
    points: int = CURVE_POINTS,
) -> list[Curve]:
    """The progress curves (of the jobs ``user`` may read: a job is private to its
    owner) and hold-out equity curves of :func:`curve_trials`, each at most ``points``."""
    from engine import executor
    from engine.auth import permissions
    from engine.auth.permissions import Resource

    chosen = curve_trials(comparison, max_curves)
    out: list[Curve] = []
    for t in chosen:
        if t.job_id is None:
            continue
        job = executor.status(t.job_id)
        if job is None or not permissions.allowed(user, "read", Resource.owned("job", job.user_id)):
            continue
        events = executor.events(t.job_id, points)
        names = sorted({k for p in events for k in p if k not in ("elapsed_s", "fraction")})
        if not names:
            continue
        name = t.metric_name if t.metric_name in names else names[0]
        out.append(
            Curve(
                trial_id=t.id,
                kind="progress",
                name=name,
                x=[p.get("elapsed_s") for p in events],
                y=[_finite(p.get(name)) for p in events],
                total_points=None,  # the executor's min-max decimation does not say
                baseline=t.id == comparison.baseline.id,
            )
        )
    equity = repo.holdout_equity([t.id for t in chosen])
    for t in chosen:
        stored = equity.get(t.id)
        if not stored or not stored.get("dates"):
            continue
        dates = list(stored["dates"])
        strategy = np.array(
            [math.nan if v is None else float(v) for v in stored.get("strategy") or []]
        )
        if len(strategy) != len(dates):
            continue
        keep = lttb(np.arange(len(dates), dtype=float), strategy, points)
        out.append(
            Curve(
                trial_id=t.id,
                kind="equity",
                name="growth of 1 (hold-out)",
                x=[dates[i] for i in keep],
                y=_values(strategy[keep]),
                total_points=len(dates),
                baseline=t.id == comparison.baseline.id,
            )
        )
    return out


# --- parameters against the metric ----------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One axis of parallel coordinates: numbers, or categories as their rank
    (``categories[i]`` is the text of value ``i``)."""

    name: str
    values: list[float | None]
    categories: list[str] | None = None


def _column(values: list[Any]) -> tuple[list[float | None], list[str] | None]:
    """A parameter's values as numbers, or as category ranks when any is not a number."""
    present = [v for v in values if v is not None]
    if present and all(_finite(v) is not None for v in present):
        return [_finite(v) for v in values], None
    categories = sorted({short_value(v) for v in values})
    return [float(categories.index(short_value(v))) for v in values], categories


def parallel_axes(
    comparison: Comparison, order: Sequence[str] | None = None, max_axes: int = MAX_PARALLEL_AXES
) -> tuple[list[Axis], Axis] | None:
    """The differing parameters (in ``order``, e.g. most important first) and the
    metric, over the trials with a value of the comparison's metric."""
    trials = [t for t in comparison.trials if comparison.primary(t) is not None]
    if not trials or comparison.metric is None:
        return None
    names = [n for n in (order or []) if n in comparison.differing]
    names += [n for n in comparison.differing if n not in names]
    axes = []
    for name in names:
        raw = [comparison.params[t.id].get(name) for t in trials]
        if any(isinstance(v, (list, dict)) for v in raw):
            raw = [None if v is None else short_value(v) for v in raw]
        values, categories = _column(raw)
        if len({v for v in values if v is not None}) > 1:
            axes.append(Axis(name, values, categories))
        if len(axes) >= max_axes:
            break
    metric = Axis(comparison.metric, [comparison.primary(t) for t in trials])
    return axes, metric


# --- parameter importance -------------------------------------------------------------


@dataclass
class Importance:
    """How much each parameter explains the metric over the compared trials.

    ``table``: parameter | kind | fanova | rf_permutation | rf_impurity | spearman,
    most important (by fANOVA) first. fANOVA and the impurity importances are shares
    (they sum to 1); the permutation importance is the mean drop of the forest's R²
    when the parameter's values are shuffled; Spearman's rho is the rank correlation of
    a numeric parameter with the metric (its sign says which way it pushes).
    """

    metric: str | None
    n_trials: int
    table: pd.DataFrame
    note: str = ""

    @property
    def ranked(self) -> list[str]:
        return [str(p) for p in self.table["parameter"]] if len(self.table) else []


IMPORTANCE_COLUMNS = ["parameter", "kind", "fanova", "rf_permutation", "rf_impurity", "spearman"]


def _empty_importance(comparison: Comparison, n: int, note: str) -> Importance:
    return Importance(comparison.metric, n, pd.DataFrame(columns=IMPORTANCE_COLUMNS), note)


def design(comparison: Comparison) -> tuple[pd.DataFrame, np.ndarray, dict[str, str], str]:
    """(parameters, metric values, kind of each parameter, note): the succeeded trials
    with a value of the metric, the differing parameters most of them have (trials
    lacking one of those are left out), numbers as numbers and anything else as text."""
    trials = [
        t
        for t in comparison.trials
        if t.status == "succeeded" and comparison.primary(t) is not None
    ]
    notes = []
    candidates = []
    for name in comparison.differing:
        have = sum(1 for t in trials if name in comparison.params[t.id])
        if trials and have / len(trials) >= PARAM_COVERAGE:
            candidates.append(name)
        elif have:
            notes.append(name)
    rows = [t for t in trials if all(n in comparison.params[t.id] for n in candidates)]
    frame = pd.DataFrame(
        [{n: comparison.params[t.id][n] for n in candidates} for t in rows],
        columns=candidates,
    )
    kinds: dict[str, str] = {}
    for name in candidates:
        values = list(frame[name])
        numbers = [_finite(v) for v in values]
        if all(n is not None for n in numbers):
            ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
            kinds[name] = "int" if ints else "float"
            frame[name] = pd.Series(numbers, index=frame.index, dtype=float)
        else:
            kinds[name] = "categorical"
            frame[name] = [short_value(v) for v in values]
        if frame[name].nunique() < 2:
            frame = frame.drop(columns=[name])
            kinds.pop(name)
    y = np.array([comparison.primary(t) for t in rows], dtype=float)
    note = ""
    if notes:
        shown = ", ".join(notes[:8]) + ("…" if len(notes) > 8 else "")
        note = f"Left out (fewer than {PARAM_COVERAGE:.0%} of the trials have them): {shown}."
    if len(rows) < len(trials):
        note += f" {len(trials) - len(rows)} trial(s) without every parameter left out."
    return frame, y, kinds, note.strip()


def fanova(
    frame: pd.DataFrame, y: np.ndarray, kinds: dict[str, str], greater: bool, seed: int = 0
) -> dict[str, float]:
    """fANOVA importances (shares summing to 1) through Optuna's evaluator, on a study
    holding the compared trials as completed trials."""
    import optuna
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )
    from optuna.importance import FanovaImportanceEvaluator, get_param_importances

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    distributions: dict[str, BaseDistribution] = {}
    for name, kind in kinds.items():
        column = frame[name]
        if kind == "categorical":
            distributions[name] = CategoricalDistribution(sorted(set(column)))
        elif kind == "int":
            distributions[name] = IntDistribution(int(column.min()), int(column.max()))
        else:
            distributions[name] = FloatDistribution(float(column.min()), float(column.max()))
    study = optuna.create_study(direction="maximize" if greater else "minimize")
    trials = []
    for i in range(len(frame)):
        params: dict[str, Any] = {}
        for name, kind in kinds.items():
            value = frame[name].iloc[i]
            params[name] = (
                str(value)
                if kind == "categorical"
                else int(value)
                if kind == "int"
                else float(value)
            )
        trials.append(
            optuna.trial.create_trial(params=params, distributions=distributions, value=float(y[i]))
        )
    study.add_trials(trials)
    evaluator = FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=seed)
    found = get_param_importances(study, evaluator=evaluator, normalize=True)
    return {name: float(found.get(name, 0.0)) for name in kinds}


def forest(
    frame: pd.DataFrame, y: np.ndarray, kinds: dict[str, str], seed: int = 0
) -> tuple[dict[str, float], dict[str, float]]:
    """(permutation, impurity) importances of a random forest from the parameters (text
    as ordinal codes) to the metric."""
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.inspection import permutation_importance

    codes = pd.DataFrame(index=frame.index)
    for name, kind in kinds.items():
        if kind == "categorical":
            codes[name] = pd.Categorical(frame[name]).codes.astype(float)
        else:
            codes[name] = frame[name].astype(float)
    model = RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1)
    X = codes.to_numpy()
    model.fit(X, y)
    permuted = permutation_importance(model, X, y, n_repeats=5, random_state=seed, n_jobs=1)
    names = list(codes.columns)
    return (
        {n: float(v) for n, v in zip(names, permuted.importances_mean, strict=True)},
        {n: float(v) for n, v in zip(names, model.feature_importances_, strict=True)},
    )


def importance(comparison: Comparison, seed: int = 0) -> Importance:
    """fANOVA and random-forest importances of the differing parameters for the
    comparison's metric (see :class:`Importance`)."""
    frame, y, kinds, note = design(comparison)
    if comparison.metric is None:
        return _empty_importance(comparison, 0, "No trial has a value of a metric.")
    if len(y) < MIN_IMPORTANCE_TRIALS:
        return _empty_importance(
            comparison,
            len(y),
            f"Parameter importance needs at least {MIN_IMPORTANCE_TRIALS} succeeded trials "
            f"with a value of {comparison.metric} ({len(y)} here).",
        )
    if not kinds:
        return _empty_importance(comparison, len(y), note or "No parameter varies.")
    if float(np.ptp(y)) == 0.0:
        return _empty_importance(
            comparison, len(y), f"Every trial has the same {comparison.metric}."
        )
    from scipy.stats import spearmanr

    fan = fanova(frame, y, kinds, comparison.greater_is_better, seed)
    permutation, impurity = forest(frame, y, kinds, seed)
    rows = []
    for name, kind in kinds.items():
        rho = None
        if kind != "categorical":
            value = spearmanr(frame[name].to_numpy(dtype=float), y).statistic
            rho = float(value) if math.isfinite(value) else None
        rows.append(
            {
                "parameter": name,
                "kind": kind,
                "fanova": fan[name],
                "rf_permutation": permutation[name],
                "rf_impurity": impurity[name],
                "spearman": rho,
            }
        )
    table = pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS)
    table = table.sort_values(
        ["fanova", "rf_permutation"], ascending=False, kind="stable"
    ).reset_index(drop=True)
    return Importance(comparison.metric, len(y), table, note)


# --- export ----------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (numbers stay numbers)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    if isinstance(value, float) and not math.isfinite(value):
        return ""
    return value


def export_csv(comparison: Comparison, diff_only: bool = True) -> str:
    """The comparison as CSV: one row per trial (the baseline marked), the parameters
    (those that differ with ``diff_only``), the metric, every metric and its delta
    against the baseline."""
    frame = comparison.table(diff_only)
    out = io.StringIO()
    writer = csv.writer(out)
    # column names are user text too: nested parameter keys (model_params) name columns
    writer.writerow([_csv_cell(str(c)) for c in frame.columns])
    for row in frame.itertuples(index=False):
        writer.writerow([_csv_cell(None if _missing(v) else v) for v in row])
    return out.getvalue()


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "Δ": r"$\Delta$",
    "±": r"$\pm$",
}


def latex_escape(text: Any) -> str:
    """User and model text as literal LaTeX: every special character escaped, line
    breaks and other control characters as spaces."""
    out = []
    for char in str(text):
        if char in _LATEX_SPECIAL:
            out.append(_LATEX_SPECIAL[char])
        elif ord(char) < 32 or ord(char) == 127:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _latex_cell(value: Any) -> str:
    if _missing(value):
        return "--"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return latex_escape(f"{value:.4g}")
    return latex_escape(value)


def export_latex(comparison: Comparison, diff_only: bool = True) -> str:
    """The comparison as a LaTeX ``longtable`` (booktabs): the same rows and columns as
    :func:`export_csv`, every cell escaped; the baseline's row in bold."""
    frame = comparison.table(diff_only)
    columns = [c for c in frame.columns if c != "baseline"]
    spec = "".join("r" if pd.api.types.is_numeric_dtype(frame[c]) else "l" for c in columns)
    header = " & ".join(latex_escape(c) for c in columns) + r" \\"
    caption = latex_escape(
        f"Comparison of {len(comparison.trials)} trials against baseline trial "
        f"{comparison.baseline.id}" + (f" ({comparison.metric})" if comparison.metric else "")
    )
    lines = [
        "% needs \\usepackage{booktabs,longtable}",
        f"\\begin{{longtable}}{{{spec}}}",
        f"\\caption{{{caption}}}\\\\",
        "\\toprule",
        header,
        "\\midrule",
        "\\endhead",
    ]
    for record in frame.to_dict("records"):
        cells = [_latex_cell(record[c]) for c in columns]
        if record.get("baseline"):
            cells = [f"\\textbf{{{cell}}}" for cell in cells]
        lines.append(" & ".join(cells) + r" \\")
    lines += ["\\bottomrule", "\\end{longtable}", ""]
    return "\n".join(lines)
