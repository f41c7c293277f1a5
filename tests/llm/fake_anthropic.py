"""A local HTTP server that speaks enough of the Anthropic Messages API for the real SDK.

Tests script it with a queue of replies and read back the requests it received::

    with FakeAnthropic() as fake:
        fake.enqueue(text_reply("Hello"), tool_reply(("test_add", {"a": 1, "b": 2})))
        ...  # point the SDK at fake.url
        fake.requests[0].body["tools"]

One scripted reply is rendered as a JSON message object when the request has no
``stream`` flag and as the SSE event sequence of the real API when it has
(``message_start``, ``content_block_start``, ``ping``, ``content_block_delta`` with
``text_delta`` / ``input_json_delta`` / ``thinking_delta`` / ``signature_delta``,
``content_block_stop``, ``message_delta`` with the stop reason and usage,
``message_stop``). With ``valid_keys`` set, a request whose key (``x-api-key`` or a
bearer token) is not one of them is answered 401 ``authentication_error`` on every
route, like the real API. The Models API answers ``GET /v1/models`` and
``GET /v1/models/{id}`` (404 for other ids). Error replies use the API's error body and
status codes (429 with ``retry-after``, 500, 529 overloaded, 401), or an ``error`` event in the
middle of a stream. The server also checks the request like the API would (required
fields, tool names and schemas, tool_use/tool_result pairing, at most four cache
breakpoints) and answers 400 ``invalid_request_error`` when it is malformed.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL_IDS = ["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-4-5"]
TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class Reply:
    """One scripted response.

    ``content``: content blocks of the message (text, tool_use, thinking).
    ``status`` other than 200 sends ``error`` as the API's error body.
    ``text_chunks``: how many pieces each text block is streamed in.
    ``gate``: a threading.Event the server waits on after the first text delta (tests
    use it to prove that deltas reach the caller before the stream ends).
    ``stall``: seconds to sleep before answering (to provoke client timeouts).
    ``stream_error``: an error type sent as an SSE ``error`` event after
    ``stream_error_after`` content blocks, instead of the rest of the message.
    ``finished`` is set once the whole response has been written.
    ``pause_after_start``: seconds to sleep after ``message_start`` (a stalled stream).
    ``raw_events``: (event name, raw data text) pairs sent as the SSE stream instead of
    the rendered message: malformed JSON, events out of order, wrong shapes.
    ``raw_body``: the JSON body sent for a non-streaming request instead of the message.
    ``hang``: the server waits for this event before answering (a hung endpoint); with
    ``ping_every``, it first sends ``message_start`` and then a ``ping`` every so many
    seconds until released (a stream that trickles but never finishes). Tests set it when
    they are done so the server thread ends.
    """

    content: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str | None = "end_turn"
    usage: dict[str, int] = field(
        default_factory=lambda: {
            "input_tokens": 120,
            "output_tokens": 30,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
    )
    status: int = 200
    error: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    text_chunks: int = 3
    gate: threading.Event | None = None
    stall: float = 0.0
    stream_error: str | None = None
    stream_error_after: int = 0
    finished: threading.Event = field(default_factory=threading.Event)
    pause_after_start: float = 0.0
    raw_events: list[tuple[str, str]] | None = None
    raw_body: Any = None
    hang: threading.Event | None = None
    ping_every: float | None = None


def text_reply(text: str, *, chunks: int = 3, **kwargs: Any) -> Reply:
    return Reply(content=[{"type": "text", "text": text}], text_chunks=chunks, **kwargs)


def tool_reply(
    *calls: tuple[str, dict[str, Any]] | tuple[str, str, dict[str, Any]],
    text: str | None = None,
    thinking: str | None = None,
    **kwargs: Any,
) -> Reply:
    """Claude asking for tools: ``(name, input)`` or ``(tool_use_id, name, input)``."""
    content: list[dict[str, Any]] = []
    if thinking is not None:
        content.append({"type": "thinking", "thinking": thinking, "signature": "sig-" + thinking})
    if text:
        content.append({"type": "text", "text": text})
    for call in calls:
        if len(call) == 3:
            tool_id, name, tool_input = call
        else:
            name, tool_input = call
            tool_id = "toolu_" + uuid.uuid4().hex[:24]
        content.append({"type": "tool_use", "id": tool_id, "name": name, "input": tool_input})
    kwargs.setdefault("stop_reason", "tool_use")
    return Reply(content=content, **kwargs)


def error_reply(
    status: int, error_type: str, message: str, headers: dict[str, str] | None = None
) -> Reply:
    return Reply(
        status=status,
        error={"type": error_type, "message": message},
        headers=dict(headers or {}),
    )


def rate_limited(retry_after: str = "1") -> Reply:
    return error_reply(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your per-minute rate limit",
        {"retry-after": retry_after},
    )


def server_error() -> Reply:
    return error_reply(500, "api_error", "Internal server error")


def overloaded() -> Reply:
    return error_reply(529, "overloaded_error", "Overloaded")


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeAnthropic:
    """The server; a context manager. ``url`` is what ANTHROPIC_BASE_URL should be."""

    def __init__(self, valid_keys: set[str] | None = None) -> None:
        self.valid_keys = valid_keys
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def enqueue(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def next_reply(self) -> Reply | None:
        with self._lock:
            return self._replies.popleft() if self._replies else None

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.startswith("/v1/messages")]

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeAnthropic:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- validation


def _cache_breakpoints(node: Any) -> int:
    if isinstance(node, dict):
        own = 1 if "cache_control" in node else 0
        return own + sum(_cache_breakpoints(v) for k, v in node.items() if k != "cache_control")
    if isinstance(node, list):
        return sum(_cache_breakpoints(v) for v in node)
    return 0


def validate_messages_request(body: Any) -> str | None:
    """The complaint the API would make about this request body, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return f"{name}: Field required"
    messages = body["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    if messages[0].get("role") != "user":
        return "messages: first message must use the user role"
    if messages[-1].get("role") != "user":
        return "messages: the final message must use the user role (prefill is not supported)"
    names = []
    for tool in body.get("tools", []) or []:
        if not TOOL_NAME.match(str(tool.get("name", ""))):
            return f"tools: invalid tool name {tool.get('name')!r}"
        schema = tool.get("input_schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            return f"tools.{tool.get('name')}.input_schema: type must be 'object'"
        if "$defs" in json.dumps(schema) or "$ref" in json.dumps(schema):
            return f"tools.{tool.get('name')}.input_schema: unresolved reference"
        names.append(tool["name"])
    if len(names) != len(set(names)):
        return "tools: tool names must be unique"
    if _cache_breakpoints(body) > 4:
        return "A maximum of 4 blocks with cache_control may be provided"
    for index, message in enumerate(messages):
        if message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: must be 'user' or 'assistant'"
        content = message.get("content")
        if isinstance(content, str):
            if not content:
                return f"messages.{index}: text content blocks must be non-empty"
            continue
        if not isinstance(content, list) or not content:
            return f"messages.{index}: content must be a non-empty string or list"
        uses = [b["id"] for b in content if b.get("type") == "tool_use"]
        if message["role"] == "assistant" and uses:
            following = messages[index + 1] if index + 1 < len(messages) else None
            blocks = following.get("content") if following else None
            if not isinstance(blocks, list):
                return (
                    f"messages.{index + 1}: tool_use ids were found without tool_result "
                    f"blocks immediately after: {', '.join(uses)}"
                )
            results = []
            for block in blocks:
                if block.get("type") != "tool_result":
                    break
                results.append(block.get("tool_use_id"))
            if sorted(results) != sorted(uses):
                return (
                    f"messages.{index + 1}: each tool_use must have a matching tool_result "
                    f"at the start of the next message (expected {uses}, got {results})"
                )
    return None


# --------------------------------------------------------------------------- rendering


def _message(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": "msg_" + uuid.uuid4().hex[:24],
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": reply.content,
        "stop_reason": reply.stop_reason,
        "stop_sequence": None,
        "usage": dict(reply.usage),
    }


def _split(text: str, pieces: int) -> list[str]:
    if not text:
        return [""]
    pieces = max(1, min(pieces, len(text)))
    size = -(-len(text) // pieces)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse_events(reply: Reply, model: str):
    """(event name, data, gate-after) triples in the order the API sends them."""
    message = _message(reply, model)
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}, None
    for index, block in enumerate(reply.content):
        if reply.stream_error and index == reply.stream_error_after:
            yield (
                "error",
                {
                    "type": "error",
                    "error": {"type": reply.stream_error, "message": reply.stream_error},
                },
                None,
            )
            return
        kind = block["type"]
        if kind == "text":
            opening = {"type": "text", "text": ""}
        elif kind == "tool_use":
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        elif kind == "thinking":
            opening = {"type": "thinking", "thinking": "", "signature": ""}
        else:
            opening = block
        yield (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": opening},
            None,
        )
        if index == 0:
            yield "ping", {"type": "ping"}, None
        delta_event = {"type": "content_block_delta", "index": index}
        if kind == "text":
            for number, piece in enumerate(_split(block["text"], reply.text_chunks)):
                gate = reply.gate if number == 0 else None
                yield (
                    "content_block_delta",
                    {**delta_event, "delta": {"type": "text_delta", "text": piece}},
                    gate,
                )
        elif kind == "tool_use":
            raw = json.dumps(block["input"])
            for piece in _split(raw, 3):
                yield (
                    "content_block_delta",
                    {**delta_event, "delta": {"type": "input_json_delta", "partial_json": piece}},
                    None,
                )
        elif kind == "thinking":
            if block["thinking"]:
                yield (
                    "content_block_delta",
                    {
                        **delta_event,
                        "delta": {"type": "thinking_delta", "thinking": block["thinking"]},
                    },
                    None,
                )
            yield (
                "content_block_delta",
                {
                    **delta_event,
                    "delta": {"type": "signature_delta", "signature": block["signature"]},
                },
                None,
            )
        yield "content_block_stop", {"type": "content_block_stop", "index": index}, None
    if reply.stream_error and reply.stream_error_after >= len(reply.content):
        yield (
            "error",
            {"type": "error", "error": {"type": reply.stream_error, "message": reply.stream_error}},
            None,
        )
        return
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"):
        if key in message["usage"]:
            usage[key] = message["usage"][key]
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": reply.stop_reason, "stop_sequence": None},
            "usage": usage,
        },
        None,
    )
    yield "message_stop", {"type": "message_stop"}, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake: FakeAnthropic

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        return

    # ----------------------------------------------------------------- plumbing

    def _headers(self) -> dict[str, str]:
        return {key.lower(): value for key, value in self.headers.items()}

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:20])
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, error_type: str, message: str, headers=None) -> None:
        body = {
            "type": "error",
            "error": {"type": error_type, "message": message},
            "request_id": "req_fake",
        }
        self._send_json(status, body, headers)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    # ----------------------------------------------------------------- routes

    def _rejected_key(self) -> bool:
        """Answer 401 as the API does when the key is missing or not a valid one."""
        bearer = self.headers.get("authorization") or ""
        key = self.headers.get("x-api-key") or bearer.removeprefix("Bearer ").strip()
        if not key:
            self._send_error(401, "authentication_error", "x-api-key header is required")
            return True
        if self.fake.valid_keys is not None and key not in self.fake.valid_keys:
            self._send_error(401, "authentication_error", "invalid x-api-key")
            return True
        return False

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.fake.record(RecordedRequest("GET", self.path, self._headers(), None))
        if self._rejected_key():
            return
        path = self.path.split("?")[0]
        data = [
            {
                "type": "model",
                "id": model_id,
                "display_name": model_id,
                "created_at": "2026-09-28T00:00:00Z",
                "lifecycle": "active",
            }
            for model_id in MODEL_IDS
        ]
        if path == "/v1/models":
            page = {"data": data, "has_more": False, "first_id": data[0]["id"]}
            page["last_id"] = data[-1]["id"]
            self._send_json(200, page)
            return
        if path.startswith("/v1/models/"):
            wanted = path.removeprefix("/v1/models/")
            found = next((model for model in data if model["id"] == wanted), None)
            if found is not None:
                self._send_json(200, found)
                return
            self._send_error(404, "not_found_error", f"model: {wanted}")
            return
        self._send_error(404, "not_found_error", f"Not found: {self.path}")

    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = None
        self.fake.record(RecordedRequest("POST", self.path, self._headers(), body))
        if self.path.split("?")[0] != "/v1/messages":
            self._send_error(404, "not_found_error", f"Not found: {self.path}")
            return
        if self._rejected_key():
            return
        problem = validate_messages_request(body)
        if problem:
            self._send_error(400, "invalid_request_error", problem)
            return
        reply = self.fake.next_reply()
        if reply is None:
            self._send_error(
                500,
                "api_error",
                "fake server: no scripted reply left",
                {"x-should-retry": "false"},
            )
            return
        if reply.stall:
            time.sleep(reply.stall)
        if reply.hang is not None and not reply.ping_every:
            reply.hang.wait(60)
        if reply.status != 200:
            error = reply.error or {"type": "api_error", "message": "error"}
            self._send_error(reply.status, error["type"], error["message"], reply.headers)
            return
        model = body.get("model", "claude")
        if not body.get("stream"):
            payload = _message(reply, model) if reply.raw_body is None else reply.raw_body
            self._send_json(200, payload, reply.headers)
            reply.finished.set()
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", "req_" + uuid.uuid4().hex[:20])
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        try:
            if reply.raw_events is not None:
                for name, raw in reply.raw_events:
                    self._chunk(f"event: {name}\ndata: {raw}\n\n".encode())
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
                return
            if reply.hang is not None and reply.ping_every:
                name, data, _ = next(_sse_events(reply, model))
                self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                while not reply.hang.wait(reply.ping_every):
                    self._chunk(b'event: ping\ndata: {"type": "ping"}\n\n')
                return
            for name, data, gate in _sse_events(reply, model):
                self._chunk(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
                if name == "message_start" and reply.pause_after_start:
                    time.sleep(reply.pause_after_start)
                if gate is not None:
                    gate.wait(10)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return
        finally:
            reply.finished.set()


@contextmanager
def claude_on_fake(monkeypatch, **env: str) -> Iterator[FakeAnthropic]:
    """A fake server with the app's settings pointing the real SDK at it (a test key,
    one retry, plus ``env``); the settings are read again on the way in and out."""
    from engine.config import reset_settings

    with FakeAnthropic() as server:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("MLTRAINER_CLAUDE_MAX_RETRIES", "1")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_settings()
        try:
            yield server
        finally:
            reset_settings()
