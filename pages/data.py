"""Data: browse sources and symbols, load and chart prices, upload files, inspect datasets.

The page only draws: loading and describing go through the action registry
(``ui.run.run_action``), uploads through ``engine.data.upload.import_upload``.
"""

from datetime import date

import pandas as pd
import streamlit as st

from engine.actions import ActionError
from engine.data import bundled
from engine.data.actions import key_status
from engine.data.loader import recorded_datasets
from engine.data.upload import DataValidationError, import_upload
from ui.results import render_result
from ui.run import run_action
from ui.session import has_role, require_user
from ui.text import md_escape

user = require_user()
st.title("Data")

FIELDS = ["close", "ohlcv", "open", "high", "low", "adj_close", "volume", "vwap", "value"]


def show_keys() -> None:
    keys = key_status()
    left, right = st.columns(2)
    for column, name, label in ((left, "polygon", "Polygon"), (right, "fred", "FRED")):
        info = keys[name]
        if info["configured"]:
            column.success(f"{label} API key is set.", icon=":material/key:")
        else:
            column.warning(
                f"{label} API key is not set: set {info['env']} in the environment or in "
                ".streamlit/secrets.toml and restart. The bundled data works without it.",
                icon=":material/key_off:",
            )


def show_result_notes(notes: list[str]) -> None:
    for note in notes:
        st.info(note, icon=":material/info:")


sources_tab, load_tab, upload_tab, datasets_tab = st.tabs(
    ["Sources", "Load & chart", "Upload", "Datasets"]
)

with sources_tab:
    show_keys()
    st.subheader("Bundled real data (works offline)")
    st.caption(
        "Daily close prices of 20 S&P 500 stocks (skfolio), the S&P 500 index with OHLCV "
        "(arch) and US quarterly macro series dated at quarter end (statsmodels)."
    )
    catalog = pd.DataFrame([entry.as_dict() for entry in bundled.catalog().values()])
    st.dataframe(catalog, hide_index=True, width="stretch", key="data-catalog")
    st.caption(
        "Other sources: upload:<dataset id> (your files), polygon (needs POLYGON_API_KEY), "
        "fred (needs FRED_API_KEY), synthetic (seeded simulated prices, always labelled)."
    )

with load_tab:
    uploads = recorded_datasets(user, source="upload", limit=200)
    source_options = ["bundled", "synthetic", "polygon", "fred"] + [
        f"upload:{row['dataset_id']}" for row in uploads
    ]
    upload_names = {f"upload:{row['dataset_id']}": row for row in uploads}
    source = st.selectbox(
        "Source",
        source_options,
        format_func=lambda value: (
            f"{value} — {upload_names[value]['name']}" if value in upload_names else value
        ),
        key="data-source",
    )
    with st.form("data-load"):
        if source == "bundled":
            symbols = st.multiselect(
                "Symbols",
                list(bundled.catalog()),
                default=["AAPL"],
                key="data-symbols-bundled",
            )
        elif source in upload_names:
            available = [str(symbol) for symbol in upload_names[source]["symbols"]]
            symbols = st.multiselect(
                "Symbols", available, default=available[:5], key="data-symbols-upload"
            )
        else:
            hint = "DGS10, CPIAUCSL" if source == "fred" else "AAPL, MSFT"
            raw = st.text_input("Symbols (comma-separated)", value="", placeholder=hint)
            symbols = [part.strip() for part in raw.split(",") if part.strip()]
        left, middle, right = st.columns(3)
        start = left.date_input("Start", value=None, min_value=date(1950, 1, 1), key="data-start")
        end = middle.date_input("End", value=None, min_value=date(1950, 1, 1), key="data-end")
        field = right.selectbox("Field", FIELDS, key="data-field")
        refresh = st.checkbox("Bypass the cache (remote sources)", key="data-refresh")
        submitted = st.form_submit_button("Load")
    if submitted:
        params = {"symbols": symbols, "source": source, "field": field, "refresh": refresh}
        if start:
            params["start"] = start.isoformat()
        if end:
            params["end"] = end.isoformat()
        outcome = run_action("load_prices", params)
        if outcome is not None and outcome.result is not None:
            st.session_state["data-last-load"] = outcome.result
    last = st.session_state.get("data-last-load")
    if last is not None:
        render_result(last, key="data-load-result", action="load_prices")

