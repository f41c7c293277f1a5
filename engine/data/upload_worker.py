"""Validate an upload in a separate, memory- and time-limited process.

Parsing a hostile file is the one place where a few hundred kilobytes can become
gigabytes (a Parquet file whose pages decode to far more than its metadata says) or
minutes of CPU. :func:`validate_upload` refuses what the metadata reveals before
parsing; this module runs it in a child process with an address-space limit
(``MLTRAINER_UPLOAD_WORKER_MB``, default 2048) and a time limit
(``MLTRAINER_UPLOAD_WORKER_SECONDS``, default 300), so what only parsing reveals ends
in a clear :class:`DataValidationError` instead of an app process that swaps or hangs.

The child is ``python -m engine.data.upload_worker <dir>``: it reads ``request.json``
and ``input`` from the directory and writes ``table.parquet`` + ``table.json`` or
``error.json``. No pickle crosses the boundary: the child parses untrusted data.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from engine.data.upload import DataValidationError, ValidatedTable, validate_upload

DEFAULT_MEMORY_MB = 2048
DEFAULT_SECONDS = 300.0


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        return default


def worker_memory_mb() -> int:
    return int(max(_number("MLTRAINER_UPLOAD_WORKER_MB", DEFAULT_MEMORY_MB), 256))


def worker_seconds() -> float:
    return max(_number("MLTRAINER_UPLOAD_WORKER_SECONDS", DEFAULT_SECONDS), 1.0)


def validate_in_worker(
    data: bytes,
    filename: str = "upload.csv",
    *,
    date_column: str | None = None,
    price_columns: list[str] | None = None,
    symbol: str | None = None,
    limit_mb: float | None = None,
) -> ValidatedTable:
    """:func:`validate_upload` in a limited child process (same arguments, same result)."""
    if limit_mb is None:
        from engine.config import get_settings

        limit_mb = get_settings().upload_limit_mb
    memory_mb, seconds = worker_memory_mb(), worker_seconds()
    request = {
        "filename": filename,
        "date_column": date_column,
        "price_columns": price_columns,
        "symbol": symbol,
        "limit_mb": limit_mb,
        "memory_mb": memory_mb,
        "seconds": seconds,
    }
    with tempfile.TemporaryDirectory(prefix="mltrainer-upload-") as folder:
        work = Path(folder)
        (work / "input").write_bytes(data)
        (work / "request.json").write_text(json.dumps(request))
        environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        try:
            completed = subprocess.run(  # a fixed argv, no shell
                [sys.executable, "-m", "engine.data.upload_worker", str(work)],
                capture_output=True,
                timeout=seconds,
                env=environment,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DataValidationError(
                [
                    f"Reading the file took longer than {seconds:g} s "
                    "(MLTRAINER_UPLOAD_WORKER_SECONDS); it is too large or too complex. "
                    "Upload fewer rows or columns."
                ]
            ) from None
        error_path = work / "error.json"
        if error_path.exists():
            failure = json.loads(error_path.read_text())
            raise DataValidationError(failure["problems"], failure.get("notes"))
        table_path, meta_path = work / "table.parquet", work / "table.json"
        if completed.returncode != 0 or not table_path.exists() or not meta_path.exists():
            raise DataValidationError(
                [
                    f"Reading the file needed more than the {memory_mb} MB an upload may use "
                    "(MLTRAINER_UPLOAD_WORKER_MB), or the reader stopped "
                    f"(exit status {completed.returncode}). Upload fewer rows or columns."
                ]
            )
        meta = json.loads(meta_path.read_text())
        frame = pd.read_parquet(table_path)
    return ValidatedTable(frame=frame, **meta)


# --------------------------------------------------------------------------- the child


def _limit_resources(memory_mb: int, seconds: float) -> None:
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cpu = int(seconds) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))


def _child(work: Path) -> int:
    request: dict[str, Any] = json.loads((work / "request.json").read_text())
    _limit_resources(int(request["memory_mb"]), float(request["seconds"]))
    try:
        table = validate_upload(
            (work / "input").read_bytes(),
            request["filename"],
            date_column=request["date_column"],
            price_columns=request["price_columns"],
            symbol=request["symbol"],
            limit_mb=request["limit_mb"],
        )
    except DataValidationError as error:
        (work / "error.json").write_text(
            json.dumps({"problems": error.problems, "notes": error.notes})
        )
        return 0
    except MemoryError:
        problem = (
            f"Reading the file needed more than the {request['memory_mb']} MB an upload may "
            "use (MLTRAINER_UPLOAD_WORKER_MB): its contents are far larger than the file. "
            "Upload fewer rows or columns."
        )
        (work / "error.json").write_text(json.dumps({"problems": [problem], "notes": []}))
        return 0
    except Exception as error:  # noqa: BLE001 - a reader bug still ends in a clear message
        problem = f"The file could not be read ({type(error).__name__}: {error})."
        (work / "error.json").write_text(json.dumps({"problems": [problem], "notes": []}))
        return 0
    meta = {f.name: getattr(table, f.name) for f in dataclasses.fields(table) if f.name != "frame"}
    table.frame.to_parquet(work / "table.parquet")
    (work / "table.json").write_text(json.dumps(meta))
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
