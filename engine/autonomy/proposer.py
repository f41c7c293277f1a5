"""What to try next: a bandit over model families, Optuna (TPE, ask-and-tell) inside
each family with one study per (goal, family) kept in the database.

Trials are the scarce resource, so the proposer starts where good configurations are
likely and learns from every trial, as AutoML systems do (auto-sklearn's meta-learning
warm start, FLAML's start of every learner from its default configuration):

1. **A prior over families.** Without history it is the family prior shipped with the
   portfolio (:func:`base_prior`: each family's mean rank over the financial
   meta-tasks of the task type), :data:`DEFAULT_PRIOR` (a fixed ordering for tabular
   data, see there) for families it lacks. When the database holds trials of *other*
   goals of the same task type (classification or regression), each family's prior is
   shrunk toward the mean reward it earned on those goals (:func:`learned_prior`):
   what worked on this installation's data before is tried first.
2. **A configuration portfolio first.** The goal's first trials are the shipped
   portfolio of its task type (:mod:`engine.autonomy.portfolio`): a short ordered list
   of configurations learned from financial meta-tasks (other stocks' volatility,
   large-move, direction and drawdown targets), by the rule that carried over best to
   a stock and a kind of target left out (:mod:`engine.autonomy.portfolio_choice`),
   minus those the goal may not use. Each is told to its family's Optuna study, so TPE
   learns from it. Without a portfolio (none shipped
   for the task, or none allowed) the first :data:`PORTFOLIO` trials go to the
   families with the highest prior, one trial each.
3. **Defaults first inside a family.** A family's first trial is the catalogue defaults
   of its preferred model (the one that did best in that family on other goals, else a
   canonical one, :data:`CANONICAL_MODELS`), enqueued in the family's Optuna study,
   unless a portfolio entry opened the family; TPE samples model and parameters after.
4. **The best family, then UCB, alternately** (:class:`FamilyPolicy`): after the
   opening every :data:`EXPLOIT_EVERY`-th trial searches the family of the goal's best
   trial so far (a threshold goal needs one good configuration; without this the
   bandit drifted away from the family that had produced it) — unless that family's
   last :data:`EXPLOIT_PATIENCE` trials did not improve on it, then the best family
   still improving — the others go to
   UCB1-Tuned (Auer, Cesa-Bianchi & Fischer 2002) over families,
   with the prior counted as :data:`PRIOR_WEIGHT` pseudo-observations of each family.
   Its exploration bonus uses the observed variance of a family's rewards (capped at
   1/4, the largest a [0, 1] reward can have) instead of UCB1's worst case, so a family
   that is clearly better is exploited sooner; untried families keep the largest bonus,
   which grows with the number of trials, so every family is still tried eventually.

Rewards are ranks: a trial earns the fraction of the goal's other succeeded trials it
beats (ties count half; the metric oriented so that higher is better; 0.5 for the first
one), a failed trial earns 0. Ranks, unlike the metric scaled by its range, survive the
outliers real searches produce (one diverging regressor with r2 = -47 would otherwise
squash every other trial's reward to about 1 and blind the bandit). The same ranks, per
goal, turn other goals' trials into the learned prior.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING, Any

from engine.autonomy.portfolio import PortfolioEntry, family_prior_for, portfolio_for
from engine.goals.spec import GoalSpec
from engine.ml import catalog
from engine.ml.params import LOWER_IS_BETTER
from engine.ml.search_spaces import space_to_json, suggest_space

if TYPE_CHECKING:
    import optuna

# Families never proposed by default: baselines and those needing unlabeled data.
NOT_BY_DEFAULT = {"dummy", "semi_supervised"}

# Expected reward (rank) of each family on a tabular task before any evidence. Gradient
# boosted trees, then tree ensembles, are the strongest families with default settings
# on tabular benchmarks (Grinsztajn, Oyallon & Varoquaux 2022; the AutoML Benchmark,
# Gijsbers et al. 2024); regularised linear models come next and are strong when the
# signal is weak and noisy, as in finance. Families that need tuning to do well (svm,
# neural) follow, then local and simple models; wrappers (meta) cost as much as what they
# wrap, and Gaussian processes grow with the cube of the rows, so they come last. The
# numbers only order families and say how far apart they start; evidence (this goal's
# trials, other goals' trials) moves them.
DEFAULT_PRIOR: dict[str, float] = {
    "boosting": 0.80,
    "ensemble": 0.75,
    "linear": 0.70,
    "svm": 0.60,
    "neural": 0.55,
    "kernel": 0.50,
    "neighbors": 0.50,
    "discriminant": 0.50,
    "tree": 0.45,
    "naive_bayes": 0.40,
    "meta": 0.40,
    "gaussian_process": 0.35,
    "semi_supervised": 0.20,
    "dummy": 0.10,
}
# A family's first trial, absent history: the plain, well-understood member of it.
CANONICAL_MODELS = (
    "sklearn.HistGradientBoostingClassifier",
    "sklearn.HistGradientBoostingRegressor",
    "sklearn.RandomForestClassifier",
    "sklearn.RandomForestRegressor",
    "sklearn.LogisticRegression",
    "sklearn.Ridge",
    "sklearn.SVC",
    "sklearn.SVR",
    "sklearn.MLPClassifier",
    "sklearn.MLPRegressor",
    "sklearn.KernelRidge",
    "sklearn.KNeighborsClassifier",
    "sklearn.KNeighborsRegressor",
    "sklearn.LinearDiscriminantAnalysis",
    "sklearn.DecisionTreeClassifier",
    "sklearn.DecisionTreeRegressor",
    "sklearn.GaussianNB",
    "sklearn.GaussianProcessClassifier",
)
PORTFOLIO = 3
PRIOR_WEIGHT = 1.0  # the prior counts as this many trials (and as this many other goals)
MAX_VARIANCE = 0.25  # of a reward in [0, 1]
HISTORY_LIMIT = 5000  # newest trials of other goals read for the learned prior
DEFAULTS_ATTR = "catalogue_defaults"
PORTFOLIO_ATTR = "portfolio_entry"
COST_RANK = {"fast": 0, "medium": 1, "slow": 2}
# After the opening, every EXPLOIT_EVERY-th trial goes to the family of the goal's best
# trial so far (the others to UCB); 0 turns it off. Chosen on the meta-tasks by
# leaving one type of target out (bench/bench_portfolio_replay.py), not on the
# benchmark's tasks.
EXPLOIT_EVERY = 2
EXPLOIT_OFFSET = 1  # which trial of each EXPLOIT_EVERY after the opening exploits
# A family whose last EXPLOIT_PATIENCE trials did not beat its best is not exploited
# (its search has stalled, e.g. TPE repeating a small space's best point); the next
# best family that has not stalled is.
EXPLOIT_PATIENCE = 3


@cache
def _optuna() -> ModuleType:
    """Optuna, imported when a study is first opened (not by every process that loads the
    action catalogue), its per-trial INFO lines silenced."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class Proposal:
    model_id: str
    family: str
    model_params: dict[str, Any]
    reason: str
    optuna_trial: Any = field(default=None, repr=False)
    study: Any = field(default=None, repr=False)


