"""Claude's tool-use loop for the chat.

:class:`ClaudeChat` runs one chat turn: it sends the conversation, the system prompt
and the user's tools to the Messages API with the official ``anthropic`` SDK,
streams the reply as :class:`ChatEvent` objects, runs every tool call Claude makes
through the caller's ``execute_tool`` callback, sends the results back, and repeats
until Claude answers in text or the step limit is reached.

The chat page owns ``execute_tool`` (so it can hold actions that need confirmation);
:func:`action_executor` is the ready-made one that calls ``engine.actions.call``.

Failures to reach Claude (after the SDK's retries with backoff on 429, 5xx and
timeouts) raise :class:`ClaudeUnavailable` with a message meant for the user; the
page shows it and offers the offline planner. A rejected API key raises
:class:`ClaudeAuthError` (a subclass) naming ``ANTHROPIC_API_KEY``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from engine.actions.base import json_safe
from engine.actions.context import UserRef
from engine.chat.citations import result_id
from engine.llm import deadline as turn_deadline
from engine.llm.deadline import DEFAULT_TURN_DEADLINE, TurnDeadlineExceeded
from engine.llm.prompts import system_blocks
from engine.llm.tools import CACHE_CONTROL, tool_definitions

if TYPE_CHECKING:
    # The SDK costs about a second to import; it loads when Claude is first used (every
    # CLI call and pool worker loads the catalogue, which imports this module).
    import anthropic

    from engine.actions.dispatch import CallOutcome

log = logging.getLogger("mltrainer.llm")

DEFAULT_MAX_STEPS = 8
DEFAULT_MAX_TOKENS = 8192
DEFAULT_MAX_RETRIES = 3
DEFAULT_TIMEOUT = 120.0
DEFAULT_CONNECT_TIMEOUT = 10.0
TOOL_RESULT_MAX_ROWS = 30
TOOL_RESULT_MAX_CHARS = 8000

LONG_JOB_NOTE = (
    "This action runs as a background job; the user sees its live progress and results in "
    "the chat. Tell the user it has started. Do not wait for it or guess its results."
)
CONFIRMATION_NOTE = (
    "Not run yet: this action needs the user's confirmation. The chat shows the user a "
    "Confirm button. Tell the user what it will do and that it runs once they confirm; do "
    "not say it has run."
)


# --------------------------------------------------------------------------- errors


class ClaudeUnavailable(Exception):
    """Claude could not answer. ``str(error)`` is a clear message for the user.

    ``reason`` is one of: auth, permission, rate_limited, overloaded, server_error,
    timeout, connection, bad_request, not_found, too_large, interrupted, not_configured,
    bad_response (a reply the SDK could not parse), deadline (the turn took too long).
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str = "unavailable",
        status_code: int | None = None,
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.status_code = status_code
        self.request_id = request_id


class ClaudeAuthError(ClaudeUnavailable):
    """ANTHROPIC_API_KEY is missing or was rejected (401)."""


# --------------------------------------------------------------------------- events


