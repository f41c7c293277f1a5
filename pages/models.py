"""Models: browse the catalogue, train a model, and inspect a trial in detail.

The page only draws: training goes through the action registry (``ui.run.run_action``
with the action's own form), the catalogue is read through ``engine.ml.catalogue_view``,
the trials the user may see through ``engine.trials``, results through
``ui.results.render_result``.
"""

import streamlit as st

from engine.actions import ActionError, get_action
from engine.ml import catalogue_view
from engine.trials import detail as trial_detail
from engine.trials import figures as trial_figures
from engine.trials import query as trial_query
from ui.forms import action_form
from ui.jobs import render_job
from ui.results import format_number, render_result
from ui.run import run_action
from ui.session import require_user
from ui.text import md_escape

user = require_user()
st.title("Models")
st.caption(
    "scikit-learn, XGBoost and LightGBM models. Price targets are validated walk-forward "
    "(purged, with an embargo and a final hold-out); every training is recorded as a trial."
)

TASKS = ["any", "classification", "regression"]
TRAIN_DEFAULTS = {
    "symbols": ["SPX"],
    "start": "2010-01-01",
    "end": "2018-12-31",
    "horizon": 5,
    "model_id": "sklearn.RandomForestClassifier",
    "task": "classification",
}
ADVANCED = {
    "source",
    "dataset_id",
    "target_column",
    "feature_columns",
    "time_column",
    "validation",
    "n_splits",
    "embargo",
    "holdout_fraction",
    "model_params",
    "seed",
    "cost_bps",
}

COMPARE_DEFAULTS = {
    "symbols": ["SPX"],
    "start": "2010-01-01",
    "end": "2018-12-31",
    "horizon": 5,
    "task": "classification",
    "model_ids": [
        "sklearn.LogisticRegression",
        "sklearn.RandomForestClassifier",
        "sklearn.HistGradientBoostingClassifier",
    ],
}
TUNE_DEFAULTS = {
    "symbols": ["SPX"],
    "start": "2010-01-01",
    "end": "2018-12-31",
    "horizon": 5,
    "task": "classification",
    "model_id": "sklearn.RandomForestClassifier",
    "n_trials": 20,
}
SEARCH_ADVANCED = ADVANCED | {"allow_shuffled_dates"}


def job_form(
    action_name: str,
    *,
    defaults: dict,
    hidden: set[str],
    key: str,
    submit_label: str,
    caption: str,
    doing: str,
) -> None:
    """An ML action's form (its own schema), run as a job whose progress and result show
    below it; the role check is the action's."""
    action = get_action(action_name)
    if not action.allows(user.role):
        st.info(
            f"{doing} needs the '{action.min_role}' role; you are '{user.role}'. You "
            "can still browse the catalogue and the trials.",
            icon=":material/lock:",
        )
        return
    advanced = st.toggle("All parameters", key=f"{key}-advanced")
    st.caption(caption)
    params = action_form(
        action_name,
        defaults=defaults,
        hidden=set() if advanced else hidden,
        key=key,
        submit_label=submit_label,
    )
    if params is not None:
        outcome = run_action(action_name, params)
        if outcome is not None:
            st.session_state[f"{key}-job"] = outcome.job_id
    job_id = st.session_state.get(f"{key}-job")
    if job_id is not None:
        st.caption(f"Job {job_id}")
        render_job(job_id, key=f"{key}-job-view")


catalogue_tab, train_tab, compare_tab, tune_tab, trial_tab = st.tabs(
    ["Catalogue", "Train", "Compare", "Tune", "Trial details"]
)