@dataclass(frozen=True)
class Outcome:
    """A trial of another goal: which goal, family and model, and how it went."""

    goal_id: int
    family: str
    model_id: str | None
    metric_name: str | None
    metric_value: float | None
    status: str = "succeeded"


@dataclass
class Prior:
    """Prior reward per family, the best model per family on other goals, and whence."""

    families: dict[str, float]
    models: dict[str, str] = field(default_factory=dict)
    goals: int = 0  # other goals the evidence came from
    trials: int = 0
    base: str = "default prior for tabular data"  # what the evidence was shrunk toward

    def describe(self) -> str:
        if not self.goals:
            return self.base
        return f"prior learned from {self.trials} trials of {self.goals} other goal(s)"


def base_prior(task: str) -> Prior:
    """The family prior before this installation's history: the shipped portfolio's
    family prior for the task type (each family's mean rank over the meta-tasks,
    :func:`engine.autonomy.portfolio.family_prior`), :data:`DEFAULT_PRIOR` for the
    families it lacks or when none is shipped."""
    learned = family_prior_for(task)
    if not learned:
        return Prior(dict(DEFAULT_PRIOR))
    return Prior({**DEFAULT_PRIOR, **learned}, base=f"family prior from the {task} meta-tasks")


def eligible_models(spec: GoalSpec) -> dict[str, list[str]]:
    """Family -> model ids usable for the goal (fast and medium cost models)."""
    from engine.ml.dataset import two_classes

    families: dict[str, list[str]] = {}
    # on two classes the one-vs-rest/one-vs-one wrappers are their base: left out
    binary = two_classes(spec.task, spec.symbols, spec.dataset_id, spec.target_column)
    for model in catalog.list_models(task=spec.task, two_classes=binary):
        if spec.families and model.family not in spec.families:
            continue
        if not spec.families and model.family in NOT_BY_DEFAULT:
            continue
        if model.cost == "slow":
            continue
        families.setdefault(model.family, []).append(model.id)
    return {family: sorted(ids) for family, ids in sorted(families.items())}


