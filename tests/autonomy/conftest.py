"""Fixtures of the autonomy tests: the chat tests' Messages API fake and the settings
pointing at it (one definition, in tests/llm/conftest.py)."""

from tests.llm.conftest import fake, settings  # noqa: F401  (fixtures, used by name)
