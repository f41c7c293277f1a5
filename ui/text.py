"""Show text from users and models without letting it become HTML or load resources."""

from __future__ import annotations

import re

import streamlit as st

_IMAGE = re.compile(r"!\[")


def model_markdown(text: str) -> None:
    """Claude's markdown, with images disabled: a reply influenced by data or a tool
    result must not be able to make the browser fetch a URL (an exfiltration trick)."""
    st.markdown(_IMAGE.sub(r"!\\[", text))


def user_text(text: str) -> None:
    st.text(text)
