"""Rows for the training pipeline: a symbol's price history or an uploaded table.

:func:`prepare` turns a :class:`~engine.ml.params.DataSpec` into a :class:`PreparedData`:
features ``X`` (raw columns; imputation, scaling and one-hot encoding happen later,
inside the model's scikit-learn pipeline, fitted on training folds only), the target
``y``, and what the evaluation and the trial record need (dataset id and fingerprint,
the close prices and forward returns of a price target, the class labels).

Price data: features at date t come from prices up to t only
(:func:`engine.ml.features.build_price_features`); the target is the return from t
to t + horizon (regression) or whether it is positive (classification).

Tables: ``target_column`` and ``feature_columns`` (default: every other column that
is not a date); with ``time_column`` — given, or detected when the table has a date
column (:func:`engine.ml.validation_plan.detect_time_column`) — the rows are sorted by
it and validated walk-forward, otherwise they are treated as independent.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.actions.base import ActionError
from engine.lazy import pandas as pd
from engine.ml.params import DataSpec
from engine.ml.validation_plan import (
    detect_time_column,
    refuse_shuffle_message,
    shuffle_warning,
)

MIN_ROWS = 60
MAX_CLASSES = 20
MISSING_CATEGORY = "missing"


@dataclass
class PreparedData:
    """Features, target and everything needed to evaluate and record a model on them."""

    X: pd.DataFrame
    y: pd.Series
    task: str
    kind: str  # "prices" | "table"
    temporal: bool
    numeric: list[str]
    categorical: list[str]
    dataset_id: int | None
    fingerprint: str
    horizon: int = 1
    symbol: str | None = None
    source: str | None = None
    classes: list[Any] | None = None  # original labels of y's codes 0..k-1
    close: pd.Series | None = None  # every close of the symbol (price data)
    forward_returns: pd.Series | None = None  # return t -> t+h, aligned with X (price data)
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return list(self.X.columns)

    @property
    def financial(self) -> bool:
        return self.kind == "prices"

    @property
    def n_rows(self) -> int:
        return len(self.X)

    def spec(self) -> dict[str, Any]:
        """What prediction needs to rebuild features the same way (stored with the trial)."""
        return {
            "kind": self.kind,
            "task": self.task,
            "temporal": self.temporal,
            "symbol": self.symbol,
            "source": self.source,
            "horizon": self.horizon,
            "dataset_id": self.dataset_id,
            "fingerprint": self.fingerprint,
            "features": self.feature_names,
            "numeric": list(self.numeric),
            "categorical": list(self.categorical),
            "classes": None if self.classes is None else [_plain(c) for c in self.classes],
            "target_column": self.provenance.get("target_column"),
            "time_column": self.provenance.get("time_column"),
            "first_index": _plain(self.X.index[0]) if len(self.X) else None,
            "last_index": _plain(self.X.index[-1]) if len(self.X) else None,
        }

    def describe(self) -> str:
        if self.kind == "prices":
            what = (
                f"{self.horizon}-day direction"
                if self.task == "classification"
                else f"{self.horizon}-day return"
            )
            return f"{self.symbol} {what}, {self.X.index[0]:%Y-%m-%d}..{self.X.index[-1]:%Y-%m-%d}"
        target = self.provenance.get("target_column")
        return f"dataset {self.dataset_id} target '{target}' ({len(self.X)} rows)"


def _plain(value: Any) -> Any:
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- price data ------------------------------------------------------------------------


def load_symbol_frame(symbol: str, source: str, start, end):
    """One symbol's OHLCV frame when the source has it, else its close; and the PriceData."""
    from engine.data.sources import load_prices

    try:
        data = load_prices([symbol], source, start, end, field="ohlcv")
    except ActionError:  # no OHLC for this source (e.g. the bundled stocks); any other
        data = load_prices([symbol], source, start, end, field="close")  # problem repeats
    frame = data.frame
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.xs(frame.columns.get_level_values("symbol")[0], axis=1, level="symbol")
    else:
        frame = frame.iloc[:, :1].set_axis(["close"], axis=1)
    frame = frame.loc[:, frame.notna().any()]
    frame.columns = [str(c) for c in frame.columns]
    return frame, data


