"""The sandbox: every dynamic action runs in a separate, locked-down process.

This is the real boundary (the validator is only the first layer). The parent side
here:

- writes the request (source, parameters, limits) and the prices as JSON into a fresh
  temporary directory, which becomes the child's working directory;
- starts ``python -I -S -B engine/sandbox/child.py`` with an EMPTY environment (no API
  keys, no DATABASE_URL), stdin from /dev/null, stdout/stderr to files in that
  directory, in a new session (its own process group), with all other descriptors
  closed;
- makes itself non-dumpable first (:func:`protect_parent`: no ptrace, ``/proc/<pid>/mem``
  or ``environ`` for the capability-less child);
- enforces a wall-clock timeout itself and kills the whole process group with SIGKILL
  (also on cancellation, and always at the end in case anything was left behind); the
  child also arms a kernel timer that kills it ``KILL_MARGIN_SECONDS`` later, which
  needs nothing from this process (it holds even if user code stopped the parent);
- reads back at most ``max_result_bytes`` of ``result.json`` and ``max_output_bytes`` of
  each output stream, measures and parses them with bounded work and memory
  (:func:`parse_json`: nesting, value counts, integer digits, NaN/Infinity; nothing is
  ever unpickled) and checks every field before building pandas objects;
- requires every kernel layer (:data:`REQUIRED_LAYERS`) unless
  MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS waives it (:func:`layer_policy`);
- reports how the run ended (``SandboxRun.reason``): ``ok``, ``error``, ``timeout``,
  ``cpu``, ``memory``, ``recursion``, ``file_size``, ``crash``, ``signal``, ``exit``,
  ``invalid_result``, ``result_too_large``, ``cancelled``, ``validation``,
  ``sandbox_unavailable`` (a required layer is missing and not waived by
  MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS: the sandbox fails closed);
- removes the directory.

The child side (:mod:`engine.sandbox.child`) applies resource limits, a new network
namespace, Landlock and seccomp before any user code runs and records which of them
the kernel granted; :func:`active_layers` probes this machine once and
:func:`describe_layers` lists every layer with its state.
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from engine.lazy import pandas as pd
from engine.sandbox import validator

log = logging.getLogger("mltrainer.sandbox")

CHILD_SCRIPT = Path(__file__).with_name("child.py")
# pandas/numpy entry points the child replaces by functions raising PermissionError before
# user code runs (child.disable_entry_points): names (and every read_*, every to_* but the
# in-memory conversions) in pandas and numpy modules and pandas classes, modules removed
# from their package, top-level pandas names, and class attributes turned into errors.
ENTRY_POINTS: dict[str, list[str]] = {
    "names": sorted(
        {  # fmt: skip
            "eval",
            "query",
            "load",
            "save",
            "savez",
            "savez_compressed",
            "savetxt",
            "loadtxt",
            "genfromtxt",
            "fromfile",
            "fromregex",
            "DataSource",
            "open_memmap",
            "read_array",
            "write_array",
            "show_versions",
            "show_config",
            "show_runtime",
            "test",
        }
    ),  # fmt: skip
    "safe_to": sorted(validator.SAFE_TO_METHODS | {"to_string"}),
    "modules": ["pandas.io", "numpy.ctypeslib", "numpy.f2py", "numpy.testing"],
    "options": ["set_option", "reset_option"],
    "attributes": ["style", "plot", "hist", "boxplot"],
}
MAX_CELLS = 1_000_000
MAX_LABEL_CHARS = 200
POLL_SECONDS = 0.02
KILL_MARGIN_SECONDS = 2.0
PR_SET_DUMPABLE = 4


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        log.warning("ignoring %s=%r: not a number", name, raw)
        return default


# ------------------------------------------------------------------ fail-closed policy

# The kernel layers every run needs. Without one of them no generated code runs (the run
# ends as ``sandbox_unavailable``) unless an administrator waives exactly that layer.
REQUIRED_LAYERS = ("rlimits", "network_namespace", "landlock", "seccomp")
ALLOW_MISSING_VARIABLE = "MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS"
# Layers the child must not apply, as if the kernel lacked them (to check the refusal
# and the page's report on a machine that has every layer); never a waiver by itself.
DISABLE_VARIABLE = "MLTRAINER_SANDBOX_DISABLE_LAYERS"
LAYER_ALIASES = {"netns": "network_namespace", "network": "network_namespace"}
# How to grant each layer (shown with refusals, on the page and by the command line).
GRANT_HINTS = {
    "rlimits": "setrlimit failed: the container or service manager caps the limits below "
    "the sandbox's (raise them, or lower MLTRAINER_SANDBOX_MEMORY_MB/CPU_SECONDS)",
    "network_namespace": "needs CAP_SYS_ADMIN or unprivileged user namespaces: "
    "sysctl user.max_user_namespaces>0 (Debian/Ubuntu also kernel.unprivileged_userns_clone=1, "
    "Ubuntu 24.04 kernel.apparmor_restrict_unprivileged_userns=0); in a container a seccomp "
    "profile allowing unshare(CLONE_NEWUSER|CLONE_NEWNET) or cap_add SYS_ADMIN "
    "(docs/security.md, 'The sandbox in containers')",
    "landlock": "needs Linux 5.13+ with Landlock enabled (CONFIG_SECURITY_LANDLOCK=y and "
    "'landlock' in the lsm= boot list, see /sys/kernel/security/lsm); in a container a "
    "seccomp profile allowing landlock_create_ruleset/add_rule/restrict_self (Docker 23+ "
    "and containerd 1.7+ defaults do)",
    "seccomp": "needs libseccomp.so.2 (apt-get install libseccomp2) and a kernel with "
    "CONFIG_SECCOMP_FILTER",
}


def _layer_list(variable: str, environ: dict[str, str] | None):
    raw = (os.environ if environ is None else environ).get(variable, "")
    waived: list[str] = []
    unknown: list[str] = []
    for item in raw.split(","):
        name = LAYER_ALIASES.get(item.strip().lower(), item.strip().lower())
        if not name:
            continue
        target = waived if name in REQUIRED_LAYERS else unknown
        if name not in target:
            target.append(name)
    return tuple(waived), tuple(unknown)


def waived_layers(environ: dict[str, str] | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(layers waived by MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS, names it lists that are not
    layers). ``netns`` is accepted for ``network_namespace``."""
    return _layer_list(ALLOW_MISSING_VARIABLE, environ)