def oriented(spec: GoalSpec, value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return value if spec.direction == ">=" else -value


def rank_rewards(values: list[float | None]) -> list[float]:
    """Oriented values (None = failed) -> rewards in [0, 1]: the fraction of the other
    succeeded values each one beats, ties counting half; failures earn 0."""
    seen = sorted(v for v in values if v is not None)
    if len(seen) < 2:
        return [0.0 if v is None else 0.5 for v in values]
    out = []
    for value in values:
        if value is None:
            out.append(0.0)
            continue
        below = bisect.bisect_left(seen, value)
        ties = bisect.bisect_right(seen, value) - below - 1
        out.append((below + ties / 2) / (len(seen) - 1))
    return out


def learned_prior(
    outcomes: Iterable[Outcome],
    default: Mapping[str, float] = DEFAULT_PRIOR,
    base_name: str = "default prior for tabular data",
) -> Prior:
    """Each family's prior, shrunk from ``default`` toward its mean reward on other goals.

    Within each goal, trials are ranked as the bandit ranks its own (oriented metric;
    failures 0), so goals with different metrics and difficulty are comparable; a
    family's evidence is the mean of its per-goal means, so a goal with many trials
    counts as much as one with few. Goals whose trials all scored the same teach
    nothing and are skipped.
    """
    by_goal: dict[int, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_goal[outcome.goal_id].append(outcome)
    family_means: dict[str, list[float]] = defaultdict(list)
    model_means: dict[tuple[str, str], list[float]] = defaultdict(list)
    goals = trials = 0
    for rows in by_goal.values():
        names = [r.metric_name for r in rows if r.status == "succeeded" and r.metric_name]
        if not names:
            continue
        metric = max(set(names), key=names.count)  # a goal has one metric
        values: list[float | None] = []
        for row in rows:
            ok = row.status == "succeeded" and row.metric_name == metric
            value = row.metric_value if ok else None
            if value is not None and math.isfinite(value):
                values.append(-value if metric in LOWER_IS_BETTER else value)
            else:
                values.append(None)
        seen = {v for v in values if v is not None}
        if len(seen) < 2:
            continue
        goals += 1
        trials += len(rows)
        per_family: dict[str, list[float]] = defaultdict(list)
        per_model: dict[tuple[str, str], list[float]] = defaultdict(list)
        for row, reward in zip(rows, rank_rewards(values), strict=True):
            per_family[row.family].append(reward)
            if row.model_id:
                per_model[(row.family, row.model_id)].append(reward)
        for family, rewards in per_family.items():
            family_means[family].append(sum(rewards) / len(rewards))
        for key, rewards in per_model.items():
            model_means[key].append(sum(rewards) / len(rewards))
    families = dict(default)
    for family, means in family_means.items():
        base = default.get(family, min(default.values(), default=0.5))
        families[family] = (PRIOR_WEIGHT * base + sum(means)) / (PRIOR_WEIGHT + len(means))
    models: dict[str, str] = {}
    best: dict[str, float] = {}
    for (family, model_id), means in sorted(model_means.items()):
        score = sum(means) / len(means)
        if score > best.get(family, -1.0):
            best[family], models[family] = score, model_id
    return Prior(families, models, goals, trials, base_name)


def prior_from_other_goals(spec: GoalSpec, goal_id: int | None) -> Prior:
    """The learned prior from this installation's trials of other goals of the task,
    shrunk toward :func:`base_prior`."""
    from storage.repositories.trials import outcomes_of_other_goals

    base = base_prior(spec.task)
    rows = outcomes_of_other_goals(spec.task, exclude_goal_id=goal_id, limit=HISTORY_LIMIT)
    return learned_prior(
        (
            Outcome(r.goal_id, r.family, r.model_id, r.metric_name, r.metric_value, r.status)
            for r in rows
        ),
        base.families,
        base.base,
    )


def catalogue_defaults(model_id: str) -> dict[str, Any]:
    """The model's effective default of each tunable parameter, as Optuna stores it,
    for those its search space can express (e.g. not ``max_depth=None``)."""
    spec = catalog.get_model(model_id)
    current = spec.build().get_params(deep=True)
    out = {}
    for name, dist in spec.search_space.items():
        if name not in current:
            continue
        value = _as_optuna_value(name, dist, current[name])
        if value is not _MISSING:
            out[name] = value
    return out


_MISSING = object()


def _as_optuna_value(name: str, dist: tuple, value: Any) -> Any:
    kind = dist[0]
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if kind == "int" and number and float(value).is_integer():
        value = int(value)
        return value if dist[1] <= value <= dist[2] else _MISSING
    if kind == "float" and number:
        value = float(value)
        return value if dist[1] <= value <= dist[2] else _MISSING
    if kind == "categorical":
        stored = space_to_json({name: dist})[name]["choices"]  # repr for tuples and the like
        for choice, as_stored in zip(dist[1], stored, strict=True):
            same_kind = type(choice) is type(value) or (
                isinstance(choice, numbers.Real) and not isinstance(choice, bool) and number
            )
            if same_kind and choice == value:
                return as_stored
    return _MISSING


@dataclass
class FamilyPolicy:
    """Which family the goal's next trial goes to, from its history alone.

    Pure (no database, no Optuna), so the proposer and the offline replay of the
    meta-tasks (:mod:`engine.autonomy.replay`) run the same code. ``opening`` is how many
    trials the opening takes: the portfolio's length, or :data:`PORTFOLIO` family
    starts (``opening_families``) when there is no portfolio. After it, every
    ``exploit_every``-th trial (at ``exploit_offset``) goes to the family of the best
    trial so far — a threshold goal needs one good configuration, and the family that
    produced the best one is where TPE is likeliest to find a better one — unless that
    family's last ``exploit_patience`` trials did not improve on it (then the best family
    still improving: a successive-halving flavour), and the others go to UCB1-Tuned,
    which keeps every family in reach.
    """

    order: list[str]  # families, highest prior first
    prior: Prior
    opening: int = PORTFOLIO
    opening_families: Sequence[str] = ()
    higher_is_better: bool = True
    exploit_every: int = EXPLOIT_EVERY
    exploit_offset: int = EXPLOIT_OFFSET
    exploit_patience: int = EXPLOIT_PATIENCE

    def rewards(self, history: Sequence[tuple[str, float | None]]) -> dict[str, list[float]]:
        values = [
            None if v is None or not math.isfinite(v) else (v if self.higher_is_better else -v)
            for _, v in history
        ]
        rewards: dict[str, list[float]] = {family: [] for family in self.order}
        for (family, _), reward in zip(history, rank_rewards(values), strict=True):
            if family in rewards:
                rewards[family].append(reward)
        return rewards

    def scores(self, history: Sequence[tuple[str, float | None]]) -> dict[str, tuple[float, float]]:
        """Family -> (posterior mean reward, exploration bonus) of UCB1-Tuned."""
        rewards = self.rewards(history)
        total = len(history)
        log_total = math.log(total) if total > 1 else 0.0
        out = {}
        for family in self.order:
            observed = rewards[family]
            count = PRIOR_WEIGHT + len(observed)
            mean = (PRIOR_WEIGHT * self.prior.families.get(family, 0.0) + sum(observed)) / count
            if len(observed) >= 2:
                average = sum(observed) / len(observed)
                variance = sum((r - average) ** 2 for r in observed) / len(observed)
            else:
                variance = MAX_VARIANCE
            variance = min(MAX_VARIANCE, variance + math.sqrt(2 * log_total / count))
            out[family] = (mean, math.sqrt(log_total / count * variance))
        return out

    def incumbent(
        self,
        history: Sequence[tuple[str, float | None]],
        allowed: Sequence[str] | None = None,
    ) -> str | None:
        """The family with the best succeeded trial among those whose search has not
        stalled (fewer than ``exploit_patience`` trials since their best; 0 = never
        stalls); the earliest on a tie; None when there is none."""
        best: dict[str, float] = {}
        since: dict[str, int] = {}
        for family, value in history:
            if family not in self.order or (allowed is not None and family not in allowed):
                continue
            oriented_value: float | None = None
            if value is not None and math.isfinite(value):
                oriented_value = value if self.higher_is_better else -value
            if oriented_value is not None and (family not in best or oriented_value > best[family]):
                best[family], since[family] = oriented_value, 0
            elif family in best:
                since[family] += 1
        live = [f for f in best if not self.exploit_patience or since[f] < self.exploit_patience]
        return max(live, key=lambda f: best[f]) if live else None

    def choose(
        self,
        history: Sequence[tuple[str, float | None]],
        allowed: Sequence[str] | None = None,
    ) -> tuple[str, str]:
        """(family, why). ``allowed``: the families still open (the replay's families
        run out of configurations; the proposer's never do)."""
        families = [f for f in self.order if allowed is None or f in allowed]
        rewards = self.rewards(history)
        for family in self.opening_families:
            if family in families and not rewards[family]:
                return family, (
                    f"portfolio start: family '{family}' "
                    f"(prior {self.prior.families.get(family, 0.0):.2f}, "
                    f"{self.prior.describe()})"
                )
        after = len(history) - self.opening
        if self.exploit_every and after >= 0 and after % self.exploit_every == self.exploit_offset:
            best = self.incumbent(history, families)
            if best is not None:
                return best, (
                    f"family '{best}' has the best trial of the families still improving: "
                    f"searching it further ({len(rewards[best])} trial(s) in it)"
                )
        scores = self.scores(history)
        best = max(families, key=lambda f: scores[f][0] + scores[f][1])
        mean, bonus = scores[best]
        tried = len(rewards[best])
        what = "not tried yet" if not tried else f"{tried} trial(s)"
        return best, (
            f"family '{best}' has the best upper confidence bound "
            f"(mean reward {mean:.2f} + exploration {bonus:.2f}; {what})"
        )


class BanditProposer:
    """Proposes (model, parameters) for a goal and learns from what each trial scored.

    ``history`` is the goal's trials so far as (family, metric value or None). ``prior``
    overrides the family prior; by default it is learned from the database's trials of
    other goals when ``learn_from_other_goals``, shrunk toward :func:`base_prior` (the
    family prior shipped with the portfolio), else it is :func:`base_prior` alone.
    """

    def __init__(
        self,
        goal_id: int,
        spec: GoalSpec,
        history: list[tuple[str, float | None]],
        *,
        seed: int = 0,
        storage=None,
        prior: Prior | Mapping[str, float] | None = None,
        learn_from_other_goals: bool = True,
        portfolio: Sequence[PortfolioEntry] | None = None,
    ):
        self.goal_id = goal_id
        self.spec = spec
        self.models = eligible_models(spec)
        if not self.models:
            raise ValueError("no catalogue model fits this goal's task and families")
        self.seed = seed
        self.storage = storage
        self.history = list(history)  # (family, metric value or None)
        if prior is None:
            prior = (
                prior_from_other_goals(spec, goal_id)
                if learn_from_other_goals
                else base_prior(spec.task)
            )
        elif not isinstance(prior, Prior):
            prior = Prior({**DEFAULT_PRIOR, **prior})
        self.prior = prior
        self.portfolio = list(
            portfolio_for(spec.task, self.models) if portfolio is None else portfolio
        )
        rank = {family: position for position, family in enumerate(DEFAULT_PRIOR)}
        self.order = sorted(
            self.models,
            key=lambda f: (-self.prior.families.get(f, 0.0), rank.get(f, len(rank)), f),
        )
        self.policy = FamilyPolicy(
            order=self.order,
            prior=self.prior,
            opening=len(self.portfolio) or PORTFOLIO,
            opening_families=() if self.portfolio else self.order[:PORTFOLIO],
            higher_is_better=spec.direction == ">=",
        )

    def _rewards(self) -> dict[str, list[float]]:
        return self.policy.rewards(self.history)

    def scores(self) -> dict[str, tuple[float, float]]:
        """Family -> (posterior mean reward, exploration bonus) of UCB1-Tuned."""
        return self.policy.scores(self.history)

    def choose_family(self) -> tuple[str, str]:
        return self.policy.choose(self.history)

    def first_model(self, family: str) -> str:
        """The model whose catalogue defaults open the family's search."""
        ids = self.models[family]
        learned = self.prior.models.get(family)
        if learned in ids:
            return learned
        for model_id in CANONICAL_MODELS:
            if model_id in ids:
                return model_id
        return min(
            ids,
            key=lambda m: (COST_RANK.get(catalog.get_model(m).cost, 3), m.count("."), m),
        )

    def study(self, family: str, *, open_with_defaults: bool = True) -> optuna.Study:
        optuna = _optuna()
        study = optuna.create_study(
            study_name=f"goal-{self.goal_id}-{family}",
            storage=self.storage,
            direction="maximize" if self.spec.direction == ">=" else "minimize",
            sampler=optuna.samplers.TPESampler(
                seed=self.seed + len(self.history), n_startup_trials=3
            ),
            load_if_exists=True,
        )
        if open_with_defaults and not study.get_trials(deepcopy=False):
            model_id = self.first_model(family)
            prefix = f"{model_id}::"
            fixed = {prefix + k: v for k, v in catalogue_defaults(model_id).items()}
            study.enqueue_trial(
                {"model_id": model_id, **fixed},
                user_attrs={DEFAULTS_ATTR: True},
                skip_if_exists=True,
            )
        return study

    def _portfolio_trial(self) -> tuple[str, str, optuna.Study] | None:
        """The next portfolio entry, enqueued in its family's study; None once the
        portfolio is spent. The goal's n-th trial is entry n, so a restarted loop goes
        on where it stopped."""
        index = len(self.history)
        if index >= len(self.portfolio):
            return None
        entry = self.portfolio[index]
        study = self.study(entry.family, open_with_defaults=False)
        prefix = f"{entry.model_id}::"
        study.enqueue_trial(
            {"model_id": entry.model_id, **{prefix + k: v for k, v in entry.params.items()}},
            user_attrs={PORTFOLIO_ATTR: index},
        )
        reason = f"portfolio trial {index + 1} of {len(self.portfolio)}: {entry.describe()}"
        return entry.family, reason, study

    def propose(self) -> Proposal:
        opening = self._portfolio_trial()
        if opening is not None:
            family, reason, study = opening
        else:
            family, reason = self.choose_family()
            study = self.study(family)
        trial = study.ask()
        model_id = trial.suggest_categorical("model_id", self.models[family])
        spec = catalog.get_model(model_id)
        space = spec.search_space
        entry = trial.user_attrs.get(PORTFOLIO_ATTR)
        if entry is not None:
            # As for defaults: what the entry does not fix keeps the catalogue default.
            space = {k: v for k, v in space.items() if k in self.portfolio[entry].params}
        elif trial.user_attrs.get(DEFAULTS_ATTR):
            # Only what the space can express is suggested (fixed to the default); the
            # rest keeps the catalogue's own default instead of a random value.
            space = {k: v for k, v in space.items() if k in catalogue_defaults(model_id)}
            reason += f"; catalogue defaults of {model_id}"
        # Parameter names are prefixed by the model so each keeps its own distribution.
        prefix = f"{model_id}::"
        raw = suggest_space(trial, {prefix + k: v for k, v in space.items()})
        params = {name[len(prefix) :]: value for name, value in raw.items()}
        return Proposal(model_id, family, params, reason, trial, study)

    def observe(self, proposal: Proposal, value: float | None) -> None:
        self.history.append((proposal.family, value))
        if proposal.study is None or proposal.optuna_trial is None:
            return
        if value is None or not math.isfinite(value):
            failed = _optuna().trial.TrialState.FAIL
            proposal.study.tell(proposal.optuna_trial, state=failed)
        else:
            proposal.study.tell(proposal.optuna_trial, value)
