"""The model catalogue: every scikit-learn classifier and regressor that works on
tabular data (found by introspection), genuine variants of them (kernels, losses,
base learners), XGBoost and LightGBM.

::

    spec = get_model("sklearn.RandomForestClassifier")
    estimator = spec.build({"n_estimators": 300}, seed=7)    # unfitted
    pipeline = spec.build_pipeline(seed=7)                    # + imputer/scaler as needed
    params = suggest(trial, spec)                             # Optuna search space

    list_models(task="regression", family="linear")
    find_model("random forest", task="classification")       # the chat planner's lookup

Estimators that cannot work on single-target tabular data are listed in
:data:`EXCLUDED` with the reason. The catalogue is built on first use (importing this
module is cheap).
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable

from engine.ml.catalog_spec import FAMILIES, TASKS, ModelSpec, normalise
from engine.ml.search_spaces import suggest

__all__ = [
    "FAMILIES",
    "TASKS",
    "ModelSpec",
    "catalog",
    "counts",
    "excluded",
    "find_model",
    "find_models",
    "get_model",
    "list_models",
    "resolve_model",
    "suggest",
]


_EXCLUDED: dict[str, str] = {}


def __getattr__(name: str):
    # ``EXCLUDED`` (id -> reason) is known once the catalogue has been built.
    if name == "EXCLUDED":
        catalog()
        return _EXCLUDED
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def excluded() -> dict[str, str]:
    """Estimators left out of the catalogue, id -> reason."""
    catalog()
    return dict(_EXCLUDED)


_CATALOG: dict[str, ModelSpec] = {}
_lock = threading.Lock()


def catalog() -> dict[str, ModelSpec]:
    """Every model, id -> spec (built once per process)."""
    if _CATALOG:
        return _CATALOG
    with _lock:
        if not _CATALOG:
            import warnings

            from engine.ml.catalog_boosting import boosting_specs
            from engine.ml.catalog_sklearn import sklearn_specs

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                sk, sk_excluded = sklearn_specs()
                boost, boost_excluded = boosting_specs()
            built: dict[str, ModelSpec] = {}
            for spec in sk + boost:
                if spec.id in built:
                    raise RuntimeError(f"duplicate catalogue id {spec.id}")
                built[spec.id] = spec
            _EXCLUDED.update({**sk_excluded, **boost_excluded})
            _CATALOG.update(dict(sorted(built.items())))
    return _CATALOG


def counts() -> dict[str, int]:
    """Number of models per task, and in total."""
    specs = catalog().values()
    out = {task: sum(1 for s in specs if s.task == task) for task in TASKS}
    out["total"] = len(catalog())
    return out


def _check_task(task: str | None) -> None:
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")


def _haystack(spec: ModelSpec) -> str:
    parts = [spec.id, spec.name, spec.family, spec.estimator, spec.library, *spec.aliases]
    return " ".join(normalise(p) for p in parts)


def list_models(
    task: str | None = None,
    family: str | None = None,
    text: str | None = None,
    *,
    two_classes: bool = False,
) -> list[ModelSpec]:
    """Models filtered by task, family and free text (every word must appear in the
    id, name, family or aliases), ordered by id. ``two_classes``: leave out the
    wrappers that are their base model on a binary target (one-vs-rest, one-vs-one)."""
    _check_task(task)
    if family is not None and family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
    words = [normalise(w) for w in (text or "").split() if normalise(w)]
    out = []
    for spec in catalog().values():
        if task is not None and spec.task != task:
            continue
        if family is not None and spec.family != family:
            continue
        if two_classes and spec.multiclass_only:
            continue
        if words:
            hay = _haystack(spec)
            if not all(word in hay for word in words):
                continue
        out.append(spec)
    return out


def get_model(model_id: str) -> ModelSpec:
    """The spec with this exact id (case-insensitive); KeyError naming close matches."""
    specs = catalog()
    if model_id in specs:
        return specs[model_id]
    lowered = {key.lower(): spec for key, spec in specs.items()}
    if str(model_id).lower() in lowered:
        return lowered[str(model_id).lower()]
    close = difflib.get_close_matches(str(model_id), list(specs), n=5, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see list_models()"
    raise KeyError(f"unknown model id {model_id!r}{hint}")


def _keys(spec: ModelSpec) -> Iterable[tuple[str, float]]:
    """Lookup keys of a spec with a weight (1.0 = the spec's own name)."""
    yield normalise(spec.id), 1.0
    yield normalise(spec.id.split(".", 1)[1]), 1.0
    yield normalise(spec.name), 1.0
    for suffix in ("Classifier", "Regressor", "Regression"):
        if spec.estimator.endswith(suffix) and spec.id.count(".") == 1:
            yield normalise(spec.estimator[: -len(suffix)]), 0.95
    for alias in spec.aliases:
        yield normalise(alias), 0.9


def find_models(text: str, task: str | None = None, limit: int = 5) -> list[ModelSpec]:
    """Best matches for free text (id, display name, class name or alias), best first.

    Exact matches come first, then names containing the text (or contained in it),
    then fuzzy (difflib) matches. With ``task=None`` a classifier and a regressor
    that match equally well are both returned, the classifier first.
    """
    _check_task(task)
    query = normalise(text)
    if not query:
        return []
    scored: dict[str, float] = {}
    for spec in catalog().values():
        if task is not None and spec.task != task:
            continue
        best = 0.0
        for key, weight in _keys(spec):
            if not key:
                continue
            if key == query:
                score = 3.0 * weight
            elif len(query) >= 3 and (query in key or key in query):
                score = 2.0 * weight * min(len(query), len(key)) / max(len(query), len(key))
                score += 0.1 if key.startswith(query) else 0.0
            else:
                ratio = difflib.SequenceMatcher(None, query, key).ratio()
                score = ratio * weight if ratio >= 0.72 else 0.0
            best = max(best, score)
        if best > 0:
            # Plain entries before variants; classification first when task is None.
            best -= 0.01 * spec.id.count(".") + (0.001 if spec.task == "regression" else 0)
            scored[spec.id] = best
    ranked = sorted(scored, key=lambda key: (-scored[key], key))
    return [catalog()[key] for key in ranked[:limit]]


def find_model(text: str, task: str | None = None) -> ModelSpec:
    """The single best match for ``text`` (an id, display name, class name or alias
    such as "random forest", "xgboost", "svm"); KeyError with suggestions otherwise."""
    matches = find_models(text, task=task, limit=1)
    if matches:
        return matches[0]
    names = [spec.name for spec in list_models(task=task)]
    close = difflib.get_close_matches(str(text), names, n=5, cutoff=0.4)
    hint = f"; close names: {', '.join(close)}" if close else "; see list_models()"
    scope = f" {task}" if task else ""
    raise KeyError(f"no{scope} model matches {text!r}{hint}")


def resolve_model(text: str, task: str | None = None) -> ModelSpec:
    """An exact id if ``text`` is one (checking the task), else :func:`find_model`."""
    try:
        spec = get_model(text)
    except KeyError:
        return find_model(text, task=task)
    if task is not None and spec.task != task:
        raise KeyError(
            f"model {spec.id!r} is a {spec.task} model, not {task}; "
            f"try {find_model(spec.name, task=task).id!r}"
        )
    return spec