def disabled_layers(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Layers MLTRAINER_SANDBOX_DISABLE_LAYERS tells the child not to apply."""
    return _layer_list(DISABLE_VARIABLE, environ)[0]


def required_layers(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The layers a run needs under the current configuration (all of
    :data:`REQUIRED_LAYERS` but those an administrator waived)."""
    waived, unknown = waived_layers(environ)
    if unknown:
        log.warning(
            "%s names unknown layers %s (known: %s)",
            ALLOW_MISSING_VARIABLE,
            ", ".join(unknown),
            ", ".join(REQUIRED_LAYERS),
        )
    return tuple(name for name in REQUIRED_LAYERS if name not in waived)


def refusal_message(missing: list[str]) -> str:
    """What the analyst and the administrator read when a run is refused."""
    names = ", ".join(missing)
    hints = "; ".join(f"{name}: {GRANT_HINTS.get(name, 'unknown layer')}" for name in missing)
    return (
        f"the sandbox could not apply {names}, so generated code does not run here "
        f"(fail closed). An administrator can grant it ({hints}) or accept the risk by "
        f"setting {ALLOW_MISSING_VARIABLE}={','.join(missing)} (docs/sandbox.md)"
    )


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run. Defaults come from MLTRAINER_SANDBOX_* variables (see
    :meth:`from_env`); tests pass smaller ones.

    ``require`` names the child layers (``rlimits``, ``network_namespace``, ``landlock``,
    ``seccomp``) without which no user code runs (the run ends as ``sandbox_unavailable``);
    ``None``, the default, means all of them but those MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS
    waives, read when the run starts. ``disable_layers`` makes the child skip applying
    layers (a real configuration switch, used to check that the policy refuses, and
    to reproduce a machine without them); a disabled layer counts as missing. ``None``
    reads MLTRAINER_SANDBOX_DISABLE_LAYERS when the run starts."""

    cpu_seconds: float = 20.0
    wall_seconds: float = 60.0
    memory_mb: int = 2048
    file_size_mb: int = 32
    open_files: int = 64
    max_result_bytes: int = 32 * 1024 * 1024
    max_output_bytes: int = 64 * 1024
    recursion_limit: int = 1000
    require: tuple[str, ...] | None = None
    disable_layers: tuple[str, ...] | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> SandboxLimits:
        limits = cls(
            cpu_seconds=_env_number("MLTRAINER_SANDBOX_CPU_SECONDS", cls.cpu_seconds),
            wall_seconds=_env_number("MLTRAINER_SANDBOX_WALL_SECONDS", cls.wall_seconds),
            memory_mb=int(_env_number("MLTRAINER_SANDBOX_MEMORY_MB", cls.memory_mb)),
        )
        return replace(limits, **overrides) if overrides else limits

    def required(self) -> tuple[str, ...]:
        return required_layers() if self.require is None else tuple(self.require)

    def disabled(self) -> tuple[str, ...]:
        return disabled_layers() if self.disable_layers is None else tuple(self.disable_layers)

    def to_child(self) -> dict[str, Any]:
        return {
            "cpu_seconds": self.cpu_seconds,
            "memory_mb": self.memory_mb,
            "file_size_mb": self.file_size_mb,
            "open_files": self.open_files,
            "max_output_chars": self.max_output_bytes,
            # the child's own kernel timer: a backstop behind the parent's deadline
            "kill_after_seconds": self.wall_seconds + KILL_MARGIN_SECONDS,
        }


@dataclass
class SandboxRun:
    """How a sandboxed run ended, and its result when it succeeded.

    ``value`` is a DataFrame, a Series, a number or a dict of numbers (``kind`` says which).
    """

    reason: str
    value: Any = None
    kind: str | None = None
    error: str | None = None
    line: int | None = None
    rule: str | None = None
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    signal: str | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    max_rss_mb: float = 0.0
    layers: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reason == "ok"

    def describe(self) -> str:
        """One sentence for the analyst."""
        texts = {
            "ok": "ran successfully",
            "error": "raised an error",
            "timeout": "was stopped: wall-clock time limit reached",
            "cpu": "was stopped: CPU time limit reached",
            "memory": "was stopped: memory limit reached",
            "recursion": "was stopped: recursion too deep",
            "file_size": "was stopped: file-size limit reached",
            "crash": "crashed",
            "signal": "was killed by a signal",
            "exit": "exited without a result",
            "invalid_result": "returned an unsupported result",
            "result_too_large": "returned a result larger than the limit",
            "cancelled": "was cancelled",
            "validation": "was refused by validation",
            "start_failed": "could not be started",
            "sandbox_unavailable": "was not run: a required sandbox layer is unavailable",
        }
        text = f"The dynamic action {texts.get(self.reason, self.reason)}"
        if self.error:
            text += f": {self.error}"
        if self.line:
            text += f" (line {self.line})"
        return text + "."

    def result_json(self) -> Any:
        """The value as plain JSON (frames as index/columns/data)."""
        value = self.value
        if isinstance(value, pd.Series):
            value = value.to_frame()
        if isinstance(value, pd.DataFrame):
            index = [i.isoformat() if hasattr(i, "isoformat") else i for i in value.index]
            data = [
                [None if (v is None or not math.isfinite(v)) else float(v) for v in row]
                for row in value.to_numpy(dtype="float64").tolist()
            ]
            return {"index": index, "columns": [str(c) for c in value.columns], "data": data}
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    def to_json(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "ok": self.ok,
            "stopped": None if self.ok else self.reason,
            "kind": self.kind,
            "error": self.error,
            "line": self.line,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "wall_seconds": round(self.wall_seconds, 3),
            "max_rss_mb": round(self.max_rss_mb, 1),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "layers": self.layers,
        }
        if self.rule:
            payload["rule"] = self.rule
        if self.ok:
            payload["result"] = self.result_json()
        return payload


# ------------------------------------------------------------------------- parent side


def child_sys_path() -> list[str]:
    """The standard library and site-packages of this interpreter, nothing else (not the
    project: the child must not import ``engine``)."""
    stdlib = {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")}
    paths: list[str] = []
    for entry in sys.path:
        if not entry or not os.path.exists(entry):
            continue
        real = os.path.realpath(entry)
        keep = (
            "site-packages" in entry
            or "dist-packages" in entry
            or any(real.startswith(os.path.realpath(p)) for p in stdlib if p)
            or entry.endswith(".zip")
        )
        if keep and entry not in paths:
            paths.append(entry)
    for path in sorted(stdlib):
        if path and path not in paths:
            paths.insert(0, path)
    dynload = os.path.join(sysconfig.get_path("platstdlib"), "lib-dynload")
    if os.path.isdir(dynload) and dynload not in paths:
        paths.append(dynload)
    return paths


def child_read_paths(sys_path: list[str]) -> list[str]:
    """What Landlock lets the child read: the interpreter, its libraries and system
    libraries (plus the loader cache and time-zone data). Not /etc, /proc, /home, the
    project or the temporary directory."""
    candidates = [
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sys.base_exec_prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
        *sys_path,
        "/usr/lib",
        "/usr/lib64",
        "/lib",
        "/lib64",
        "/usr/local/lib",
        "/etc/ld.so.cache",
        "/usr/share/zoneinfo",
    ]
    paths: list[str] = []
    for candidate in candidates:
        if not candidate:
            continue
        for variant in (candidate, os.path.realpath(candidate)):
            if os.path.exists(variant) and variant not in paths:
                paths.append(variant)
    return paths


_parent_protected: str | None = None


def protect_parent() -> str:
    """Make this process (the one that starts sandboxes) non-dumpable, once: the kernel
    then refuses ptrace attach, /proc/<pid>/mem, /proc/<pid>/environ and process_vm_*
    to any process without CAP_SYS_PTRACE — the sandbox child drops every capability,
    so even a child whose seccomp and Landlock layers were waived cannot read this
    process's secrets or attach to it. (Side effect: no core dumps of this process, and
    debuggers need root.)"""
    global _parent_protected
    if _parent_protected is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0:
                _parent_protected = "non-dumpable (PR_SET_DUMPABLE 0)"
            else:
                _parent_protected = f"failed ({os.strerror(ctypes.get_errno())})"
        except (OSError, AttributeError) as error:
            _parent_protected = f"unavailable ({error})"
    return _parent_protected


def frame_payload(data: pd.DataFrame) -> dict[str, Any]:
    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    if not isinstance(frame.index, pd.DatetimeIndex):
        frame = frame.copy()
        frame.index = pd.to_datetime(frame.index)
    values = frame.to_numpy(dtype="float64", na_value=np.nan)
    flat = values.ravel()
    finite = np.isfinite(flat)
    return {
        "index": [stamp.isoformat() for stamp in frame.index],
        "columns": [str(c) for c in frame.columns],
        "values": [
            float(v) if ok else None for v, ok in zip(flat.tolist(), finite.tolist(), strict=True)
        ],
    }


def _read_capped(path: Path, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of ``path``; the flag says whether there was more."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError:
        return b"", False
    return data[:limit], len(data) > limit


def _text(data: bytes, truncated: bool) -> str:
    text = data.decode("utf-8", "replace")
    return text + "\n[... output truncated]" if truncated else text


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class InvalidResult(ValueError):
    pass


MAX_JSON_DEPTH = 32  # a result is at most ~5 levels deep
MAX_JSON_CONTAINERS = MAX_CELLS + 10_000  # one list per table row, plus a few
MAX_JSON_VALUES = 3 * MAX_CELLS  # cells, index labels and column names
MAX_INT_DIGITS = 20
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


def _reject_constant(name: str) -> Any:
    raise InvalidResult(f"{name} is not allowed in a result (use null)")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise InvalidResult(f"an integer with {len(text)} digits is too large")
    return int(text)


def parse_json(raw: bytes, what: str = "result") -> Any:
    """Parse untrusted JSON from the child with bounded work and memory.

    Before ``json`` builds anything, the text (strings blanked out) is measured: nesting
    deeper than :data:`MAX_JSON_DEPTH`, more than :data:`MAX_JSON_CONTAINERS` arrays and
    objects or :data:`MAX_JSON_VALUES` values are refused. NaN/Infinity and integers longer
    than :data:`MAX_INT_DIGITS` digits are refused while parsing (floats out of range, such
    as 1e999, by :func:`decode_result`; a Python callback per float would double the
    parsing time). Every failure is an :class:`InvalidResult` with a sentence saying why."""
    try:
        skeleton = _JSON_STRING.sub(b'""', raw)
    except RecursionError:  # the regex engine is iterative; kept for safety
        raise InvalidResult(f"the {what} could not be read") from None
    octets = np.frombuffer(skeleton, dtype=np.uint8)
    opens = (octets == ord("[")) | (octets == ord("{"))
    closes = (octets == ord("]")) | (octets == ord("}"))
    containers = int(np.count_nonzero(opens))
    if containers > MAX_JSON_CONTAINERS:
        raise InvalidResult(
            f"the {what} has {containers} arrays/objects (limit {MAX_JSON_CONTAINERS})"
        )
    values = int(np.count_nonzero(octets == ord(","))) + containers
    if values > MAX_JSON_VALUES:
        raise InvalidResult(f"the {what} has {values} values (limit {MAX_JSON_VALUES})")
    depth, deepest, chunk = 0, 0, 1 << 20
    for start in range(0, len(octets), chunk):
        steps = opens[start : start + chunk].astype(np.int32) - closes[start : start + chunk]
        running = np.cumsum(steps, dtype=np.int64) + depth
        if running.size:
            deepest = max(deepest, int(running.max()))
            depth = int(running[-1])
    if deepest > MAX_JSON_DEPTH:
        raise InvalidResult(f"the {what} is nested {deepest} levels deep (limit {MAX_JSON_DEPTH})")
    try:
        return json.loads(
            raw,
            parse_constant=_reject_constant,
            parse_int=_bounded_int,
        )
    except InvalidResult:
        raise
    except (ValueError, RecursionError, MemoryError) as error:
        raise InvalidResult(f"the {what} is not valid JSON: {str(error)[:200]}") from None


def _is_number(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> float | int | bool | None:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidResult("a number in the result is out of range")
        return value
    raise InvalidResult(f"expected a number, found {type(value).__name__}")


def _index(payload: Any, length: int) -> pd.Index:
    if not isinstance(payload, dict) or not isinstance(payload.get("values"), list):
        raise InvalidResult("malformed index")
    values = payload["values"]
    if len(values) != length:
        raise InvalidResult("index length does not match the data")
    if payload.get("kind") == "datetime":
        if not all(v is None or (isinstance(v, str) and len(v) <= 40) for v in values):
            raise InvalidResult("malformed dates in the index")
        stamps = pd.DatetimeIndex(pd.to_datetime(values, errors="coerce"), name="date")
        return stamps.as_unit("ns")
    cleaned: list[str | int | float | None] = []
    for value in values:
        if isinstance(value, str):
            cleaned.append(value[:MAX_LABEL_CHARS])
        elif isinstance(value, (int, float, bool)) or value is None:
            cleaned.append(value)
        else:
            raise InvalidResult("malformed index label")
    return pd.Index(cleaned)


def decode_result(payload: Any) -> tuple[str, Any]:
    """Check the child's JSON result field by field and rebuild the value."""
    if not isinstance(payload, dict):
        raise InvalidResult("the result is not an object")
    kind = payload.get("type")
    if kind in ("frame", "series"):
        columns = payload.get("columns")
        data = payload.get("data")
        if not isinstance(columns, list) or not isinstance(data, list):
            raise InvalidResult("malformed table")
        if len(data) * max(len(columns), 1) > MAX_CELLS:
            raise InvalidResult("the table is too large")
        if not all(isinstance(c, str) for c in columns):
            raise InvalidResult("malformed column names")
        for row in data:
            if not isinstance(row, list) or len(row) != len(columns):
                raise InvalidResult("ragged table")
            for value in row:
                if value is not None and not _is_number(value):
                    raise InvalidResult("non-numeric or out-of-range cell")
        index = _index(payload.get("index"), len(data))
        values = np.array(data, dtype="float64") if data else np.empty((0, len(columns)))
        frame = pd.DataFrame(values.reshape(len(data), len(columns)), index=index)
        frame.columns = [c[:MAX_LABEL_CHARS] for c in columns]
        if kind == "series":
            if len(columns) != 1:
                raise InvalidResult("a series has one column")
            return "series", frame.iloc[:, 0]
        return "frame", frame
    if kind == "dict":
        entries = payload.get("values")
        if not isinstance(entries, dict) or len(entries) > 10_000:
            raise InvalidResult("malformed dict result")
        return "dict", {str(k)[:MAX_LABEL_CHARS]: _number(v) for k, v in entries.items()}
    if kind == "number":
        return "number", _number(payload.get("value"))
    raise InvalidResult(f"unknown result type {kind!r}")