def prepare_prices(spec: DataSpec, task: str, *, user_id: int | None = None) -> PreparedData:
    from engine.data.sources import record, survivorship_note
    from engine.ml import features

    symbols = [s for s in (spec.symbols or []) if str(s).strip()]
    if len(symbols) != 1:
        raise ActionError(
            f"Price models are trained on one symbol at a time; got {', '.join(symbols)}. "
            "Train (or compare) each symbol separately."
        )
    frame, data = load_symbol_frame(symbols[0], spec.source, spec.start, spec.end)
    symbol = data.symbols[0] if data.symbols else symbols[0]
    if data.synthetic:
        notes = ["The data is SYNTHETIC (seeded random walk), not market prices."]
    else:
        notes = []
    notes += list(data.notes)
    survivors = survivorship_note([symbol], spec.source)
    if survivors:
        notes.append(survivors)
    try:
        X, y = features.build_price_features(frame, horizon=spec.horizon, task=task)
    except ValueError as error:
        raise ActionError(f"Cannot build features for {symbol}: {error}.") from None
    forward = features.forward_returns(frame, spec.horizon).reindex(X.index)
    _check_rows(len(X), f"{symbol} has only {len(X)} usable rows")
    classes = None
    if task == "classification":
        if y.nunique() < 2:
            raise ActionError(
                f"{symbol}'s {spec.horizon}-day direction is the same on every row; "
                "choose a longer period."
            )
        classes = [0, 1]
        y = y.astype(int)
    else:
        y = y.astype(float)
        if float(y.std()) == 0.0:
            raise ActionError(f"{symbol}'s {spec.horizon}-day return is constant.")
    dataset_id = record(data, user_id=user_id)
    provenance = dict(data.provenance)
    return PreparedData(
        X=X.astype(float),
        y=y,
        task=task,
        kind="prices",
        temporal=True,
        numeric=list(X.columns),
        categorical=[],
        dataset_id=dataset_id,
        fingerprint=str(provenance.get("fingerprint")),
        horizon=spec.horizon,
        symbol=symbol,
        source=spec.source,
        classes=classes,
        close=frame["close"].astype(float),
        forward_returns=forward,
        provenance=provenance,
        notes=notes,
    )


# --- tables ----------------------------------------------------------------------------


def _column(name: str, columns: list[str], what: str) -> str:
    if name in columns:
        return name
    lowered = {c.lower(): c for c in columns}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, columns, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ActionError(f"There is no {what} column {name!r}.{hint} Columns: {', '.join(columns)}.")


