"""Hostile parameter names in the comparison exports (attack regressions, session G):
nested parameter keys become column names, so the CSV header is user text too."""

from __future__ import annotations

import csv
import io

from engine.trials import compare
from engine.trials.compare import ComparedTrial, comparison_of
from tests.trials.test_compare import synthetic

FORMULA = "=cmd|' /C calc'!A0"


def _hostile() -> list[ComparedTrial]:
    trials = synthetic(2)
    for value, trial in enumerate(trials):
        trials[value] = ComparedTrial(
            **{
                **trial.__dict__,
                "params": {
                    **trial.params,
                    "model_params": {
                        FORMULA: value,
                        "@SUM(A1)": value,
                        "\\input{/etc/passwd}": value,
                    },
                },
            }
        )
    return trials


def test_no_csv_cell_or_header_starts_a_spreadsheet_formula():
    text = compare.export_csv(comparison_of(_hostile()))
    rows = list(csv.reader(io.StringIO(text)))
    assert any(FORMULA in cell for cell in rows[0]), "the hostile column is exported"
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), cell
            assert not (cell.startswith("-") and not _number(cell)), cell


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_latex_header_escapes_hostile_parameter_names():
    latex = compare.export_latex(comparison_of(_hostile()))
    assert "\\input{" not in latex
    assert r"\textbackslash{}input\{/etc/passwd\}" in latex