def run_source(
    source: str,
    data: pd.DataFrame,
    params: dict[str, Any] | None = None,
    *,
    limits: SandboxLimits | None = None,
    validate: bool = True,
    cancelled: Callable[[], bool] | None = None,
) -> SandboxRun:
    """Run ``source``'s ``run(data, **params)`` in a fresh sandbox process.

    ``validate=False`` skips the validator AND the child's in-process guard (restricted
    builtins), leaving only the operating-system layers: it exists for the command
    line's ``--skip-validation`` and the security tests, never for callers acting on
    behalf of users.
    """
    limits = limits or SandboxLimits.from_env()
    params = dict(params or {})
    if validate:
        violation = validator.validate(source)
        if violation is not None:
            return SandboxRun(
                "validation", error=violation.message, line=violation.line, rule=violation.rule
            )
    try:
        params_text = json.dumps(params, allow_nan=False)
    except (TypeError, ValueError) as error:
        return SandboxRun("start_failed", error=f"parameters are not plain JSON: {error}")
    workdir = Path(tempfile.mkdtemp(prefix="mlt-sandbox-"))
    try:
        return _run_in(workdir, source, data, json.loads(params_text), limits, validate, cancelled)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run_in(
    workdir: Path,
    source: str,
    data: pd.DataFrame,
    params: dict[str, Any],
    limits: SandboxLimits,
    restricted: bool,
    cancelled: Callable[[], bool] | None,
) -> SandboxRun:
    sys_path = child_sys_path()
    request = {
        "source": source,
        "params": params,
        "limits": limits.to_child(),
        "sys_path": sys_path,
        "read_paths": child_read_paths(sys_path),
        "restricted": restricted,
        "builtins": sorted(validator.ALLOWED_BUILTINS),
        "modules": sorted(validator.ALLOWED_MODULES),
        "max_cells": MAX_CELLS,
        "recursion_limit": limits.recursion_limit,
        "require": list(limits.required()),
        "disable_layers": list(limits.disabled()),
        "entry_points": ENTRY_POINTS,
    }
    (workdir / "request.json").write_text(json.dumps(request), encoding="utf-8")
    (workdir / "data.json").write_text(json.dumps(frame_payload(data)), encoding="utf-8")
    protect_parent()
    command = [sys.executable, "-I", "-S", "-B", str(CHILD_SCRIPT)]
    started = time.monotonic()
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        try:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env={},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as error:
            return SandboxRun("start_failed", error=f"could not start the sandbox: {error}")
    stopped_by: str | None = None
    deadline = started + limits.wall_seconds
    try:
        while True:
            # WNOWAIT: see the exit without reaping, so the group id stays reserved until
            # the final kill below has swept the group.
            if os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
                break
            if stopped_by is None:
                if time.monotonic() > deadline:
                    stopped_by = "timeout"
                elif cancelled is not None and cancelled():
                    stopped_by = "cancelled"
                if stopped_by is not None:
                    _kill_group(process.pid)
            time.sleep(POLL_SECONDS)
    finally:
        _kill_group(process.pid)  # anything left in the group goes too
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    run = SandboxRun("exit", wall_seconds=wall)
    run.cpu_seconds = usage.ru_utime + usage.ru_stime
    run.max_rss_mb = usage.ru_maxrss / 1024.0
    run.exit_code = process.returncode
    if process.returncode is not None and process.returncode < 0:
        run.signal = _signal_name(-process.returncode)
    out_bytes, out_cut = _read_capped(workdir / "stdout.txt", limits.max_output_bytes)
    err_bytes, err_cut = _read_capped(workdir / "stderr.txt", limits.max_output_bytes)
    run.stderr = _text(err_bytes, err_cut)
    fd_stdout = _text(out_bytes, out_cut)
    layers_raw, _ = _read_capped(workdir / "layers.json", 64 * 1024)
    try:
        layers = parse_json(layers_raw, "layer report") if layers_raw else {}
        run.layers = layers if isinstance(layers, dict) else {}
    except InvalidResult:
        run.layers = {}
    raw, too_large = _read_capped(workdir / "result.json", limits.max_result_bytes)
    payload: Any = None
    unreadable: str | None = None
    if raw and not too_large:
        try:
            payload = parse_json(raw)
        except InvalidResult as error:
            unreadable = str(error)
    if isinstance(payload, dict) and isinstance(payload.get("stdout"), str):
        run.stdout = payload["stdout"][: limits.max_output_bytes + 200]  # + the "dropped" note
    if fd_stdout:
        run.stdout = (run.stdout + fd_stdout)[: limits.max_output_bytes + 200]
    _classify(run, stopped_by, payload, too_large, limits)
    if unreadable is not None and run.reason in ("exit", "memory"):
        run.reason, run.error = "invalid_result", unreadable
    _log_layers_once(run.layers)
    return run


