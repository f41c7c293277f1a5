"""Offline planner intents of the ML actions (loaded by ``engine.llm.planner.load_intents``).

They map requests such as "train a random forest to predict AAPL's 5-day direction",
"compare gradient boosting, logistic regression and random forest on SPX next-day
direction", "tune XGBoost on MSFT for 20 trials" or "which models can do regression?"
to the same calls Claude would make. Model names are passed as written ("random
forest"); the actions resolve them against the catalogue.
"""

from __future__ import annotations

import re
from typing import Any

from engine.llm import extract
from engine.llm.planner import Intent, MissingValue, apply_dates, register_intent

# (pattern, catalogue text); longer names first where one contains another.
MODEL_WORDS: tuple[tuple[str, str], ...] = (
    (r"hist(?:ogram)?[- ]?gradient[- ]?boost\w*|\bhgb\b", "HistGradientBoosting"),
    (r"xg[- ]?boost\w*|\bxgb\b", "xgboost"),
    (r"light[- ]?gbm|\blgbm\b|\blightgbm\b", "lightgbm"),
    (r"gradient[- ]?boost\w*(?: (?:trees?|machines?))?|\bgbm\b|\bgbt\b", "gradient boosting"),
    (r"ada[- ]?boost\w*", "AdaBoost"),
    (r"random[- ]forests?|\brf\b", "random forest"),
    (r"extra[- ]trees|extremely randomi[sz]ed trees", "extra trees"),
    (r"decision[- ]trees?", "decision tree"),
    (r"logistic(?: regression)?|\blogit\b", "logistic regression"),
    (r"linear regression|\bols\b|ordinary least squares", "linear regression"),
    (r"elastic[- ]?net", "elastic net"),
    (r"\blasso\b", "lasso"),
    (r"\bridge\b", "ridge"),
    (r"support[- ]vector(?: machines?| classifier| regression)?|\bsvms?\b|\bsvc\b|\bsvr\b", "svm"),
    (r"k[- ]?nearest[- ]neighbou?rs?|\bk-?nn\b|nearest[- ]neighbou?rs?", "knn"),
    (r"naive[- ]bayes", "naive bayes"),
    (r"neural[- ]net(?:work)?s?|\bmlp\b|multi[- ]?layer perceptron", "mlp"),
    (r"linear discriminant|\blda\b", "linear discriminant analysis"),
    (r"quadratic discriminant|\bqda\b", "quadratic discriminant analysis"),
    (r"gaussian process\w*", "gaussian process"),
    (r"bagging", "bagging"),
    (r"\bdummy\b|baseline model", "dummy"),
)
# Words that look like tickers in a sentence about models.
NOT_SYMBOLS = {
    "SVM", "SVC", "SVR", "RF", "XGB", "MLP", "KNN", "LDA", "QDA", "OLS", "GBM", "GBT", "HGB",
    "LGBM", "AUC", "IC", "ROC", "RMSE", "MAE", "R2", "ML", "TPE", "CV", "AI",
}  # fmt: skip
FAMILY_WORDS: tuple[tuple[str, str], ...] = (
    (r"boost", "boosting"),
    (r"linear|regularised|regularized", "linear"),
    (r"\btrees?\b", "tree"),
    (r"ensembles?|forests?|bagging", "ensemble"),
    (r"\bsvms?\b|support vector", "svm"),
    (r"kernel", "kernel"),
    (r"neighbou?r|\bknn\b", "neighbors"),
    (r"naive bayes|bayesian classifiers", "naive_bayes"),
    (r"neural|\bmlp\b", "neural"),
    (r"gaussian process", "gaussian_process"),
    (r"discriminant", "discriminant"),
    (r"semi[- ]supervised", "semi_supervised"),
    (r"\bdummy\b|baselines?", "dummy"),
)
METRICS = (
    (r"balanced[ _]accuracy", "balanced_accuracy"),
    (r"\baccuracy\b", "accuracy"),
    (r"roc[ _-]?auc|\bauc\b", "roc_auc"),
    (r"\bf1\b", "f1"),
    (r"log[ _-]?loss|cross[- ]entropy", "log_loss"),
    (r"\brmse\b|root mean squared", "rmse"),
    (r"\bmae\b|mean absolute", "mae"),
    (r"\br2\b|\br²|r-squared|r squared", "r2"),
    (r"sharpe", "sharpe"),
    (r"\bic\b|information coefficient", "ic"),
)


# No model named: not a request about models ("buy and hold AAPL vs SPX", "AAPL beta vs
# SPX"), however much it compares.
NO_MODEL = (
    r"^(?!.*(?:" + "|".join(pattern for pattern, _ in MODEL_WORDS) + r"|\bmodels?\b|"
    r"classifiers?|regressors?|estimators?))"
)


