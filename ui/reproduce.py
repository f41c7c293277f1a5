"""The reproduction downloads every page offers (Trials, Jobs, Goals, Finance, Chat): one
bundle button and one notebook button, built only when clicked (the data is a callable)."""

from __future__ import annotations

from functools import partial
from typing import Any

import streamlit as st

from engine.actions.context import UserRef
from engine.reproduce.bundle import bundle_bytes
from engine.reproduce.notebook import export_notebook


def bundle_button(user: UserRef, kind: str, subject_id: int, *, key: str, where: Any = st) -> None:
    where.download_button(
        "Reproduction bundle (zip)",
        data=partial(bundle_bytes, user, kind, subject_id),
        file_name=f"mltrainer_{kind}_{subject_id}_bundle.zip",
        mime="application/zip",
        key=key,
        icon=":material/inventory_2:",
    )


def notebook_button(
    user: UserRef, kind: str, subject_id: int, *, key: str, where: Any = st
) -> None:
    where.download_button(
        "Notebook (ipynb)",
        data=partial(export_notebook, user, kind, subject_id),
        file_name=f"mltrainer_{kind}_{subject_id}.ipynb",
        mime="application/x-ipynb+json",
        key=key,
        icon=":material/code_blocks:",
    )