_logged_layers = False


def _log_layers_once(layers: dict[str, Any]) -> None:
    """Say once per process which layers the sandbox obtained (a warning if one is off)."""
    global _logged_layers
    if _logged_layers or not layers.get("rlimits"):
        return
    _logged_layers = True
    summary = layer_summary(layers)
    missing = [
        name
        for name in ("rlimits", "network_namespace", "landlock", "seccomp")
        if not layer_active(layers.get(name))
    ]
    if missing:
        log.warning("sandbox layers: %s (inactive: %s)", summary, ", ".join(missing))
    else:
        log.info("sandbox layers: %s", summary)


def _classify(
    run: SandboxRun,
    stopped_by: str | None,
    payload: Any,
    too_large: bool,
    limits: SandboxLimits,
) -> None:
    code = run.exit_code
    if stopped_by is not None:
        run.reason = stopped_by
        run.error = (
            f"no result after {limits.wall_seconds:g} s (wall clock)"
            if stopped_by == "timeout"
            else "cancelled by request"
        )
        return
    if code is not None and code < 0:
        number = -code
        if number == signal.SIGKILL and run.wall_seconds >= limits.wall_seconds:
            # the child's own kernel timer (the parent could not act: stopped or busy)
            run.reason = "timeout"
            run.error = f"no result after {limits.wall_seconds:g} s (wall clock)"
            return
        if number == signal.SIGXCPU or (
            number == signal.SIGKILL and run.cpu_seconds >= limits.cpu_seconds - 0.05
        ):
            run.reason, run.error = "cpu", f"used {run.cpu_seconds:.1f} s of CPU time"
        elif number == signal.SIGXFSZ:
            run.reason, run.error = "file_size", "wrote more than the file-size limit"
        elif number in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL):
            run.reason, run.error = "crash", f"the interpreter crashed ({run.signal})"
        else:
            run.reason, run.error = "signal", f"killed by {run.signal}"
        if "MemoryError" in run.stderr:
            run.reason, run.error = "memory", "out of memory"
        return
    if too_large:
        run.reason = "result_too_large"
        run.error = f"the result is larger than {limits.max_result_bytes} bytes"
        return
    if not isinstance(payload, dict):
        run.reason = "memory" if "MemoryError" in run.stderr else "exit"
        tail = run.stderr.strip().splitlines()[-1:] if run.stderr.strip() else []
        run.error = f"exit code {code}" + (f": {tail[0][:300]}" if tail else "")
        return
    if payload.get("ok") is True:
        try:
            run.kind, run.value = decode_result(payload.get("result"))
            run.reason = "ok"
        except (InvalidResult, ValueError, TypeError) as error:
            run.reason, run.error = "invalid_result", str(error)
        return
    kind = payload.get("kind")
    allowed = {"error", "memory", "recursion", "invalid_result", "contract", "sandbox_unavailable"}
    run.reason = kind if kind in allowed else "error"
    if run.reason == "contract":
        run.reason = "error"
    message = payload.get("error")
    run.error = message[:2000] if isinstance(message, str) else "unknown error"
    if run.reason == "sandbox_unavailable":
        missing = payload.get("missing")
        if isinstance(missing, list) and all(isinstance(m, str) for m in missing):
            run.error = refusal_message([m[:40] for m in missing[:8]])
    line = payload.get("line")
    run.line = line if isinstance(line, int) and not isinstance(line, bool) else None