def flat_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A recorded table with plain string column names and its date index as a column."""
    out = frame.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = ["_".join(str(p) for p in parts if str(p)) for parts in out.columns]
    else:
        out.columns = [str(c) for c in out.columns]
    if not isinstance(out.index, pd.RangeIndex):
        name = str(out.index.name or "date")
        if name in out.columns:
            out = out.reset_index(drop=True)
        else:
            out = out.rename_axis(name).reset_index()
    return out


def _is_categorical(series: pd.Series) -> bool:
    return not (
        pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    ) and not pd.api.types.is_datetime64_any_dtype(series)


def clean_categoricals(X: pd.DataFrame, categorical: list[str]) -> pd.DataFrame:
    """Categorical columns as strings with missing values as 'missing' (train and predict)."""
    if not categorical:
        return X
    X = X.copy()
    for name in categorical:
        column = X[name]
        X[name] = column.astype("object").where(column.notna(), MISSING_CATEGORY).astype(str)
    return X


def table_features(
    table: pd.DataFrame, features: list[str], numeric: list[str], categorical: list[str]
) -> pd.DataFrame:
    """The feature columns of ``table`` typed as at training time."""
    missing = [name for name in features if name not in table.columns]
    if missing:
        raise ActionError(
            f"The table lacks the model's feature column(s) {', '.join(missing)}; "
            f"it has {', '.join(map(str, table.columns))}."
        )
    X = table[features].copy()
    for name in numeric:
        X[name] = pd.to_numeric(X[name], errors="coerce").astype(float)
    return clean_categoricals(X, categorical)


def prepare_table(spec: DataSpec, task: str) -> PreparedData:
    from engine.data.sources import load_table
    from storage.repositories import datasets

    if spec.dataset_id is None:
        raise ActionError("Give dataset_id: the table to train on.")
    record_row = datasets.get_dataset(int(spec.dataset_id))
    if record_row is None:
        raise ActionError(
            f"Dataset {spec.dataset_id} does not exist (list_datasets shows the ids)."
        )
    table = flat_table(load_table(int(spec.dataset_id)))
    columns = list(table.columns)
    target = _column(str(spec.target_column), columns, "target")
    time_column = _column(spec.time_column, columns, "time") if spec.time_column else None
    notes: list[str] = []
    detected, shuffled_dates = False, None
    if time_column is None:
        dated_by = detect_time_column(table, exclude=(target,))
        if dated_by is not None and getattr(spec, "validation", "walk_forward") == "kfold":
            if not getattr(spec, "allow_shuffled_dates", False):
                raise ActionError(refuse_shuffle_message(dated_by))
            shuffled_dates = dated_by
            notes.append(shuffle_warning(dated_by))
        elif dated_by is not None:
            time_column, detected = dated_by, True
    if time_column is not None:
        stamps = pd.to_datetime(table[time_column], errors="coerce")
        if stamps.isna().all():
            raise ActionError(f"Column {time_column!r} holds no dates or times.")
        table = table.assign(**{time_column: stamps})
        table = table.sort_values(time_column, kind="stable").reset_index(drop=True)
    if spec.feature_columns:
        feature_names = [_column(name, columns, "feature") for name in spec.feature_columns]
        clash = {target, time_column} & set(feature_names)
        if clash:
            raise ActionError(
                f"Column {sorted(c for c in clash if c)[0]!r} cannot be both a feature and the "
                "target or time column."
            )
        dated = [
            name for name in feature_names if pd.api.types.is_datetime64_any_dtype(table[name])
        ]
        if dated:
            raise ActionError(
                f"Feature column(s) {', '.join(dated)} hold dates; use them as time_column "
                "or derive numeric features from them."
            )
    else:
        feature_names = [
            name
            for name in columns
            if name not in (target, time_column)
            and not pd.api.types.is_datetime64_any_dtype(table[name])
        ]
    feature_names = list(dict.fromkeys(feature_names))
    empty = [name for name in feature_names if table[name].isna().all()]
    if empty:
        notes.append(f"Ignored empty column(s): {', '.join(empty)}.")
        feature_names = [name for name in feature_names if name not in empty]
    if not feature_names:
        raise ActionError(f"No feature columns left besides the target {target!r}.")

    labelled = table[table[target].notna()].reset_index(drop=True)
    dropped = len(table) - len(labelled)
    if dropped:
        notes.append(f"Dropped {dropped} row(s) without a value of {target!r}.")
    _check_rows(len(labelled), f"The table has only {len(labelled)} rows with a target")

    categorical = [name for name in feature_names if _is_categorical(labelled[name])]
    numeric = [name for name in feature_names if name not in categorical]
    X = table_features(labelled, feature_names, numeric, categorical)
    if time_column is not None:
        X.index = pd.DatetimeIndex(labelled[time_column], name=time_column)
    raw_target = labelled[target]
    classes = None
    if task == "classification":
        distinct = pd.unique(raw_target)
        if len(distinct) < 2:
            raise ActionError(
                f"The target {target!r} has a single value ({distinct[0]!r}); "
                "a classifier needs at least two classes."
            )
        if len(distinct) > MAX_CLASSES:
            raise ActionError(
                f"The target {target!r} has {len(distinct)} distinct values; for a number "
                "use task='regression' (classification allows at most "
                f"{MAX_CLASSES} classes)."
            )
        classes = sorted(distinct.tolist(), key=lambda v: (str(type(v)), v))
        if all(isinstance(v, float) and v.is_integer() for v in classes):
            classes = [int(v) for v in classes]  # 0.0/1.0 read from a file are labels 0/1
            raw_target = raw_target.astype(int)
        codes = {value: code for code, value in enumerate(classes)}
        y = raw_target.map(codes).astype(int)
    else:
        y = pd.to_numeric(raw_target, errors="coerce")
        if y.isna().any():
            bad = raw_target[y.isna()].iloc[0]
            raise ActionError(
                f"The target {target!r} is not numeric (e.g. {bad!r}); "
                "use task='classification' for labels."
            )
        y = y.astype(float)
        if float(y.std()) == 0.0:
            raise ActionError(f"The target {target!r} is constant; there is nothing to learn.")
    y.index = X.index
    provenance = dict(record_row.provenance or {})
    provenance.update({"target_column": target, "time_column": time_column})
    if detected:
        provenance["time_column_detected"] = True
    if shuffled_dates:
        provenance["shuffled_dates"] = shuffled_dates
    return PreparedData(
        X=X,
        y=y.rename("target"),
        task=task,
        kind="table",
        temporal=time_column is not None,
        numeric=numeric,
        categorical=categorical,
        dataset_id=record_row.id,
        fingerprint=record_row.fingerprint,
        horizon=spec.horizon,
        source=f"upload:{record_row.id}",
        classes=classes,
        provenance=provenance,
        notes=notes,
    )


def two_classes(
    task: str, symbols: list[str] | None, dataset_id: int | None, target_column: str | None
) -> bool:
    """Whether a classification target has exactly two classes (a price direction always
    has); read from the table for an upload."""
    if task != "classification":
        return False
    if symbols:
        return True
    from engine.data.sources import load_table

    if dataset_id is None or not target_column:
        return False
    try:
        table = flat_table(load_table(int(dataset_id)))
        target = _column(str(target_column), list(table.columns), "target")
    except ActionError:
        return False
    return int(table[target].dropna().nunique()) == 2


def refuse_binary_wrapper(spec_name: str, multiclass_only: bool, data: PreparedData) -> None:
    """One-vs-rest/one-vs-one on a two-class target is its base model: say so."""
    if multiclass_only and data.task == "classification" and len(data.classes or []) == 2:
        raise ActionError(
            f"{spec_name} on a two-class target fits a single binary model: it is the same "
            "model as its base estimator. Train the base model instead."
        )


def _check_rows(n: int, what: str) -> None:
    if n < MIN_ROWS:
        raise ActionError(
            f"{what}; at least {MIN_ROWS} are needed to train and validate a model. "
            "Use a longer period or a larger table."
        )


def prepare(spec: DataSpec, task: str, *, user_id: int | None = None) -> PreparedData:
    """Price data when ``spec.symbols`` is set, else the uploaded table."""
    if spec.symbols:
        return prepare_prices(spec, task, user_id=user_id)
    return prepare_table(spec, task)
