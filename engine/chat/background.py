"""Chat turns that finish even when the page stops listening.

A Streamlit script run can be stopped at any drawing call (another rerun arrives: a
widget, a cookie component reporting back, the user clicking elsewhere). If the turn
ran inside the run, stopping it would leave the user's stored message without a reply
and the action it asked for never started. So the turn runs in its own thread, which
stores every message as it goes; the page only streams the thread's events, and a
later run draws what the thread stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator

from engine.actions import ActionError
from engine.actions.context import UserRef
from engine.chat import turn
from engine.chat.turn import TurnEvent

log = logging.getLogger("mltrainer.chat")

_DONE = object()
_running: dict[int, BackgroundTurn] = {}
_running_lock = threading.Lock()


class BackgroundTurn:
    """One turn (the events ``source()`` yields: ``turn.send`` or ``turn.answer_offline``)
    running in a daemon thread."""

    def __init__(self, conversation_id: int, source: Callable[[], Iterator[TurnEvent]]):
        self.conversation_id = conversation_id
        self.started = time.monotonic()
        self._events: queue.SimpleQueue = queue.SimpleQueue()
        self._finished = threading.Event()
        self._thread = threading.Thread(
            target=self._run,
            args=(conversation_id, source),
            name=f"chat-turn-{conversation_id}",
            daemon=True,
        )

    def _run(self, conversation_id: int, source: Callable[[], Iterator[TurnEvent]]) -> None:
        try:
            for event in source():
                self._events.put(event)
        except Exception as error:  # noqa: BLE001 - handed to the page, which shows it
            if not isinstance(error, ActionError):
                log.exception("chat turn failed in conversation %s", conversation_id)
            self._events.put(error)
        finally:
            with _running_lock:
                if _running.get(conversation_id) is self:
                    del _running[conversation_id]
            self._finished.set()
            self._events.put(_DONE)

    def start(self) -> BackgroundTurn:
        with _running_lock:
            _running[self.conversation_id] = self
        self._thread.start()
        return self

    @property
    def elapsed(self) -> float:
        """Seconds since the turn started."""
        return time.monotonic() - self.started

    def events(self, tick: float | None = None) -> Iterator[TurnEvent]:
        """The turn's events as they happen; re-raises what the turn raised. Closing
        this generator early does not stop the turn. With ``tick``, a ``waiting`` event
        comes whenever nothing happened for ``tick`` seconds (the page shows the time
        elapsed while Claude or an action is still working)."""
        while True:
            try:
                item = self._events.get(timeout=tick)
            except queue.Empty:
                yield TurnEvent("waiting")
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)


def start_turn(
    user: UserRef, conversation_id: int, text: str, *, mode: str = "auto"
) -> BackgroundTurn:
    """Start the turn for ``text`` in ``conversation_id``; it runs to its end whether or
    not anyone reads its events."""
    return BackgroundTurn(
        conversation_id, lambda: turn.send(user, conversation_id, text, mode=mode)
    ).start()


def start_offline_answer(user: UserRef, conversation_id: int) -> BackgroundTurn:
    """Answer the conversation's last request again, with the offline planner (offered
    when Claude could not answer it). Refused while another turn of it is running."""
    if in_progress(conversation_id):
        raise ActionError("This conversation is still answering a request; wait for it.")
    return BackgroundTurn(
        conversation_id, lambda: turn.answer_offline(user, conversation_id)
    ).start()


def in_progress(conversation_id: int) -> bool:
    """Whether a turn of this conversation is still running in this process."""
    with _running_lock:
        return conversation_id in _running


def elapsed(conversation_id: int) -> float | None:
    """Seconds the conversation's running turn has taken so far (None: none running)."""
    with _running_lock:
        running = _running.get(conversation_id)
    return None if running is None else running.elapsed