# ------------------------------------------------------------------------------ layers

_layers_lock = threading.Lock()
_layers_cache: dict[str, Any] | None = None

PARENT_LAYERS = {
    "validator": "ast allow-list before every save and run (engine/sandbox/validator.py)",
    "process": "separate interpreter per run: python -I -S -B, explicit sys.path",
    "environment_passed": "empty (no API keys, no DATABASE_URL, no cookie key)",
    "working_directory": "fresh temporary directory, removed afterwards",
    "wall_clock": "timeout enforced by the parent (SIGKILL to the whole process group) and "
    "by a kernel timer in the child (SIGKILL, even when the parent is stopped)",
    "parent": "the process starting sandboxes is non-dumpable (no ptrace, /proc/<pid>/mem "
    "or environ for the capability-less child)",
    "results": "JSON only, size-capped, checked field by field; never unpickled",
    "output": "print output and stdout/stderr capped",
}


def active_layers(refresh: bool = False) -> dict[str, Any]:
    """The layers a sandbox child obtains on this machine, probed once per process by a
    trivial run (cached). Keys: rlimits, network_namespace, landlock, seccomp, ..."""
    global _layers_cache
    with _layers_lock:
        if _layers_cache is None or refresh:
            probe = run_source(
                "def run(data):\n    return 0\n",
                pd.DataFrame({"X": [1.0]}, index=pd.DatetimeIndex(["2020-01-02"])),
                limits=SandboxLimits(cpu_seconds=20, wall_seconds=60, require=()),
            )
            _layers_cache = dict(probe.layers)
            if not probe.ok:
                _layers_cache["probe_error"] = probe.describe()
            log.info("sandbox layers active: %s", layer_summary(_layers_cache))
        return dict(_layers_cache)


