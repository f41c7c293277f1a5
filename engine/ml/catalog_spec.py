"""``ModelSpec``: one entry of the model catalogue, and the helpers that derive its
flags from the estimator itself (introspection rather than hand-typed tables)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from engine.ml.search_spaces import SearchSpace, space_to_json, validate_space

TASKS = ("classification", "regression")
FAMILIES = (
    "linear",
    "tree",
    "ensemble",
    "boosting",
    "svm",
    "kernel",
    "neighbors",
    "naive_bayes",
    "neural",
    "gaussian_process",
    "discriminant",
    "semi_supervised",
    "meta",
    "dummy",
)
COSTS = ("fast", "medium", "slow")

# Estimators whose fit does not depend on the scale of the features (trees, rank- or
# variance-normalised models, scalers) and meta-estimators whose scale sensitivity is
# decided by the estimators they contain. Everything else is treated as needing
# standardised inputs, which never hurts the models listed here.
SCALE_FREE = {
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "RandomTreesEmbedding",
    "AdaBoostClassifier",
    "AdaBoostRegressor",
    "BaggingClassifier",
    "BaggingRegressor",
    "VotingClassifier",
    "VotingRegressor",
    "StackingClassifier",
    "StackingRegressor",
    "CalibratedClassifierCV",
    "OneVsRestClassifier",
    "OneVsOneClassifier",
    "OutputCodeClassifier",
    "FixedThresholdClassifier",
    "TunedThresholdClassifierCV",
    "TransformedTargetRegressor",
    "SelectFromModel",
    "RFE",
    "Pipeline",
    "GaussianNB",
    "CategoricalNB",
    "DummyClassifier",
    "DummyRegressor",
    "QuadraticDiscriminantAnalysis",
    "StandardScaler",
    "MinMaxScaler",
    "QuantileTransformer",
    "KBinsDiscretizer",
    "XGBClassifier",
    "XGBRegressor",
    "XGBRFClassifier",
    "XGBRFRegressor",
    "LGBMClassifier",
    "LGBMRegressor",
}

# Rough cost of one fit on 2,000 rows x 30 features on one core (measured): fast
# < ~1 s, medium ~1-10 s, slow > 10 s. Meta-estimators take their costliest part.
SLOW = {
    "GaussianProcessRegressor",
    "NeighborhoodComponentsAnalysis",
    "StackingClassifier",
    "StackingRegressor",
}
MEDIUM = {
    "GaussianProcessClassifier",
    "QuantileRegressor",
    "TheilSenRegressor",
    "KernelRidge",
    "LabelPropagation",
    "LabelSpreading",
    "SVC",
    "NuSVC",
    "SVR",
    "NuSVR",
    "MLPClassifier",
    "MLPRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "LogisticRegressionCV",
    "TunedThresholdClassifierCV",
    "CalibratedClassifierCV",
    "AdaBoostClassifier",
    "AdaBoostRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "BaggingClassifier",
    "BaggingRegressor",
    "VotingClassifier",
    "VotingRegressor",
    "RFE",
    "LassoLarsCV",
    "LarsCV",
    "LassoCV",
    "ElasticNetCV",
    "OrthogonalMatchingPursuitCV",
    "Nystroem",
    "RANSACRegressor",
}


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


# Wrappers that, on a two-class target, fit one binary model of their base estimator:
# the same model as the base, so they only pad the catalogue and the search there.
MULTICLASS_ONLY = frozenset({"OneVsRestClassifier", "OneVsOneClassifier"})


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """A catalogue model.

    ``factory()`` returns the estimator with its structural arguments (base learners,
    kernels, pipeline steps); ``defaults`` are the catalogue's own defaults in
    ``set_params`` form (recorded wherever they differ from the library's, e.g. a
    smaller ``max_iter`` so the model trains in reasonable time);
    ``search_space`` uses the same names.
    """

    id: str
    name: str
    task: str
    family: str
    library: str
    estimator: str
    factory: Callable[[], Any] = field(repr=False)
    defaults: Mapping[str, Any] = field(default_factory=dict, repr=False)
    search_space: SearchSpace = field(default_factory=dict, repr=False)
    description: str = ""
    aliases: tuple[str, ...] = ()
    needs_scaling: bool = False
    needs_target_scaling: bool = False
    predicts_proba: bool = False
    handles_missing: bool = False
    supports_sample_weight: bool = False
    cost: str = "fast"

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"{self.id}: task must be one of {TASKS}")
        if self.family not in FAMILIES:
            raise ValueError(f"{self.id}: unknown family {self.family!r}")
        if self.cost not in COSTS:
            raise ValueError(f"{self.id}: unknown cost {self.cost!r}")
        validate_space(self.search_space)
        object.__setattr__(self, "defaults", _frozen(self.defaults))
        object.__setattr__(self, "search_space", _frozen(self.search_space))

    @property
    def multiclass_only(self) -> bool:
        """Same as its base model on two classes (one-vs-rest, one-vs-one)."""
        return self.estimator in MULTICLASS_ONLY

    # -- building ----------------------------------------------------------------

    def build(self, params: Mapping[str, Any] | None = None, seed: int = 0) -> Any:
        """A fresh unfitted estimator: catalogue defaults, then ``params`` on top.

        Every ``random_state`` in the estimator (nested ones too) gets ``seed`` and
        every ``n_jobs`` gets 1, unless ``params`` sets them explicitly.
        """
        estimator = self.factory()
        params = dict(params or {})
        merged = {**self.defaults, **params}
        deep = estimator.get_params(deep=True)
        for key in deep:
            leaf = key.rsplit("__", 1)[-1]
            if leaf == "random_state" and key not in params:
                merged[key] = int(seed)
            elif leaf == "n_jobs" and key not in params and _uses_n_jobs(estimator, deep, key):
                merged[key] = 1
        open_kwargs = _accepts_kwargs(estimator)  # XGBoost/LightGBM take any booster param
        unknown = [k for k in merged if k not in deep and not (open_kwargs and "__" not in k)]
        if unknown:
            raise ValueError(
                f"{self.id}: unknown parameter(s) {', '.join(sorted(unknown))}; "
                f"tunable: {', '.join(self.search_space) or 'none'}"
            )
        # Parents before children: replacing a sub-estimator must not undo its params.
        ordered = sorted(merged.items(), key=lambda item: item[0].count("__"))
        for key, value in ordered:
            estimator.set_params(**{key: value})
        return estimator

    def build_pipeline(
        self,
        params: Mapping[str, Any] | None = None,
        seed: int = 0,
        *,
        impute: bool = True,
        scale: bool | None = None,
        scale_target: bool | None = None,
    ) -> Any:
        """``build`` wrapped for raw tabular features: median imputation when the model
        cannot take NaN, standardisation when it needs it and, for scale-sensitive
        regressors, a standardised target (predictions come back in target units)."""
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        steps = []
        if impute and not self.handles_missing:
            steps.append(("impute", SimpleImputer(strategy="median")))
        if self.needs_scaling if scale is None else scale:
            steps.append(("scale", StandardScaler()))
        steps.append(("model", self.build(params, seed)))
        model = Pipeline(steps)
        wrap_target = self.needs_target_scaling if scale_target is None else scale_target
        if self.task == "regression" and wrap_target:
            model = TransformedTargetRegressor(regressor=model, transformer=StandardScaler())
        return model

    # -- description -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (pages, chat, CLI)."""
        return {
            "id": self.id,
            "name": self.name,
            "task": self.task,
            "family": self.family,
            "library": self.library,
            "estimator": self.estimator,
            "description": self.description,
            "defaults": {k: _plain(v) for k, v in self.defaults.items()},
            "search_space": space_to_json(self.search_space),
            "needs_scaling": self.needs_scaling,
            "needs_target_scaling": self.needs_target_scaling,
            "predicts_proba": self.predicts_proba,
            "handles_missing": self.handles_missing,
            "supports_sample_weight": self.supports_sample_weight,
            "cost": self.cost,
            "aliases": list(self.aliases),
            "configuration": repr(self.build()),
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float, str)) for v in value):
        return list(value)
    return repr(value)


