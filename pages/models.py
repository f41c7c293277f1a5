"""Models: browse the catalogue, train a model, and inspect a trial in detail.

The page only draws: training goes through the action registry (``ui.run.run_action``
with the action's own form), the catalogue and trials are read through
``engine.ml.trials_view``, results through ``ui.results.render_result``.
"""

import streamlit as st

from engine.actions import get_action
from engine.ml import trials_view
from ui.forms import action_form
from ui.jobs import render_job
from ui.results import format_number, render_result
from ui.run import run_action
from ui.session import require_user

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
    "metric",
}

catalogue_tab, train_tab, trial_tab = st.tabs(["Catalogue", "Train", "Trial details"])

with catalogue_tab:
    search_col, task_col, family_col = st.columns([2, 1, 1])
    text = search_col.text_input(
        "Search", key="models-search", placeholder="e.g. forest, boosting, svm"
    )
    task = task_col.selectbox("Task", TASKS, key="models-task")
    family = family_col.selectbox("Family", ["any", *trials_view.families()], key="models-family")
    frame = trials_view.catalogue_frame(
        task=None if task == "any" else task,
        family=None if family == "any" else family,
        text=text or None,
    )
    st.caption(f"{len(frame)} model(s)")
    st.dataframe(frame, hide_index=True, width="stretch", key="models-catalogue")
    if not frame.empty:
        chosen = st.selectbox("Parameter details", frame["id"].tolist(), key="models-detail-id")
        details = trials_view.model_details(chosen)
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
    action = get_action("train_model")
    if not action.allows(user.role):
        st.info(
            f"Training needs the '{action.min_role}' role; you are '{user.role}'. You can "
            "still browse the catalogue and the trials.",
            icon=":material/lock:",
        )
    else:
        advanced = st.toggle("All parameters", key="models-train-advanced")
        st.caption(
            "Price data: one symbol, features from its past; classification predicts the "
            "direction of the next `horizon` days, regression their return. For an uploaded "
            "table set dataset_id and target_column (all parameters)."
        )
        params = action_form(
            "train_model",
            defaults=TRAIN_DEFAULTS,
            hidden=set() if advanced else ADVANCED,
            key="models-train",
            submit_label="Train",
        )
        if params is not None:
            outcome = run_action("train_model", params)
            if outcome is not None:
                st.session_state["models-train-job"] = outcome.job_id
        job_id = st.session_state.get("models-train-job")
        if job_id is not None:
            st.caption(f"Job {job_id}")
            render_job(job_id, key="models-train-job-view")

with trial_tab:
    recent = trials_view.recent_trials(limit=200)
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
        detail = trials_view.trial_detail(trial_id)
        if detail is None:
            st.error(f"Trial {trial_id} no longer exists.")
        else:
            tiles = st.columns(min(len(detail.headline), 4))
            for index, (name, value) in enumerate(detail.headline.items()):
                tiles[index % len(tiles)].metric(name, format_number(value))
            for note in detail.notes:
                st.info(note)
            if not detail.folds.empty:
                st.caption("Metrics per fold and on the hold-out")
                st.dataframe(
                    detail.folds, hide_index=True, width="stretch", key="models-trial-folds"
                )
            for name, figure in detail.figures.items():
                st.plotly_chart(figure, key=f"models-trial-{name}", width="stretch")
            if not detail.importances.empty:
                with st.expander("Feature importances (table)"):
                    st.dataframe(
                        detail.importances,
                        hide_index=True,
                        width="stretch",
                        key="models-trial-importances",
                    )
            with st.expander("Reproducibility"):
                st.json(
                    {
                        "params": detail.trial.params,
                        "seed": detail.trial.seed,
                        "dataset_id": detail.trial.dataset_id,
                        "reproducibility": detail.trial.reproducibility,
                    },
                    expanded=False,
                )
            if detail.trial.status == "succeeded" and get_action("predict").allows(user.role):
                if st.button("Predict the latest rows", key="models-trial-predict"):
                    outcome = run_action("predict", {"trial_id": int(trial_id)})
                    if outcome is not None and outcome.result is not None:
                        render_result(outcome.result, key="models-trial-prediction")