def find_models(text: str) -> list[str]:
    """Model names in the order mentioned (overlapping mentions count once)."""
    hits: list[tuple[int, int, str]] = []
    for pattern, name in MODEL_WORDS:
        for match in re.finditer(pattern, text, re.I):
            hits.append((match.start(), match.end(), name))
    hits.sort(key=lambda hit: (hit[0], -(hit[1] - hit[0])))
    chosen: list[str] = []
    taken_until = -1
    for start, end, name in hits:
        if start < taken_until:
            continue
        taken_until = end
        if name not in chosen:
            chosen.append(name)
    return chosen


def symbols(text: str) -> list[str]:
    found = extract.extract_symbols(text)
    return [s for s in found if not s.startswith("MACRO:") and s.upper() not in NOT_SYMBOLS]


def task(text: str) -> str | None:
    if re.search(r"direction|up or down|\bclassif|\bsign\b|rise or fall|go up", text, re.I):
        return "classification"
    if re.search(r"\breturns?\b|regress|how much|magnitude|price change", text, re.I):
        return "regression"
    return None


def horizon(text: str) -> int | None:
    match = re.search(
        r"\b(\d{1,2})[- ]?(?:trading[- ])?days?\b(?![- ]?(?:window|lookback))", text, re.I
    )
    if match:
        return int(match.group(1))
    if re.search(r"next[- ]day|tomorrow|one[- ]day|daily", text, re.I):
        return 1
    if re.search(r"next[- ]week|weekly|one[- ]week", text, re.I):
        return 5
    if re.search(r"next[- ]month|monthly|one[- ]month", text, re.I):
        return 21
    return None


def metric(text: str) -> str | None:
    scope = re.search(
        r"(?:\bby|\busing|\bon|metric|optimi[sz]e|maximi[sz]e|minimi[sz]e|for best|rank(?:ed)? by)"
        r"\s+(?:the\s+)?(?:out[- ]of[- ]sample\s+)?([\w² -]{2,30})",
        text,
        re.I,
    )
    for candidate in ([scope.group(1)] if scope else []) + [text]:
        for pattern, name in METRICS:
            if re.search(pattern, candidate, re.I):
                return name
    return None


def _data_and_evaluation(text: str, params: dict[str, Any]) -> dict[str, Any]:
    dataset = re.search(r"\b(?:dataset|upload(?:ed table)?|table)\s*#?\s*(\d+)", text, re.I)
    if dataset:
        params["dataset_id"] = int(dataset.group(1))
        target = re.search(r"\btarget(?: column)?\s+['\"]?([\w.]+)", text, re.I)
        if target:
            params["target_column"] = target.group(1)
        time_column = re.search(r"\btime column\s+['\"]?([\w.]+)", text, re.I)
        if time_column:
            params["time_column"] = time_column.group(1)
    else:
        found = symbols(text)
        if not found:
            raise MissingValue("symbols (e.g. AAPL, MSFT or SPX) or an uploaded dataset id")
        params["symbols"] = found[:1]
    chosen_task = task(text)
    if chosen_task:
        params["task"] = chosen_task
    days = horizon(text)
    if days and "symbols" in params:
        params["horizon"] = min(max(days, 1), 60)
    chosen_metric = metric(text)
    if chosen_metric:
        params["metric"] = chosen_metric
    cost = re.search(r"(\d+(?:\.\d+)?)\s*(?:bps|basis points)", text, re.I)
    if cost:
        params["cost_bps"] = float(cost.group(1))
    splits = re.search(r"(\d+)\s*(?:walk[- ]forward\s+)?(?:folds|splits)", text, re.I)
    if splits:
        params["n_splits"] = int(splits.group(1))
    seed = re.search(r"\bseed\s*(?:=|of)?\s*(\d+)", text, re.I)
    if seed:
        params["seed"] = int(seed.group(1))
    return apply_dates(text, params)


def build_train(text: str) -> dict[str, Any]:
    models = find_models(text)
    if not models:
        raise MissingValue("a model (e.g. random forest, logistic regression, XGBoost)")
    return _data_and_evaluation(text, {"model_id": models[0]})


def build_compare(text: str) -> dict[str, Any]:
    models = find_models(text)
    if len(models) < 2:
        raise MissingValue("at least two models (e.g. random forest and logistic regression)")
    return _data_and_evaluation(text, {"model_ids": models})


def build_tune(text: str) -> dict[str, Any]:
    models = find_models(text)
    if not models:
        raise MissingValue("the model to tune (e.g. XGBoost, random forest)")
    params = _data_and_evaluation(text, {"model_id": models[0]})
    trials = re.search(
        r"(\d+)\s*(?:optuna\s+)?(?:trials?|iterations?|rounds?|configurations?)", text, re.I
    )
    if trials:
        params["n_trials"] = int(trials.group(1))
    return params