@dataclass
class Usage:
    """Token counts summed over every request of a turn."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def add(self, usage: Any) -> None:
        if usage is None:
            return
        self.input_tokens += int(getattr(usage, "input_tokens", 0) or 0)
        self.output_tokens += int(getattr(usage, "output_tokens", 0) or 0)
        self.cache_read_input_tokens += int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        self.cache_creation_input_tokens += int(
            getattr(usage, "cache_creation_input_tokens", 0) or 0
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
        }


@dataclass
class ToolOutcome:
    """What ``execute_tool`` returns for one tool call.

    ``content_for_claude`` is the compact JSON Claude reads (data only: no chart is ever
    sent, and series are described, not listed);
    ``call_outcome`` is the full :class:`CallOutcome` for the page to render.
    ``needs_confirmation`` marks a call held for the user's Confirm button: Claude is
    told it has not run, and it is not reported as an error.
    """

    ok: bool
    content_for_claude: dict[str, Any]
    call_outcome: CallOutcome | None = None
    needs_confirmation: bool = False
    error: str | None = None

    @property
    def is_error(self) -> bool:
        return not self.ok and not self.needs_confirmation

    @classmethod
    def from_call(
        cls,
        outcome: CallOutcome,
        *,
        max_rows: int = TOOL_RESULT_MAX_ROWS,
        max_chars: int = TOOL_RESULT_MAX_CHARS,
    ) -> ToolOutcome:
        content = compact_outcome(outcome, max_rows=max_rows, max_chars=max_chars)
        return cls(outcome.ok, content, call_outcome=outcome, error=outcome.error)

    @classmethod
    def failure(cls, message: str, *, name: str | None = None) -> ToolOutcome:
        content: dict[str, Any] = {"status": "error", "error": message}
        if name:
            content = {"action": name, **content}
        return cls(False, content, error=message)

    @classmethod
    def awaiting_confirmation(
        cls, name: str, params: dict[str, Any] | None = None, message: str | None = None
    ) -> ToolOutcome:
        content: dict[str, Any] = {
            "action": name,
            "status": "awaiting_confirmation",
            "note": CONFIRMATION_NOTE,
        }
        if message:
            content["message"] = message
        return cls(False, content, needs_confirmation=True)


EventKind = Literal["text", "thinking", "tool_call", "tool_result", "notice", "done"]


@dataclass
class ChatEvent:
    """One thing that happened during a turn, in order.

    - ``text``: a piece of Claude's reply (concatenate them; steps are pre-separated).
    - ``thinking``: a piece of Claude's summarised thinking, when the model returns it.
    - ``tool_call``: Claude asked for ``name`` with ``input`` (tool use ``id``).
    - ``tool_result``: the :class:`ToolOutcome` of that call (``outcome``).
    - ``notice``: a message from mlTrainer itself (step limit, reply cut off, refusal).
    - ``done``: the last event: ``text`` is the whole reply, ``usage``, ``latency_s``
      (whole turn), ``llm_seconds`` (time spent waiting for Claude), ``steps``
      (requests made), ``stop_reason`` (``end_turn``, ``step_limit``, ``max_tokens``, ...)
      and ``messages`` (the API messages this turn added, for a caller that keeps the
      full transcript).
    """

    kind: EventKind
    text: str = ""
    name: str | None = None
    input: dict[str, Any] | None = None
    id: str | None = None
    outcome: ToolOutcome | None = None
    usage: Usage | None = None
    latency_s: float | None = None
    llm_seconds: float | None = None
    steps: int = 0
    stop_reason: str | None = None
    messages: list[dict[str, Any]] | None = None


ExecuteTool = Callable[[str, dict[str, Any]], ToolOutcome]


# --------------------------------------------------------------------------- tool results


def _round_float(value: Any, digits: int = 6) -> Any:
    if isinstance(value, float) and math.isfinite(value) and value != 0:
        return float(f"{value:.{digits}g}")
    return value


def _compact_table(frame: Any, rows: int) -> dict[str, Any]:
    import pandas as pd

    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    head = frame.head(rows)
    body = [
        [_round_float(json_safe(cell)) for cell in record]
        for record in head.itertuples(index=False, name=None)
    ]
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": body,
        "rows_total": len(frame),
        "rows_shown": len(body),
    }


def _describe_series(series: Any) -> dict[str, Any]:
    """A series in a few numbers: what its columns are, how long it is, where it ends."""
    described: dict[str, Any] = {"x": series.x_label, "columns": list(series.y)}
    if series.title:
        described["title"] = series.title
    described["points"] = series.total_points
    if series.x:
        described["x_first"], described["x_last"] = series.x[0], series.x[-1]
        described["last"] = {name: _round_float(column[-1]) for name, column in series.y.items()}
    return described


def _dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def compact_outcome(
    outcome: CallOutcome,
    *,
    max_rows: int = TOOL_RESULT_MAX_ROWS,
    max_chars: int = TOOL_RESULT_MAX_CHARS,
) -> dict[str, Any]:
    """The tool_result payload Claude reads: status, job id, summary, values and the
    first rows of each table, within about ``max_chars`` of JSON. Series (the curves the
    user sees as charts) are described by name, columns, length, x range and last values,
    never sent point by point."""
    payload: dict[str, Any] = {
        "result_id": result_id(outcome.job_id),  # what a reply cites (engine.chat.citations)
        "action": outcome.action,
        "job_id": outcome.job_id,
        "status": outcome.status,
    }
    if outcome.status in ("queued", "running"):
        payload["note"] = LONG_JOB_NOTE
    if outcome.error:
        payload["error"] = outcome.error
    result = outcome.result
    if result is None:
        return payload
    payload["summary"] = result.summary
    if result.values:
        payload["values"] = json_safe(result.values)
    if result.artifacts:
        payload["artifacts"] = dict(result.artifacts)
    if result.series:
        payload["series_charted_for_user"] = {
            name: _describe_series(one) for name, one in result.series.items()
        }

    rows = max_rows
    while True:
        if result.tables:
            payload["tables"] = {
                name: _compact_table(frame, rows) for name, frame in result.tables.items()
            }
        if len(_dumps(payload)) <= max_chars or rows == 0:
            break
        rows = rows // 2
    if len(_dumps(payload)) > max_chars:
        payload["truncated"] = True
        budget = max(max_chars // 2, 200)
        for key in ("values", "summary"):
            if key in payload and len(_dumps(payload)) > max_chars:
                text = payload[key] if isinstance(payload[key], str) else _dumps(payload[key])
                if len(text) > budget:
                    payload[key] = text[:budget] + " …(truncated; the user sees everything)"
    return payload


def action_executor(
    user: UserRef,
    *,
    max_rows: int = TOOL_RESULT_MAX_ROWS,
    max_chars: int = TOOL_RESULT_MAX_CHARS,
    wait: float | None = None,
) -> ExecuteTool:
    """An ``execute_tool`` that runs the action through ``engine.actions.call`` for ``user``.

    Refusals (unknown action, invalid parameters, permission, policy) become an error
    result Claude can read and correct; actions that need confirmation come back as
    ``awaiting_confirmation`` and are not run. Never confirms on the user's behalf.
    """
    from engine.actions import call
    from engine.actions.base import ActionError, NeedsConfirmation

    def execute(name: str, params: dict[str, Any]) -> ToolOutcome:
        try:
            outcome = call(name, params, user, wait=wait)
        except NeedsConfirmation as error:
            return ToolOutcome.awaiting_confirmation(name, params, str(error))
        except ActionError as error:
            return ToolOutcome.failure(str(error), name=name)
        return ToolOutcome.from_call(outcome, max_rows=max_rows, max_chars=max_chars)

    return execute


# --------------------------------------------------------------------------- options


def _env_number(name: str, default: float, cast: Callable[[str], Any]) -> Any:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return cast(raw)
    except ValueError:
        log.warning("ignoring %s=%r: not a number", name, raw)
        return default


@dataclass
class ClaudeOptions:
    """Knobs of the loop and the client. :meth:`from_env` reads the MLTRAINER_CLAUDE_* ones.

    ``max_retries`` and ``timeout`` go to the SDK, which retries 408/409/429/5xx and
    timeouts with exponential backoff (honouring ``retry-after``).
    ``max_retry_delay`` caps each backoff sleep (tests set it tiny); None keeps the SDK's.
    ``thinking`` / ``effort`` are passed through when set (``{"type": "adaptive"}``,
    ``"medium"``); unset, the model's defaults apply.
    ``turn_deadline`` bounds a whole turn (every request, retry and backoff) in seconds.
    """

    model: str | None = None
    max_steps: int = DEFAULT_MAX_STEPS
    max_tokens: int = DEFAULT_MAX_TOKENS
    max_retries: int = DEFAULT_MAX_RETRIES
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    max_retry_delay: float | None = None
    stream: bool = True
    thinking: dict[str, Any] | None = None
    effort: str | None = None
    cache: bool = True
    tool_result_max_rows: int = TOOL_RESULT_MAX_ROWS
    tool_result_max_chars: int = TOOL_RESULT_MAX_CHARS
    turn_deadline: float = DEFAULT_TURN_DEADLINE

    @classmethod
    def from_env(cls) -> ClaudeOptions:
        return cls(
            max_steps=_env_number("MLTRAINER_CLAUDE_MAX_STEPS", DEFAULT_MAX_STEPS, int),
            max_tokens=_env_number("MLTRAINER_CLAUDE_MAX_TOKENS", DEFAULT_MAX_TOKENS, int),
            max_retries=_env_number("MLTRAINER_CLAUDE_MAX_RETRIES", DEFAULT_MAX_RETRIES, int),
            timeout=_env_number("MLTRAINER_CLAUDE_TIMEOUT", DEFAULT_TIMEOUT, float),
            turn_deadline=_env_number(
                "MLTRAINER_CLAUDE_TURN_DEADLINE", DEFAULT_TURN_DEADLINE, float
            ),
            effort=os.environ.get("MLTRAINER_CLAUDE_EFFORT") or None,
        )


def deprecated_models() -> dict[str, str]:
    """Model ids the installed SDK marks deprecated, with their end-of-life dates."""
    try:
        from anthropic._data import DEPRECATED_MODELS
    except ImportError:  # pragma: no cover - older or newer SDK layout
        return {}
    return dict(DEPRECATED_MODELS)


_STREAM_ERROR_REASONS = {
    "overloaded_error": "overloaded",
    "rate_limit_error": "rate_limited",
    "api_error": "server_error",
    "timeout_error": "timeout",
    "authentication_error": "auth",
    "permission_error": "permission",
    "invalid_request_error": "bad_request",
    "not_found_error": "not_found",
    "request_too_large": "too_large",
}


def build_client(settings: Any, options: ClaudeOptions) -> anthropic.Anthropic:
    """The SDK client for ``settings`` (API key, base URL) and ``options`` (retries,
    timeouts); every caller of Claude (chat, goal loop) builds it here."""
    import anthropic

    key = getattr(settings, "anthropic_api_key", None)
    if not key:
        raise ClaudeAuthError(
            "ANTHROPIC_API_KEY is not set, so Claude is off. Set it in the environment or "
            ".streamlit/secrets.toml; until then the offline planner answers.",
            reason="not_configured",
        )
    kwargs: dict[str, Any] = {
        "api_key": key,
        "max_retries": max(0, int(options.max_retries)),
        "timeout": anthropic.Timeout(options.timeout, connect=options.connect_timeout),
    }
    base_url = getattr(settings, "anthropic_base_url", None)
    if base_url:
        kwargs["base_url"] = base_url
    from engine.llm.tuned_client import DeadlineClient

    client = DeadlineClient(**kwargs)
    if options.max_retry_delay is not None:
        client.max_retry_delay = float(options.max_retry_delay)
    return client


def unavailable_error(
    error: BaseException, settings: Any, options: ClaudeOptions, model: str
) -> ClaudeUnavailable:
    """Turn an SDK error into the message the user sees."""
    import anthropic
    import httpx2

    tries = options.max_retries + 1
    if isinstance(error, TurnDeadlineExceeded):
        return ClaudeUnavailable(
            f"Claude did not finish within {options.turn_deadline:g} s, the time limit for "
            "one turn (MLTRAINER_CLAUDE_TURN_DEADLINE). Try again, or ask for less at once.",
            reason="deadline",
        )
    if isinstance(error, _MALFORMED):
        return ClaudeUnavailable(
            "Claude's reply could not be read (a malformed or unexpected response: "
            f"{type(error).__name__}). Try again in a moment.",
            reason="bad_response",
        )
    if isinstance(error, httpx2.TimeoutException):
        return ClaudeUnavailable(
            f"Claude stopped sending its reply (nothing for {options.timeout:g} s).",
            reason="timeout",
        )
    if isinstance(error, httpx2.HTTPError):
        return ClaudeUnavailable(
            f"The connection to Claude broke while it was replying ({error}).",
            reason="connection",
        )
    if isinstance(error, anthropic.APITimeoutError):
        return ClaudeUnavailable(
            f"Claude did not answer within {options.timeout:g} s "
            f"({tries} attempts). Try again in a moment.",
            reason="timeout",
        )
    if isinstance(error, anthropic.APIConnectionError):
        where = getattr(settings, "anthropic_base_url", None) or "the Anthropic API"
        return ClaudeUnavailable(
            f"Could not reach Claude at {where} ({tries} attempts): check the network "
            "connection (and ANTHROPIC_BASE_URL if it is set).",
            reason="connection",
        )
    if not isinstance(error, anthropic.APIStatusError):
        return ClaudeUnavailable(f"Claude is unavailable: {error}", reason="interrupted")
    status = error.status_code
    detail = getattr(error, "api_message", None) or ""
    request_id = getattr(error, "request_id", None)
    ref = f" (request id {request_id})" if request_id else ""

    def fail(message: str, reason: str, cls: type[ClaudeUnavailable] = ClaudeUnavailable):
        return cls(message + ref, reason=reason, status_code=status, request_id=request_id)

    if status < 400:
        # an `error` event inside a stream that had started with 200
        kind = getattr(error, "type", None) or "api_error"
        reason = _STREAM_ERROR_REASONS.get(kind, "server_error")
        return fail(f"Claude's reply stream failed: {kind} ({detail or 'no detail'}).", reason)

    if status == 401:
        return fail(
            "Claude rejected the API key (401 authentication error). Check that "
            "ANTHROPIC_API_KEY holds a valid, active key.",
            "auth",
            ClaudeAuthError,
        )
    if status == 403:
        return fail(
            "The API key is not allowed to use this model or feature (403). Check the "
            f"key's workspace permissions. {detail}".strip(),
            "permission",
        )
    if status == 404:
        return fail(
            f"Claude model '{model}' was not found (404). Set MLTRAINER_CLAUDE_MODEL "
            "to a model your key can use.",
            "not_found",
        )
    if status == 413:
        return fail(
            "The conversation is too large for one request (413). Start a new "
            "conversation or ask for smaller results.",
            "too_large",
        )
    if status == 429:
        return fail(
            f"Claude is rate-limiting this API key (429) and still was after {tries} "
            "attempts. Wait a minute and try again.",
            "rate_limited",
        )
    if status == 529 or getattr(error, "type", None) == "overloaded_error":
        return fail(
            f"Claude is overloaded right now (529, {tries} attempts). Try again shortly.",
            "overloaded",
        )
    if status >= 500:
        return fail(
            f"Claude's service returned server errors ({status}) on all {tries} "
            "attempts. Try again shortly.",
            "server_error",
        )
    return fail(
        f"Claude refused the request ({status}): {detail or 'invalid request'}.",
        "bad_request",
    )


# --------------------------------------------------------------------------- key check

CHECK_MAX_AGE = 300.0  # seconds a connected / rejected verdict is reused
CHECK_RETRY_AGE = 30.0  # seconds before an unreachable or failed check is tried again
CHECK_TIMEOUT = 5.0


@dataclass(frozen=True)
class ClaudeStatus:
    """Whether Claude answers with the configured key, from a cheap request.

    ``state``: ``connected``, ``invalid_key`` (401), ``not_allowed`` (403),
    ``model_unavailable`` (the key works but the model is not found), ``unreachable``
    (no connection or no answer in time), ``error`` (another API error) or
    ``not_configured`` (no key). ``message`` says it to the user; ``checked_at`` is the
    ``time.time()`` of the request (the verdict may come from the cache).
    """

    state: str
    message: str
    model: str
    checked_at: float

    @property
    def ok(self) -> bool:
        return self.state == "connected"


_checks: dict[tuple[str, str, str], ClaudeStatus] = {}
_checks_lock = threading.Lock()


def _key_fingerprint(key: str) -> str:
    import hashlib

    return hashlib.sha256(key.encode()).hexdigest()[:16]


def check_connection(
    settings: Any | None = None,
    *,
    max_age: float = CHECK_MAX_AGE,
    timeout: float = CHECK_TIMEOUT,
    client: anthropic.Anthropic | None = None,
    cached_only: bool = False,
) -> ClaudeStatus | None:
    """Check the API key and model with one free request (the Models API's
    ``GET /v1/models/{model}``: no tokens are spent), without retries, within ``timeout``
    seconds. The verdict is kept per key, base URL and model for ``max_age`` seconds
    (``CHECK_RETRY_AGE`` when Claude could not be reached), so a page can ask on every
    run. With ``cached_only``, no request is made: the cached verdict or None."""
    if settings is None:
        from engine.config import get_settings

        settings = get_settings()
    model = settings.claude_model
    key = getattr(settings, "anthropic_api_key", None)
    if not key:
        return ClaudeStatus(
            "not_configured",
            "No ANTHROPIC_API_KEY is set: the offline planner answers chat requests.",
            model,
            time.time(),
        )
    cache_key = (_key_fingerprint(key), getattr(settings, "anthropic_base_url", None) or "", model)
    now = time.time()
    with _checks_lock:
        known = _checks.get(cache_key)
    if known is not None:
        age = now - known.checked_at
        if age < (max_age if known.state not in ("unreachable", "error") else CHECK_RETRY_AGE):
            return known
    if cached_only:
        return known
    import anthropic

    options = ClaudeOptions(max_retries=0, timeout=timeout, connect_timeout=min(timeout, 3.0))
    try:
        client = client or build_client(settings, options)
        client.models.retrieve(model, timeout=timeout)
        state, message = "connected", f"Claude is connected (model {model}); the key was accepted."
    except anthropic.AuthenticationError:
        state = "invalid_key"
        message = (
            "Claude rejected the API key (401): check ANTHROPIC_API_KEY. Chat requests fail "
            "until it is fixed; each failed request offers the offline planner."
        )
    except anthropic.PermissionDeniedError:
        state = "not_allowed"
        message = f"The API key may not use model {model} (403): check the key's permissions."
    except anthropic.NotFoundError:
        state = "model_unavailable"
        message = (
            f"The API key works, but model {model} was not found: set MLTRAINER_CLAUDE_MODEL "
            "to a model the key can use."
        )
    except (anthropic.APIConnectionError, anthropic.APITimeoutError):
        where = getattr(settings, "anthropic_base_url", None) or "the Anthropic API"
        state = "unreachable"
        message = f"Claude could not be reached at {where} within {timeout:g} s."
    except anthropic.APIError as error:
        state = "error"
        status = getattr(error, "status_code", None)
        message = f"Claude answered the key check with an error ({status or type(error).__name__})."
    verdict = ClaudeStatus(state, message, model, now)
    with _checks_lock:
        _checks[cache_key] = verdict
    return verdict


def forget_connection_checks() -> None:
    """Drop the cached verdicts (tests; an operator who just changed the key)."""
    with _checks_lock:
        _checks.clear()


# What the SDK raises on a reply it cannot parse: invalid JSON in an SSE event
# (ValueError), events out of order (RuntimeError), an unknown delta (AssertionError from
# assert_never), a stream without its final message (AssertionError), or a body of the
# wrong shape (TypeError, AttributeError, KeyError, IndexError from the accumulator).
_MALFORMED = (ValueError, RuntimeError, AssertionError, TypeError, AttributeError, LookupError)


def _request_failures() -> tuple[type[BaseException], ...]:
    """What one request may raise; built on first use so the SDK is imported lazily."""
    import anthropic
    import httpx2

    return (anthropic.APIError, httpx2.HTTPError, TurnDeadlineExceeded, *_MALFORMED)


_RETRYABLE = ("rate_limited", "overloaded", "server_error", "timeout", "connection", "bad_response")


class _ShapeError(ValueError):
    """A parsed reply that is not a Messages API message."""


def _check_shape(message: Any) -> None:
    """The parts of the message the loop reads, checked once so nothing below raises."""
    content = getattr(message, "content", None)
    if not isinstance(content, list):
        raise _ShapeError("content is not a list")
    for block in content:
        kind = getattr(block, "type", None)
        if not isinstance(kind, str):
            raise _ShapeError("a content block has no type")
        if kind == "text" and not isinstance(getattr(block, "text", None), str):
            raise _ShapeError("a text block has no text")
        if kind == "tool_use" and not (
            isinstance(getattr(block, "id", None), str)
            and isinstance(getattr(block, "name", None), str)
        ):
            raise _ShapeError("a tool_use block has no id or name")
    usage = getattr(message, "usage", None)
    if usage is not None and not hasattr(usage, "input_tokens"):
        raise _ShapeError("usage has the wrong shape")


# --------------------------------------------------------------------------- messages


def _as_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    return [dict(block) for block in content or []]


def normalise_history(history: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """User/assistant messages the API accepts: other roles and empty messages dropped,
    consecutive messages of one role merged, starting with a user message."""
    messages: list[dict[str, Any]] = []
    for message in history:
        role = message.get("role")
        if role not in ("user", "assistant"):
            continue
        content = message.get("content")
        if isinstance(content, str):
            if not content.strip():
                continue
        elif not content:
            continue
        if messages and messages[-1]["role"] == role:
            previous = messages[-1]["content"]
            if isinstance(previous, str) and isinstance(content, str):
                messages[-1] = {"role": role, "content": previous + "\n\n" + content}
            else:
                merged = _as_blocks(previous) + _as_blocks(content)
                messages[-1] = {"role": role, "content": merged}
        else:
            messages.append({"role": role, "content": content})
    while messages and messages[0]["role"] != "user":
        messages.pop(0)
    return messages


def _without_cache_control(message: dict[str, Any]) -> dict[str, Any]:
    content = message["content"]
    if isinstance(content, str) or not any("cache_control" in b for b in content):
        return message
    blocks = [{k: v for k, v in b.items() if k != "cache_control"} for b in content]
    return {"role": message["role"], "content": blocks}


def _with_rolling_breakpoint(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A copy whose last message's last block carries the one conversation cache
    breakpoint (any others are removed: the API allows four in all, and the tools and
    the system prompt hold two), so the next request reads the conversation so far
    from the cache."""
    if not messages:
        return messages
    earlier = [_without_cache_control(message) for message in messages[:-1]]
    last = messages[-1]
    blocks = _as_blocks(last["content"])
    if not blocks or blocks[-1].get("type") not in ("text", "tool_result", "image", "document"):
        return [*earlier, _without_cache_control(last)]
    blocks[-1] = {**blocks[-1], "cache_control": dict(CACHE_CONTROL)}
    return [*earlier, {"role": last["role"], "content": blocks}]


