"""Registers the loop action (the registry imports `engine.<package>.actions`)."""

from engine.autonomy import loop  # noqa: F401