def _trial_ids(text: str) -> list[int]:
    match = re.search(r"\btrials?\s*#?\s*((?:\d+(?:\s*(?:,|and|&|\+)\s*#?)?\s*)+)", text, re.I)
    if not match:
        return []
    return [int(number) for number in re.findall(r"\d+", match.group(1))]


def build_predict(text: str) -> dict[str, Any]:
    ids = _trial_ids(text)
    if not ids:
        raise MissingValue("the trial whose model predicts (e.g. trial 12)")
    params: dict[str, Any] = {"trial_id": ids[0]}
    found = symbols(text)
    if found:
        params["symbols"] = found[:1]
    dataset = re.search(r"\b(?:dataset|table)\s*#?\s*(\d+)", text, re.I)
    if dataset:
        params["dataset_id"] = int(dataset.group(1))
    last = extract.search(
        r"(?:the\s+)?(?:last|latest|most recent)\s+(\d+)\s*(?:trading\s+)?(?:days|rows|sessions)",
        text,
    )
    if last:
        params["last_n"] = int(last.group(1))
    return apply_dates(text, params)


def build_ensemble(text: str) -> dict[str, Any]:
    ids = _trial_ids(text)
    if len(ids) < 2:
        raise MissingValue("at least two trial ids (e.g. trials 3, 5 and 8)")
    params: dict[str, Any] = {"trial_ids": ids}
    if re.search(r"\bstack", text, re.I):
        params["method"] = "stacking"
        models = find_models(text)  # members are trial ids: a model named is the meta-model
        if models:
            params["final_model_id"] = models[0]
    else:
        params["method"] = "voting"
        if re.search(r"\bhard\b|majority", text, re.I):
            params["voting"] = "hard"
    return params


def build_list(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if re.search(r"regress", text, re.I):
        params["task"] = "regression"
    elif re.search(r"classif", text, re.I):
        params["task"] = "classification"
    for pattern, family in FAMILY_WORDS:
        if re.search(pattern, text, re.I):
            params["family"] = family
            break
    return params


register_intent(
    Intent(
        "list_models",
        (
            (r"\b(?:which|what)\s+(?:\w+\s+){0,3}(?:models?|regressors|classifiers)\b", 4),
            (r"\blist\b.*\bmodels?\b|\bmodels?\b.*\b(?:available|catalog(?:ue)?)\b", 4),
            (r"\bcatalog(?:ue)?\b", 2),
            (r"show (?:me )?(?:(?:the|all|your)\s+){0,2}(?:\w+\s+)?models?", 3),
            (r"can do|support|available", 1),
        ),
        build_list,
        "Which models can do regression?",
    )
)
register_intent(
    Intent(
        "train_model",
        (
            (r"\btrain\w*\b|\bfit\b", 3),
            (r"\bbuild\b.*\b(?:model|classifier|regressor)\b", 2),
            (r"\bmodel\b|classifier|regressor", 1),
            (r"\bpredict\b|forecast", 1.5),
            (r"direction|returns?", 1),
        ),
        build_train,
        "Train a random forest to predict AAPL's 5-day direction",
    )
)
register_intent(
    Intent(
        "compare_models",
        (
            (r"\bcompar\w*|\bversus\b|\bvs\.?\b|leaderboard|head[- ]to[- ]head|bake[- ]?off", 5),
            (r"which (?:model|one|is) (?:is |works |does )?best|best model", 3),
            (r"which (?:\w+ )?(?:is|works|does) better|\bbetter\b.*\bor\b", 5),
            (r"\bagainst\b|\bbenchmark\w*", 4),
            (r"\bmodels\b", 1),
            (NO_MODEL, -6),
        ),
        build_compare,
        "Compare gradient boosting, logistic regression and random forest on SPX next-day "
        "direction",
    )
)
register_intent(
    Intent(
        "tune_model",
        (
            (r"\btun(?:e|ing)\b|hyper[- ]?param\w*|\boptuna\b", 6),
            (r"search (?:the )?(?:parameter|param) space|best (?:hyper)?parameters", 4),
            (r"\btrials\b", 1),
        ),
        build_tune,
        "Tune XGBoost on MSFT for 20 trials",
    )
)
register_intent(
    Intent(
        "predict",
        (
            (r"\btrial\s*#?\s*\d+", 3),
            (r"\bpredict\w*|forecast|signal|score (?:new|the) data", 2),
            (r"\buse\b|\bapply\b|\brun\b", 0.5),
        ),
        build_predict,
        "Use trial 12 to predict AAPL from 2019-01-01",
    )
)
register_intent(
    Intent(
        "build_ensemble",
        (
            (r"\bensemble\w*", 6),
            (r"\bstack(?:ing|ed)?\b", 5),
            (r"\bvot(?:e|ing)\b", 4),
            (r"\bcombin\w*|\bblend\w*", 3),
            (r"\btrials\b", 1),
        ),
        build_ensemble,
        "Build a soft-voting ensemble of trials 3, 5 and 8",
    )
)