def _block_param(block: Any) -> dict[str, Any]:
    """An assistant content block as the API expects it back (thinking blocks verbatim)."""
    kind = block.type
    if kind == "text":
        param: dict[str, Any] = {"type": "text", "text": block.text}
        if getattr(block, "citations", None):
            param["citations"] = [c.to_dict() for c in block.citations]
        return param
    if kind == "tool_use":
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if kind == "thinking":
        return {"type": "thinking", "thinking": block.thinking, "signature": block.signature}
    if kind == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.data}
    return block.to_dict(exclude_none=True)


# --------------------------------------------------------------------------- the loop


def _metrics():
    try:
        from engine.observability import metrics
    except Exception:  # noqa: BLE001 - metrics must never break the chat
        return None
    return metrics


class ClaudeChat:
    """Claude with mlTrainer's tools. One instance can serve many turns and users.

    ``client`` is an ``anthropic.Anthropic`` to use instead of building one from
    ``settings`` (API key, base URL) and ``options`` (retries, timeout).
    """

    def __init__(
        self,
        settings: Any | None = None,
        client: anthropic.Anthropic | None = None,
        *,
        options: ClaudeOptions | None = None,
    ):
        if settings is None:
            from engine.config import get_settings

            settings = get_settings()
        self.settings = settings
        self.options = options or ClaudeOptions.from_env()
        self.model = self.options.model or settings.claude_model
        if self.model in deprecated_models():
            log.warning(
                "Claude model %s is deprecated (end of life %s); set MLTRAINER_CLAUDE_MODEL "
                "to a current model",
                self.model,
                deprecated_models()[self.model],
            )
        self.client = client or self._build_client()

    # ----------------------------------------------------------------- client

    def _build_client(self) -> anthropic.Anthropic:
        return build_client(self.settings, self.options)

    def list_models(self) -> list[str]:
        """Model ids the API key can use (newest first), from the Models API."""
        import anthropic

        try:
            return [model.id for model in self.client.models.list()]
        except anthropic.APIError as error:
            raise self._unavailable(error) from error

    # ----------------------------------------------------------------- requests

    def tools_for(self, user: UserRef) -> list[dict[str, Any]]:
        return tool_definitions(user, cache=self.options.cache)

    def _request_kwargs(
        self, messages: list[dict[str, Any]], system: list[dict[str, Any]], tools: list
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.options.max_tokens,
            "system": system,
            "messages": _with_rolling_breakpoint(messages) if self.options.cache else messages,
        }
        if tools:
            kwargs["tools"] = tools
        if self.options.thinking:
            kwargs["thinking"] = self.options.thinking
        if self.options.effort:
            kwargs["output_config"] = {"effort": self.options.effort}
        return kwargs

    def _unavailable(self, error: BaseException) -> ClaudeUnavailable:
        return unavailable_error(error, self.settings, self.options, self.model)

    def _retry_sleep(self, attempt: int, left: float | None = None) -> None:
        delay = min(0.5 * 2**attempt, 8.0) * (1 - 0.25 * random.random())  # noqa: S311
        if self.options.max_retry_delay is not None:
            delay = min(delay, self.options.max_retry_delay)
        if left is not None:
            delay = min(delay, max(left, 0.0))
        time.sleep(delay)

    def _one_request(
        self, kwargs: dict[str, Any], state: dict[str, Any]
    ) -> Generator[ChatEvent, None, anthropic.types.Message]:
        """One Messages API request; yields text/thinking events, returns the Message.

        The SDK retries failed requests itself. A stream that fails after it started
        (an ``error`` event such as overloaded_error) is retried here, but only while
        nothing of it has been shown to the user.
        """

        metrics = _metrics()
        attempt = 0
        deadline = state.get("deadline")
        while True:
            started = time.perf_counter()
            connected = False
            shown = False
            try:
                turn_deadline.check(deadline)
                if self.options.stream:
                    with (
                        turn_deadline.active(deadline),
                        self.client.messages.stream(**kwargs) as stream,
                    ):
                        connected = True
                        with turn_deadline.watchdog(deadline, stream.close):
                            for event in stream:
                                turn_deadline.check(deadline)
                                if event.type == "text" and event.text:
                                    shown = True
                                    yield ChatEvent("text", text=self._separate(state, event.text))
                                elif event.type == "thinking" and event.thinking:
                                    yield ChatEvent("thinking", text=event.thinking)
                            message = stream.get_final_message()
                    _check_shape(message)
                else:
                    with turn_deadline.active(deadline):
                        message = self.client.messages.create(**kwargs)
                    connected = True
                    _check_shape(message)
                    for block in message.content:
                        if block.type == "text" and block.text:
                            yield ChatEvent("text", text=self._separate(state, block.text))
                        elif block.type == "thinking" and block.thinking:
                            yield ChatEvent("thinking", text=block.thinking)
            except _request_failures() as failure:
                # the watchdog closing a stalled stream surfaces as a read error
                error = TurnDeadlineExceeded() if turn_deadline.expired(deadline) else failure
                if isinstance(error, _MALFORMED):
                    connected = True  # an answer arrived; it could not be read
                    log.warning("Claude sent a reply that could not be read", exc_info=True)
                elapsed = time.perf_counter() - started
                state["llm_seconds"] += elapsed
                unavailable = self._unavailable(error)
                left = turn_deadline.remaining(deadline)
                retry = (
                    connected
                    and not shown
                    and attempt < self.options.max_retries
                    and unavailable.reason in _RETRYABLE
                    and (left is None or left > 0)
                )
                if metrics:
                    metrics.LLM_REQUESTS.labels(unavailable.reason).inc()
                    metrics.LLM_SECONDS.observe(elapsed)
                if retry:
                    log.info("Claude stream failed (%s); retrying", unavailable.reason)
                    self._retry_sleep(attempt, left)
                    attempt += 1
                    continue
                if connected and shown:
                    unavailable = ClaudeUnavailable(
                        "Claude's reply was interrupted: " + unavailable.message,
                        reason=unavailable.reason,
                        status_code=unavailable.status_code,
                        request_id=unavailable.request_id,
                    )
                log.warning("Claude request failed: %s", unavailable.reason)
                raise unavailable from error
            elapsed = time.perf_counter() - started
            state["llm_seconds"] += elapsed
            if metrics:
                metrics.LLM_REQUESTS.labels("ok").inc()
                metrics.LLM_SECONDS.observe(elapsed)
                usage = message.usage
                for direction, value in (
                    ("input", getattr(usage, "input_tokens", 0)),
                    ("output", getattr(usage, "output_tokens", 0)),
                    ("cache_read", getattr(usage, "cache_read_input_tokens", 0)),
                    ("cache_creation", getattr(usage, "cache_creation_input_tokens", 0)),
                ):
                    if value:
                        metrics.LLM_TOKENS.labels(direction).inc(value)
            return message

    @staticmethod
    def _separate(state: dict[str, Any], text: str) -> str:
        """Keep the text of successive steps apart with a blank line."""
        if state["new_step"] and state["text"] and not state["text"].endswith("\n\n"):
            text = ("\n\n" if not state["text"].endswith("\n") else "\n") + text
        state["new_step"] = False
        state["text"] += text
        return text

    # ----------------------------------------------------------------- tools

    def _run_tool(
        self, block: Any, offered: set[str], execute_tool: ExecuteTool
    ) -> tuple[ToolOutcome, dict[str, Any]]:
        name, params = block.name, block.input
        if name not in offered:
            known = ", ".join(sorted(offered)) or "none"
            outcome = ToolOutcome.failure(
                f"Unknown tool '{name}'. The tools available are: {known}.", name=name
            )
        elif not isinstance(params, dict):
            outcome = ToolOutcome.failure("Tool input must be a JSON object.", name=name)
        else:
            try:
                outcome = execute_tool(name, params)
            except Exception as error:  # noqa: BLE001 - report to Claude, keep the chat alive
                log.exception("tool %s raised", name)
                outcome = ToolOutcome.failure(f"{type(error).__name__}: {error}", name=name)
            if not isinstance(outcome, ToolOutcome):
                outcome = ToolOutcome.failure("The tool returned no result.", name=name)
        text = _dumps(outcome.content_for_claude)
        limit = 2 * self.options.tool_result_max_chars
        if len(text) > limit:  # a custom execute_tool sent too much; keep the request sane
            text = text[:limit] + " …(truncated; the user sees the full result)"
        result_block: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": block.id,
            "content": text,
        }
        if outcome.is_error:
            result_block["is_error"] = True
        return outcome, result_block

    # ----------------------------------------------------------------- the turn

    def run_turn(
        self,
        history: Sequence[dict[str, Any]],
        user_message: str,
        user: UserRef,
        execute_tool: ExecuteTool,
        *,
        tools: list[dict[str, Any]] | None = None,
        system_extra: str | None = None,
        spend: Callable[[Any], str | None] | None = None,
    ) -> Iterator[ChatEvent]:
        """Run one chat turn and yield its events; the last one has kind ``done``.

        ``history``: earlier messages (``{"role": "user"|"assistant", "content": ...}``),
        for example ``engine.memory`` 's context window. ``tools`` overrides the tool
        list (default: every action ``user``'s role allows). ``system_extra`` is
        appended to the per-session part of the system prompt. ``spend`` is called with
        each reply's ``usage`` (the caller records it) and returns why the token budget
        is spent, or None: the turn then stops before its next request, its pending tool
        calls answered as not run, with stop reason ``budget_exhausted``.
        Raises :class:`ClaudeUnavailable` when Claude cannot be reached.
        """
        if not user_message or not user_message.strip():
            raise ValueError("user_message is empty")
        turn_started = time.perf_counter()
        tools = self.tools_for(user) if tools is None else tools
        offered = {tool["name"] for tool in tools if "name" in tool}
        system = system_blocks(user, self.settings, cache=self.options.cache, extra=system_extra)
        messages = normalise_history(history)
        messages = normalise_history([*messages, {"role": "user", "content": user_message}])
        first_new = len(messages) - 1
        usage = Usage()
        state: dict[str, Any] = {
            "text": "",
            "new_step": False,
            "llm_seconds": 0.0,
            "deadline": time.monotonic() + self.options.turn_deadline
            if self.options.turn_deadline > 0
            else None,
        }
        stop_reason: str | None = None
        steps = 0
        max_steps = max(1, int(self.options.max_steps))

        while True:
            steps += 1
            state["new_step"] = True
            kwargs = self._request_kwargs(messages, system, tools)
            message = yield from self._one_request(kwargs, state)
            usage.add(message.usage)
            stop_reason = message.stop_reason
            content = [_block_param(block) for block in message.content]
            if content:
                messages.append({"role": "assistant", "content": content})
            tool_uses = [block for block in message.content if block.type == "tool_use"]
            spent = spend(message.usage) if spend is not None else None
            if spent is not None and (
                stop_reason == "pause_turn" or (stop_reason == "tool_use" and tool_uses)
            ):
                if tool_uses:  # every tool_use keeps a result: the transcript stays valid
                    messages.append(
                        {
                            "role": "user",
                            "content": [
                                {
                                    "type": "tool_result",
                                    "tool_use_id": block.id,
                                    "content": "Not run: the token budget is spent.",
                                    "is_error": True,
                                }
                                for block in tool_uses
                            ],
                        }
                    )
                stop_reason = "budget_exhausted"
                yield ChatEvent(
                    "notice",
                    text=f"Stopped: {spent}. The results so far are above.",
                    stop_reason="budget_exhausted",
                )
                break

            if stop_reason == "pause_turn":
                if steps >= max_steps:
                    stop_reason = "step_limit"
                    yield self._step_limit_notice(max_steps)
                    break
                continue
            if stop_reason != "tool_use" or not tool_uses:
                notice = self._stop_notice(stop_reason)
                if notice:
                    yield ChatEvent("notice", text=notice, stop_reason=stop_reason)
                break
            if steps >= max_steps:
                # The calls Claude asked for last are not run; the transcript still pairs
                # every tool_use with a result so it stays valid for a later turn.
                messages.append(
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": block.id,
                                "content": "Not run: the step limit of this turn was reached.",
                                "is_error": True,
                            }
                            for block in tool_uses
                        ],
                    }
                )
                stop_reason = "step_limit"
                yield self._step_limit_notice(max_steps)
                break

            results = []
            for block in tool_uses:
                params = block.input if isinstance(block.input, dict) else {}
                yield ChatEvent("tool_call", name=block.name, input=params, id=block.id)
                outcome, result_block = self._run_tool(block, offered, execute_tool)
                results.append(result_block)
                yield ChatEvent(
                    "tool_result", name=block.name, input=params, id=block.id, outcome=outcome
                )
            messages.append({"role": "user", "content": results})

        yield ChatEvent(
            "done",
            text=state["text"],
            usage=usage,
            latency_s=time.perf_counter() - turn_started,
            llm_seconds=state["llm_seconds"],
            steps=steps,
            stop_reason=stop_reason,
            messages=messages[first_new:],
        )

    @staticmethod
    def _step_limit_notice(max_steps: int) -> ChatEvent:
        return ChatEvent(
            "notice",
            text=(
                f"Stopped after {max_steps} tool steps in one turn. The results so far are "
                "above; ask me to continue if more is needed."
            ),
            stop_reason="step_limit",
        )

    @staticmethod
    def _stop_notice(stop_reason: str | None) -> str | None:
        if stop_reason == "max_tokens":
            return "The reply was cut off at the maximum length; ask me to continue."
        if stop_reason == "refusal":
            return "Claude declined to answer this request."
        if stop_reason == "model_context_window_exceeded":
            return "The conversation is too long for Claude's context; start a new one."
        return None


__all__ = [
    "ChatEvent",
    "ClaudeAuthError",
    "ClaudeChat",
    "ClaudeOptions",
    "ClaudeStatus",
    "ClaudeUnavailable",
    "ExecuteTool",
    "ToolOutcome",
    "Usage",
    "action_executor",
    "build_client",
    "check_connection",
    "compact_outcome",
    "normalise_history",
    "unavailable_error",
]
