"""A trial as one self-contained HTML file (offered for download, never rendered in-app).

Every value is passed through :func:`html.escape`; charts come from Plotly's ``to_html``
(which escapes ``<``, ``>`` and ``/`` inside its JSON). A Content-Security-Policy keeps
the file from loading anything from the network when it is opened.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from html import escape
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from engine.trials import detail as trial_detail
from engine.trials import figures as trial_figures
from engine.trials.detail import TrialDetail

CSP = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data:; font-src data:"
)
STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } pre { background: #f8f8f8; padding: .75rem; overflow-x: auto; }
.error { color: #a00; } .muted { color: #666; font-size: .85rem; }
"""
MAX_LOG_ROWS = 500


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str, sort_keys=True)
    return str(value)


def cell(value: Any) -> str:
    return escape(_text(value), quote=True)


def key_values(rows: list[tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{cell(k)}</th><td>{cell(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def frame_table(frame: pd.DataFrame, *, index: bool = False, limit: int | None = None) -> str:
    if frame is None or frame.empty:
        return '<p class="muted">none</p>'
    shown = frame if limit is None else frame.head(limit)
    head = ("<th></th>" if index else "") + "".join(f"<th>{cell(c)}</th>" for c in shown.columns)
    rows = []
    for label, row in shown.iterrows():
        cells = "".join(f"<td>{cell(None if pd.isna(v) else v)}</td>" for v in row.tolist())
        rows.append("<tr>" + (f"<th>{cell(label)}</th>" if index else "") + cells + "</tr>")
    more = ""
    if limit is not None and len(frame) > limit:
        more = f'<p class="muted">{cell(len(frame) - limit)} more rows not shown</p>'
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>{more}"


def figure_html(figures: dict[str, go.Figure], include_plotlyjs: bool | str = True) -> str:
    parts = []
    first = True
    for name, figure in figures.items():
        chart = figure.to_html(
            full_html=False,
            include_plotlyjs=include_plotlyjs if first else False,
            config={"displaylogo": False},
        )
        parts.append(f"<h3>{cell(name.replace('_', ' '))}</h3>{chart}")
        first = False
    return "".join(parts) or '<p class="muted">no charts stored with this trial</p>'


def trial_report_html(
    detail: TrialDetail,
    *,
    include_plotlyjs: bool | str = True,
    generated_by: str | None = None,
) -> str:
    """The whole report. ``include_plotlyjs=True`` embeds plotly.js once (the file works
    offline); ``"cdn"`` makes a small file that loads it when opened (then the CSP is
    relaxed for that one script host)."""
    t = detail.trial
    figures: dict[str, go.Figure] = {}
    progress = trial_figures.progress_figure(detail.points)
    if progress is not None:
        figures["progress"] = progress
    figures.update(trial_figures.result_figures(detail))
    csp = CSP
    if include_plotlyjs == "cdn":
        csp = csp.replace("script-src ", "script-src https://cdn.plot.ly ")
    summary = [
        ("trial", t.id),
        ("action", t.action),
        ("model", t.model_id),
        ("family", t.family),
        ("task", t.task),
        ("status", t.status),
        ("primary metric", t.metric_name),
        ("value", t.metric_value),
        ("owner", detail.owner),
        ("goal", detail.goal),
        ("job", t.job_id),
        ("created", t.created_at),
        ("duration (s)", t.duration_s),
        ("seed", t.seed),
        ("artifact", t.artifact_path),
    ]
    error = f'<p class="error">{cell(t.error)}</p>' if t.error else ""
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    by = f" by {cell(generated_by)}" if generated_by else ""
    return "".join(
        [
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
            f'<meta http-equiv="Content-Security-Policy" content="{escape(csp, quote=True)}">',
            f"<title>{cell(f'mlTrainer trial {t.id}')}</title>",
            f"<style>{STYLE}</style></head><body>",
            f"<h1>{cell(f'Trial {t.id}: {t.model_id or t.action}')}</h1>",
            f'<p class="muted">Generated {cell(generated)}{by} by mlTrainer.</p>',
            error,
            "<h2>Summary</h2>",
            key_values(summary),
            "<h2>Metrics (mean ± std over folds)</h2>",
            frame_table(trial_detail.metric_summary(detail)),
            "<h2>Per split</h2>",
            frame_table(trial_detail.fold_table(detail), index=True),
            "<h2>Parameters</h2>",
            frame_table(trial_detail.params_frame(t.params)),
            "<h2>Provenance</h2>",
            f"<pre>{cell(json.dumps(trial_detail.provenance(detail), indent=2, default=str))}"
            "</pre>",
            "<h2>Charts</h2>",
            figure_html(figures, include_plotlyjs),
            "<h2>Job log</h2>",
            frame_table(trial_detail.event_log(detail), limit=MAX_LOG_ROWS),
            "</body></html>",
        ]
    )