with upload_tab:
    limit = None
    if not has_role(user, "analyst"):
        st.info("Uploading files needs the analyst role.")
    else:
        from engine.config import get_settings

        limit = get_settings().upload_limit_mb
        st.caption(
            f"CSV or Parquet up to {limit} MB with a date column and numeric columns: one "
            "instrument (open/high/low/close/volume columns), one column per series, or a long "
            "table with a symbol column. Every problem is listed before anything is stored."
        )
        with st.form("data-upload", clear_on_submit=False):
            uploaded = st.file_uploader(
                "File", type=["csv", "txt", "tsv", "parquet", "pq"], key="data-file"
            )
            left, right = st.columns(2)
            name = left.text_input("Dataset name (optional)", key="data-upload-name")
            symbol = right.text_input(
                "Symbol for a single-instrument file (optional)", key="data-upload-symbol"
            )
            date_column = left.text_input(
                "Date column (optional, detected otherwise)", key="data-upload-date"
            )
            price_text = right.text_input(
                "Extra price columns to check (comma-separated, optional)",
                key="data-upload-prices",
            )
            send = st.form_submit_button("Validate and import")
        if send:
            if uploaded is None:
                st.warning("Choose a file first.")
            else:
                try:
                    result = import_upload(
                        uploaded.getvalue(),
                        uploaded.name,
                        user=user,
                        name=name or None,
                        date_column=date_column or None,
                        price_columns=[p.strip() for p in price_text.split(",") if p.strip()],
                        symbol=symbol or None,
                    )
                except DataValidationError as error:
                    count = len(error.problems)
                    st.error(
                        f"The file cannot be imported: {count} problem"
                        f"{'s' if count != 1 else ''}. Nothing was stored."
                    )
                    st.dataframe(
                        pd.DataFrame({"problem": error.problems}),
                        hide_index=True,
                        width="stretch",
                        key="data-upload-problems",
                    )
                    show_result_notes(error.notes)
                except ActionError as error:
                    st.error(md_escape(error))
                else:
                    verb = "was already imported as" if result.deduplicated else "imported as"
                    st.success(
                        md_escape(
                            f"{result.name} {verb} dataset {result.dataset_id}: {result.rows} "
                            f"rows, {result.start} to {result.end}, layout {result.layout}, "
                            f"symbols {', '.join(result.symbols[:10])}. Load it with source "
                            f"upload:{result.dataset_id}."
                        )
                    )
                    show_result_notes(result.notes)
                    st.dataframe(result.preview, width="stretch", key="data-upload-preview")

with datasets_tab:
    rows = recorded_datasets(user, limit=200)
    if not rows:
        st.info("No datasets recorded yet: load prices or upload a file.")
    else:
        table = pd.DataFrame(rows)
        table["symbols"] = table["symbols"].map(lambda items: ", ".join(map(str, items[:10])))
        table["fingerprint"] = table["fingerprint"].str[:12]
        st.dataframe(table, hide_index=True, width="stretch", key="data-datasets")
        ids = [row["dataset_id"] for row in rows]
        chosen = st.selectbox(
            "Describe dataset",
            ids,
            format_func=lambda value: next(
                f"{row['dataset_id']}: {row['name']}" for row in rows if row["dataset_id"] == value
            ),
            key="data-describe-id",
        )
        if st.button("Describe", key="data-describe"):
            outcome = run_action("describe_dataset", {"dataset_id": int(chosen)})
            if outcome is not None and outcome.result is not None:
                render_result(outcome.result, key="data-describe-result", action="describe_dataset")
