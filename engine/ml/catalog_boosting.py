"""XGBoost and LightGBM part of the catalogue (their scikit-learn wrappers).

A missing library is recorded as excluded rather than failing the catalogue."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from engine.ml import search_spaces as ss
from engine.ml.catalog_spec import ModelSpec, derive_flags
from engine.ml.search_spaces import Float, Int

_XGB_QUIET = {"verbosity": 0}

_BOOSTING_ALIASES = {
    "xgboost": ("xgboost", "xgb", "extreme gradient boosting"),
    "lightgbm": ("lightgbm", "lgbm", "lgb", "light gbm"),
}


def _entry(
    library: str,
    cls: type,
    task: str,
    suffix: str,
    label: str,
    make: Callable[[], Any],
    defaults: dict[str, Any],
    space: dict[str, tuple],
    description: str,
    *,
    family: str = "boosting",
    aliases: tuple[str, ...] = (),
    **overrides: Any,
) -> ModelSpec:
    estimator = make()
    estimator.set_params(**defaults)
    flags = derive_flags(estimator)
    flags.update(overrides)
    flags.setdefault("needs_target_scaling", task == "regression" and flags["needs_scaling"])
    return ModelSpec(
        id=f"{library}.{cls.__name__}" + (f".{suffix}" if suffix else ""),
        name=label,
        task=task,
        family=family,
        library=library,
        estimator=cls.__name__,
        factory=make,
        defaults=defaults,
        search_space=space,
        description=description,
        aliases=aliases,
        **flags,
    )


def xgboost_specs() -> list[ModelSpec]:
    from xgboost import XGBClassifier, XGBRegressor, XGBRFClassifier, XGBRFRegressor

    specs = []
    for task, gbm, rf, kind in (
        ("classification", XGBClassifier, XGBRFClassifier, "Classifier"),
        ("regression", XGBRegressor, XGBRFRegressor, "Regressor"),
    ):
        specs += [
            _entry(
                "xgboost",
                gbm,
                task,
                "",
                f"XGBoost {kind}",
                gbm,
                dict(_XGB_QUIET),
                ss.XGB,
                "Gradient-boosted trees (histogram method, second-order updates, "
                "native missing-value handling).",
                aliases=_BOOSTING_ALIASES["xgboost"],
            ),
            _entry(
                "xgboost",
                rf,
                task,
                "",
                f"XGBoost Random Forest {kind}",
                rf,
                dict(_XGB_QUIET),
                ss.XGB_RF,
                "A random forest grown with XGBoost's tree learner (one round of many "
                "parallel trees, row and column subsampling).",
                family="ensemble",
                aliases=("xgboost random forest", "xgbrf"),
            ),
            _entry(
                "xgboost",
                gbm,
                task,
                "gblinear",
                f"XGBoost Linear {kind}",
                partial(gbm, booster="gblinear"),
                dict(_XGB_QUIET),
                ss.XGB_LINEAR,
                "Boosted linear model (coordinate descent with L1/L2 penalties).",
                family="linear",
                needs_scaling=True,
                needs_target_scaling=task == "regression",
            ),
            _entry(
                "xgboost",
                gbm,
                task,
                "dart",
                f"XGBoost DART {kind}",
                partial(gbm, booster="dart", rate_drop=0.1, skip_drop=0.5),
                dict(_XGB_QUIET),
                {**ss.XGB, "rate_drop": Float(0.0, 0.3)},
                "Boosted trees with dropout (DART): each round drops a random share of "
                "earlier trees, which curbs over-specialisation of late trees.",
                aliases=("dart",),
                cost="medium",
            ),
        ]
    specs.append(
        _entry(
            "xgboost",
            XGBRegressor,
            "regression",
            "pseudohuber",
            "XGBoost Regressor (pseudo-Huber loss)",
            lambda: XGBRegressor(objective="reg:pseudohubererror", huber_slope=1.0),
            dict(_XGB_QUIET),
            {**ss.XGB, "huber_slope": Float(0.2, 3.0, log=True)},
            "Boosted trees on the pseudo-Huber loss: quadratic near zero, linear in the "
            "tails (robust to outliers; the target is standardised first).",
            needs_target_scaling=True,
        )
    )
    return specs


def lightgbm_specs() -> list[ModelSpec]:
    from lightgbm import LGBMClassifier, LGBMRegressor

    no_bagging = {k: v for k, v in ss.LGBM.items() if k != "subsample"}
    specs = []
    for task, cls, kind in (
        ("classification", LGBMClassifier, "Classifier"),
        ("regression", LGBMRegressor, "Regressor"),
    ):
        specs += [
            _entry(
                "lightgbm",
                cls,
                task,
                "",
                f"LightGBM {kind}",
                partial(cls, subsample_freq=1, verbosity=-1),
                {},
                ss.LGBM,
                "Leaf-wise gradient-boosted trees on histograms (fast, native missing values).",
                aliases=_BOOSTING_ALIASES["lightgbm"],
            ),
            _entry(
                "lightgbm",
                cls,
                task,
                "dart",
                f"LightGBM DART {kind}",
                partial(cls, boosting_type="dart", drop_rate=0.1, verbosity=-1),
                {},
                {**no_bagging, "drop_rate": Float(0.02, 0.3, log=True)},
                "LightGBM with dropout of earlier trees (DART).",
            ),
            _entry(
                "lightgbm",
                cls,
                task,
                "rf",
                f"LightGBM Random Forest {kind}",
                partial(
                    cls,
                    boosting_type="rf",
                    subsample=0.632,
                    subsample_freq=1,
                    colsample_bytree=0.7,
                    verbosity=-1,
                ),
                {},
                {
                    "n_estimators": Int(50, 400, log=True),
                    "num_leaves": Int(8, 256, log=True),
                    "min_child_samples": Int(5, 100, log=True),
                    "subsample": Float(0.4, 0.9),
                    "colsample_bytree": Float(0.4, 1.0),
                },
                "A random forest grown by LightGBM (bagged leaf-wise trees, no boosting).",
                family="ensemble",
            ),
            _entry(
                "lightgbm",
                cls,
                task,
                "goss",
                f"LightGBM GOSS {kind}",
                partial(cls, data_sample_strategy="goss", verbosity=-1),
                {},
                no_bagging,
                "LightGBM with gradient-based one-side sampling: keeps the rows with large "
                "gradients and a random share of the rest each round.",
                aliases=("goss",),
            ),
        ]
    specs.append(
        _entry(
            "lightgbm",
            LGBMRegressor,
            "regression",
            "huber",
            "LightGBM Regressor (Huber loss)",
            lambda: LGBMRegressor(objective="huber", alpha=0.9, subsample_freq=1, verbosity=-1),
            {},
            {**ss.LGBM, "alpha": Float(0.3, 3.0, log=True)},
            "LightGBM on the Huber loss (robust to outliers; the target is standardised "
            "first so the Huber threshold is in standard deviations).",
            needs_target_scaling=True,
        )
    )
    return specs


def boosting_specs() -> tuple[list[ModelSpec], dict[str, str]]:
    specs: list[ModelSpec] = []
    excluded: dict[str, str] = {}
    for library, builder in (("xgboost", xgboost_specs), ("lightgbm", lightgbm_specs)):
        try:
            specs += builder()
        except ImportError as error:
            excluded[library] = f"{library} is not installed ({error})"
    return specs, excluded