with catalogue_tab:
    search_col, task_col, family_col = st.columns([2, 1, 1])
    text = search_col.text_input(
        "Search", key="models-search", placeholder="e.g. forest, boosting, svm"
    )
    task = task_col.selectbox("Task", TASKS, key="models-task")
    family = family_col.selectbox(
        "Family", ["any", *catalogue_view.families()], key="models-family"
    )
    frame = catalogue_view.catalogue_frame(
        task=None if task == "any" else task,
        family=None if family == "any" else family,
        text=text or None,
    )
    st.caption(f"{len(frame)} model(s)")
    st.dataframe(frame, hide_index=True, width="stretch", key="models-catalogue")
    if not frame.empty:
        chosen = st.selectbox("Parameter details", frame["id"].tolist(), key="models-detail-id")
        details = catalogue_view.model_details(chosen)
        st.subheader(details["name"])
        st.text(details["description"] or details["estimator"])
        flags = st.columns(4)
        for column, (label, name) in zip(
            flags,
            (
                ("needs scaling", "needs_scaling"),
                ("probabilities", "predicts_proba"),
                ("missing values", "handles_missing"),
                ("sample weights", "supports_sample_weight"),
            ),
            strict=True,
        ):
            column.metric(label, "yes" if details[name] else "no")
        st.caption(
            f"{details['library']} · {details['estimator']} · family {details['family']} · "
            f"cost {details['cost']}"
        )
        if details["defaults"]:
            st.caption("Catalogue defaults (differing from the library's)")
            st.json(details["defaults"], expanded=False)
        st.caption("Search space (tune_model)")
        if details["search_space"].empty:
            st.text("No tunable parameters.")
        else:
            st.dataframe(
                details["search_space"], hide_index=True, width="stretch", key="models-space"
            )
    else:
        st.info("No model matches; clear the search or the filters.")

with train_tab:
    job_form(
        "train_model",
        defaults=TRAIN_DEFAULTS,
        hidden=ADVANCED,
        key="models-train",
        submit_label="Train",
        doing="Training",
        caption="Price data: one symbol, features from its past; classification predicts the "
        "direction of the next `horizon` days, regression their return. For an uploaded "
        "table set dataset_id and target_column (all parameters).",
    )

with compare_tab:
    job_form(
        "compare_models",
        defaults=COMPARE_DEFAULTS,
        hidden=SEARCH_ADVANCED,
        key="models-compare",
        submit_label="Compare",
        doing="Comparing models",
        caption="Every model on identical walk-forward splits of the same data, each recorded "
        "as a trial; the chart shows each model's per-fold difference to the best.",
    )

with tune_tab:
    job_form(
        "tune_model",
        defaults=TUNE_DEFAULTS,
        hidden=SEARCH_ADVANCED | {"model_params"},
        key="models-tune",
        submit_label="Tune",
        doing="Tuning",
        caption="An Optuna study over the model's search space (see the catalogue's "
        "parameter details); every trial is recorded.",
    )

with trial_tab:
    recent = trial_query.recent_frame(user, limit=200)
    if recent.empty:
        st.info("No trials yet: train a model first.")
    else:
        labels = {
            int(row.trial_id): (
                f"#{row.trial_id} · {row.model_id} · {row.action} · {row.status}"
                + (f" · {row.metric} {format_number(row.value)}" if row.metric else "")
            )
            for row in recent.itertuples()
        }
        trial_id = st.selectbox(
            "Trial",
            list(labels),
            format_func=lambda key: labels[key],
            key="models-trial-id",
        )
        try:
            detail = trial_detail.load_detail(user, trial_id)
        except ActionError as error:
            st.error(md_escape(error))
            detail = None
        if detail is not None:
            tiles_values = trial_detail.headline(detail.trial)
            tiles = st.columns(min(len(tiles_values), 4))
            for index, (name, value) in enumerate(tiles_values.items()):
                tiles[index % len(tiles)].metric(name, format_number(value))
            if detail.trial.status != "succeeded":
                st.info(md_escape(detail.trial.error or f"The trial {detail.trial.status}."))
            splits = trial_detail.split_table(detail)
            if not splits.empty:
                st.caption("Metrics per fold and on the hold-out")
                st.dataframe(splits, hide_index=True, width="stretch", key="models-trial-folds")
            drawn = trial_figures.result_figures(detail)
            if (
                detail.trial.status == "succeeded"
                and "confusion_matrix" not in drawn
                and "residuals" not in drawn
            ):
                st.info("The out-of-sample predictions of this trial were not saved.")
            for name, figure in drawn.items():
                st.plotly_chart(figure, key=f"models-trial-{name}", width="stretch")
            importances = trial_detail.importance_frame(detail.trial)
            if not importances.empty:
                with st.expander("Feature importances (table)"):
                    st.dataframe(
                        importances,
                        hide_index=True,
                        width="stretch",
                        key="models-trial-importances",
                    )
            with st.expander("Reproducibility"):
                st.json(trial_detail.provenance(detail), expanded=False)
            if detail.trial.status == "succeeded" and get_action("predict").allows(user.role):
                if st.button("Predict the latest rows", key="models-trial-predict"):
                    outcome = run_action("predict", {"trial_id": int(trial_id)})
                    if outcome is not None and outcome.result is not None:
                        render_result(outcome.result, key="models-trial-prediction")
