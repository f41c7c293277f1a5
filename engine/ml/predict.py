"""Predictions of a recorded trial's saved model on new data.

Features are rebuilt exactly as at training time (the trial stores its data spec:
feature names, numeric/categorical columns, classes, horizon). For price models every
date with a full feature row gets a prediction, including the latest ones whose
outcome is not known yet; rows the final model was fitted on are flagged, because a
prediction on them is in-sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.actions.base import ActionError, ActionResult, json_safe
from engine.actions.context import ActionContext, UserRef
from engine.lazy import pandas as pd
from engine.ml import dataset, persistence
from engine.ml.params import PredictParams
from engine.trials.record import Trial, parse

WARM_UP_DAYS = 365  # calendar days: the 50-day averages, and EMAs (MACD, RSI) settle


def visible_trial(user: UserRef, trial_id: int):
    """The trial if ``user`` may read it; a missing trial and another analyst's trial
    answer with the same message (their existence is not revealed)."""
    from engine.auth import permissions
    from storage.repositories import trials

    trial = trials.get_trial(int(trial_id))
    if trial is None or not permissions.can_read(user, "trial", trial.user_id):
        raise ActionError(permissions.not_found("trial", trial_id))
    return trial


def load_trial_model(trial_id: int, user: UserRef):
    trial = visible_trial(user, trial_id)
    if trial.status != "succeeded" or not trial.artifact_path:
        raise ActionError(
            f"Trial {trial_id} has no saved model (status {trial.status}); "
            "predict with a succeeded trial."
        )
    record = parse(trial)
    data = record.reproducibility.data
    if data is None:
        raise ActionError(f"Trial {trial_id} does not record how its features were built.")
    if record.artifact_path is None:
        raise ActionError(f"Trial {trial_id} has no saved model to predict with.")
    return record, data.model_dump(mode="json"), persistence.load_model(record.artifact_path)


def _training_end(trial: Trial) -> Any:
    """Last date the saved (final) model was fitted on."""
    holdout = trial.reproducibility.split("holdout")
    if holdout is not None:
        return holdout.train_last_date
    data = trial.reproducibility.data
    return data.last_index if data is not None else None


def price_rows(spec: dict[str, Any], params: PredictParams) -> tuple[pd.DataFrame, pd.Series, str]:
    from engine.ml import features

    symbol = params.symbols[0] if params.symbols else spec["symbol"]
    if params.symbols and len(params.symbols) > 1:
        raise ActionError("Predict one symbol at a time.")
    source = params.source or spec.get("source") or "bundled"
    # Load enough history before ``start`` for the features to be warm on its first date.
    warm_start = None
    if params.start is not None:
        warm_start = (pd.Timestamp(params.start) - pd.Timedelta(days=WARM_UP_DAYS)).date()
    # And a few days after ``end`` so the outcome of its last dates is known when it is
    # (features at t use rows up to t only, so the later rows cannot change them).
    late_end = None
    if params.end is not None:
        horizon_days = 2 * int(spec["horizon"]) + 10
        late_end = (pd.Timestamp(params.end) + pd.Timedelta(days=horizon_days)).date()
    frame, data = dataset.load_symbol_frame(symbol, source, warm_start, late_end)
    all_features = features.price_feature_frame(frame)
    if params.start is not None:
        all_features = all_features.loc[all_features.index >= pd.Timestamp(params.start)]
    if params.end is not None:
        all_features = all_features.loc[all_features.index <= pd.Timestamp(params.end)]
    missing = [name for name in spec["features"] if name not in all_features.columns]
    if missing:
        raise ActionError(
            f"The model was trained with features {', '.join(missing)} that {symbol}'s data "
            f"from '{source}' cannot provide (they need OHLCV); use data with open, high, low "
            "and volume, or a model trained on close prices only."
        )
    X = all_features[spec["features"]].dropna()
    if X.empty:
        raise ActionError(
            f"No date of {symbol} between the given dates has a full feature row "
            "(the features need about 60 trading days of history)."
        )
    if params.start is None:
        X = X.tail(params.last_n)
    actual = features.price_target(frame, int(spec["horizon"]), spec["task"]).reindex(X.index)
    label = data.symbols[0] if data.symbols else symbol
    return X, actual, label


def table_rows(
    spec: dict[str, Any], params: PredictParams
) -> tuple[pd.DataFrame, pd.Series | None, str]:
    from engine.data.sources import load_table

    dataset_id = params.dataset_id or spec.get("dataset_id")
    if dataset_id is None:
        raise ActionError("Give dataset_id: the table to predict.")
    table = dataset.flat_table(load_table(int(dataset_id)))
    time_column = spec.get("time_column")
    if time_column and time_column in table.columns:
        table[time_column] = pd.to_datetime(table[time_column], errors="coerce")
        table = table.sort_values(time_column, kind="stable").reset_index(drop=True)
        if params.start is not None:
            table = table[table[time_column] >= pd.Timestamp(params.start)]
        if params.end is not None:
            table = table[table[time_column] <= pd.Timestamp(params.end)]
    X = dataset.table_features(table, spec["features"], spec["numeric"], spec["categorical"])
    if time_column and time_column in table.columns:
        X.index = pd.DatetimeIndex(table[time_column], name=time_column)
    target = spec.get("target_column")
    actual = None
    if target and target in table.columns:
        actual = table[target].set_axis(X.index)
    if X.empty:
        raise ActionError(f"Dataset {dataset_id} has no rows to predict in that range.")
    return X, actual, f"dataset {dataset_id}"


def _when(value: Any) -> str:
    return f"{value:%Y-%m-%d}" if isinstance(value, pd.Timestamp) else f"row {value}"


def predict(params: PredictParams, ctx: ActionContext) -> ActionResult:
    trial, spec, model = load_trial_model(params.trial_id, ctx.user)
    if spec["kind"] == "prices":
        X, actual, label = price_rows(spec, params)
    else:
        X, actual, label = table_rows(spec, params)
    predicted = np.asarray(model.predict(X))
    out = pd.DataFrame(index=X.index)
    classes = spec.get("classes")
    task = spec["task"]
    if task == "classification" and classes is not None and spec["kind"] == "table":
        out["prediction"] = [classes[int(code)] for code in predicted]
    else:
        out["prediction"] = predicted
    if task == "classification" and hasattr(model, "predict_proba"):
        try:
            proba = np.asarray(model.predict_proba(X))
        except AttributeError:
            proba = None
        if proba is not None:
            if proba.shape[1] == 2:
                name = "p_up" if spec["kind"] == "prices" else f"p_{classes[1]}"
                out[name] = proba[:, 1]
            else:
                for code in range(proba.shape[1]):
                    out[f"p_{classes[code] if classes else code}"] = proba[:, code]
    if actual is not None:
        out["actual"] = actual.to_numpy()
    values: dict[str, Any] = {
        "trial_id": trial.id,
        "model_id": trial.model_id,
        "task": task,
        "n_predictions": len(out),
        "first": out.index[0],
        "last": out.index[-1],
        "latest_prediction": out["prediction"].iloc[-1],
    }
    notes = []
    if spec["kind"] == "prices":
        symbol_trained = spec.get("symbol")
        end = _training_end(trial)
        same = symbol_trained == label
        if same and end:
            out["in_training"] = out.index <= pd.Timestamp(end)
            seen = int(out["in_training"].sum())
            if seen:
                notes.append(
                    f"{seen} of the dates are on or before {end}, the last date the model was "
                    "fitted on: those predictions are in-sample."
                )
        up = predicted[-1] == 1 if task == "classification" else predicted[-1] > 0
        values["latest_signal"] = "long" if up else "flat"
        values["symbol"] = label
        values["horizon"] = spec["horizon"]
        if "p_up" in out:
            values["latest_p_up"] = float(out["p_up"].iloc[-1])
    elif spec.get("dataset_id") == (params.dataset_id or spec.get("dataset_id")):
        notes.append(
            "This is the table the model was trained on: rows outside the hold-out were used "
            "to fit it, so their predictions are in-sample."
        )
    what = f"{spec['horizon']}-day " if spec["kind"] == "prices" else ""
    summary = (
        f"Trial {trial.id} ({trial.model_id}) predicted {len(out)} rows of {label}"
        f" ({what}{task}); latest {_when(out.index[-1])}: {values['latest_prediction']}"
    )
    if "latest_signal" in values:
        summary += f" → {values['latest_signal']}"
    summary += ". " + " ".join(notes)
    table = out.rename_axis(out.index.name or "row").reset_index()
    return ActionResult(
        summary=summary.strip(), values=json_safe(values), tables={"predictions": table}
    )
