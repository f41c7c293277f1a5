"""Streamlit building blocks shared by the pages: drawing only, no business logic."""