def layer_active(value: Any) -> bool:
    if isinstance(value, dict):  # rlimits: every limit applied
        return bool(value) and not any(str(v).startswith("failed") for v in value.values())
    text = str(value)
    return bool(value) and not text.startswith(("unavailable", "failed", "off"))


def layer_policy(layers: dict[str, Any] | None = None) -> dict[str, Any]:
    """The fail-closed policy against what this machine grants: which layers are
    required, waived (by MLTRAINER_SANDBOX_ALLOW_MISSING_LAYERS, and unknown names in it),
    missing, whether runs are refused (``refusing``: required but missing) and how to
    grant each missing layer. ``layers`` defaults to the probe of :func:`active_layers`."""
    layers = active_layers() if layers is None else layers
    waived, unknown = waived_layers()
    required = required_layers()
    missing = [name for name in REQUIRED_LAYERS if not layer_active(layers.get(name))]
    return {
        "variable": ALLOW_MISSING_VARIABLE,
        "required": list(required),
        "waived": list(waived),
        "unknown": list(unknown),
        "missing": missing,
        "refusing": [name for name in missing if name in required],
        "waived_and_missing": [name for name in missing if name in waived],
        "hints": {name: GRANT_HINTS[name] for name in missing},
        "runs": not [name for name in missing if name in required],
    }


def layer_summary(layers: dict[str, Any]) -> str:
    names = ("rlimits", "network_namespace", "landlock", "seccomp", "in_process_guard")
    return ", ".join(
        f"{name}={'on' if layer_active(layers.get(name)) else 'OFF'}" for name in names
    )


def describe_layers(refresh: bool = False) -> dict[str, Any]:
    """Every layer, parent and child side, with its state on this machine."""
    child = active_layers(refresh)
    policy = layer_policy(child)
    return {**PARENT_LAYERS, **child, "parent_process": protect_parent(), "policy": policy}