# --- introspection helpers -------------------------------------------------------


def nested_estimators(estimator: Any) -> list[Any]:
    """The estimator and every estimator inside it (base learners, pipeline steps)."""
    found = [estimator]
    try:
        values = estimator.get_params(deep=True).values()
    except Exception:  # noqa: BLE001 - foreign objects without get_params
        return found
    for value in values:
        if hasattr(value, "fit") and hasattr(value, "get_params"):
            found.append(value)
    return found


# ``n_jobs`` is deprecated and ignored here (scikit-learn 1.8+): setting it only warns.
_IGNORED_N_JOBS = {"LogisticRegression"}


def _uses_n_jobs(estimator: Any, deep: Mapping[str, Any], key: str) -> bool:
    """True when the estimator owning ``key`` (``a__b__n_jobs`` -> ``a__b``) uses it."""
    owner = deep.get(key.rsplit("__", 1)[0], estimator) if "__" in key else estimator
    return type(owner).__name__ not in _IGNORED_N_JOBS


def _accepts_kwargs(estimator: Any) -> bool:
    try:
        parameters = inspect.signature(type(estimator).__init__).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def derive_flags(estimator: Any) -> dict[str, Any]:
    """Flags read off an unfitted estimator: scaling, probabilities, NaN, weights, cost."""
    from sklearn.utils import get_tags
    from sklearn.utils.validation import has_fit_parameter

    names = [type(e).__name__ for e in nested_estimators(estimator)]
    try:
        allow_nan = bool(get_tags(estimator).input_tags.allow_nan)
    except Exception:  # noqa: BLE001 - estimators without sklearn tags
        allow_nan = False
    if type(estimator).__name__ == "Pipeline":
        # sklearn reads only the first step; here every step must take NaN, since the
        # catalogue's pipelines have no imputer and scalers pass NaN through.
        allow_nan = all(
            step == "passthrough" or bool(get_tags(step).input_tags.allow_nan)
            for _, step in estimator.steps
        )
    rank = 0
    for name in names:
        rank = max(rank, 2 if name in SLOW else 1 if name in MEDIUM else 0)
    return {
        "needs_scaling": any(name not in SCALE_FREE for name in names),
        "predicts_proba": hasattr(estimator, "predict_proba"),
        "handles_missing": allow_nan,
        "supports_sample_weight": has_fit_parameter(estimator, "sample_weight"),
        "cost": COSTS[rank],
    }


_ACRONYM_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def display_name(class_name: str) -> str:
    """``RandomForestClassifier`` -> ``Random Forest Classifier``; ``NuSVC`` -> ``Nu SVC``."""
    return " ".join(_ACRONYM_SPLIT.split(class_name))


def normalise(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", str(text).lower())
