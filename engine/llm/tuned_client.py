"""The Anthropic SDK client, bounded by the current turn's deadline
(:mod:`engine.llm.deadline`), with each retry backoff capped at ``max_retry_delay``.

A module of its own so that importing :mod:`engine.llm.claude` (which the action
catalogue does in every CLI call and worker process) does not import the SDK, which
costs about a second; :func:`engine.llm.claude.build_client` imports it when Claude is
first used.
"""

from __future__ import annotations

from typing import Any

import anthropic

from engine.llm.deadline import TurnDeadlineExceeded, remaining


class DeadlineClient(anthropic.Anthropic):
    """The SDK client, bounded by the current turn's deadline, with each retry backoff
    capped at ``max_retry_delay`` seconds."""

    max_retry_delay: float = 8.0

    def _prepare_options(self, options: Any) -> Any:
        options = super()._prepare_options(options)
        left = remaining()
        if left is None:
            return options
        if left <= 0:
            raise TurnDeadlineExceeded
        configured = (
            self.timeout if isinstance(options.timeout, anthropic.NotGiven) else (options.timeout)
        )
        if isinstance(configured, anthropic.Timeout):
            read = configured.read if configured.read is not None else left
            connect = configured.connect if configured.connect is not None else left
            options.timeout = anthropic.Timeout(min(read, left), connect=min(connect, left))
        elif configured is None or configured > left:
            options.timeout = left
        return options

    def _calculate_retry_timeout(self, *args: Any, **kwargs: Any) -> float:
        delay = min(super()._calculate_retry_timeout(*args, **kwargs), self.max_retry_delay)
        left = remaining()
        if left is not None and delay >= left:
            raise TurnDeadlineExceeded
        return delay
