"""The Anthropic SDK client with each retry backoff capped at ``max_retry_delay`` seconds.

A module of its own so that importing :mod:`engine.llm.claude` (which the action
catalogue does in every CLI call and worker process) does not import the SDK, which
costs about a second; :func:`engine.llm.claude.build_client` imports it when Claude is
first used.
"""

from __future__ import annotations

from typing import Any

import anthropic


class TunedAnthropic(anthropic.Anthropic):
    max_retry_delay: float = 8.0

    def _calculate_retry_timeout(self, *args: Any, **kwargs: Any) -> float:
        return min(super()._calculate_retry_timeout(*args, **kwargs), self.max_retry_delay)
