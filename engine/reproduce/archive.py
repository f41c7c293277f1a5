"""Open a bundle safely: a zip from anyone is untrusted input.

Every member name is checked before anything is written (relative, no ``..``, no
backslashes or drive letters, only the bundle's folders, no duplicates, no links), the
declared sizes and compression ratios are bounded (a zip bomb is refused before it is
inflated), and each member is inflated in chunks that stop at its declared size, so a
lying header cannot write more than the limits either. A directory (a bundle someone
already extracted) is read only through :func:`member_path`: the same name rules and
limits, no links.
"""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import Path, PurePosixPath

from engine.actions.base import ActionError

MAX_MEMBERS = 5_000
MAX_MEMBER_BYTES = 1 << 30  # 1 GiB: an upload is at most MLTRAINER_UPLOAD_LIMIT_MB
MAX_TOTAL_BYTES = 2 << 30
MAX_RATIO = 200  # inflated / compressed, for members above RATIO_FLOOR bytes
RATIO_FLOOR = 1 << 20
CHUNK = 1 << 20

_TOP_FILES = frozenset(
    {"manifest.json", "reproduce.py", "reproduce.ipynb", "requirements.lock", "README.txt"}
)
_FOLDERS = frozenset({"data", "results", "dynamic"})
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


class UnsafeBundle(ActionError):
    """The bundle breaks a safety rule; nothing from it was used."""


def check_name(name: str) -> PurePosixPath:
    """A member name the bundle may hold, as a relative path (raises ``UnsafeBundle``)."""
    if "\\" in name or "\x00" in name or name.startswith("/") or ":" in name:
        raise UnsafeBundle(f"Refusing bundle member {name!r}: not a plain relative path.")
    path = PurePosixPath(name)
    parts = path.parts
    if not parts or any(part in ("", ".", "..") or not _PART.match(part) for part in parts):
        raise UnsafeBundle(f"Refusing bundle member {name!r}: unexpected path.")
    if len(parts) == 1 and parts[0] in _TOP_FILES:
        return path
    if len(parts) == 2 and parts[0] in _FOLDERS:
        return path
    raise UnsafeBundle(f"Refusing bundle member {name!r}: not part of a bundle's layout.")


def _check_infos(infos: list[zipfile.ZipInfo]) -> None:
    if len(infos) > MAX_MEMBERS:
        raise UnsafeBundle(f"Refusing a bundle of {len(infos)} members (at most {MAX_MEMBERS}).")
    seen: set[str] = set()
    total = 0
    for info in infos:
        if info.is_dir():
            raise UnsafeBundle(
                f"Refusing bundle member {info.filename!r}: directories are implicit."
            )
        name = str(check_name(info.filename))
        if name in seen:
            raise UnsafeBundle(f"Refusing bundle: {name!r} appears twice.")
        seen.add(name)
        mode = info.external_attr >> 16
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG):  # links, devices; 0: a tool wrote none
            raise UnsafeBundle(f"Refusing bundle member {name!r}: not a regular file.")
        if info.flag_bits & 0x1:
            raise UnsafeBundle(f"Refusing bundle member {name!r}: encrypted.")
        if info.file_size > MAX_MEMBER_BYTES:
            raise UnsafeBundle(f"Refusing bundle member {name!r}: {info.file_size:,} bytes.")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise UnsafeBundle(
                f"Refusing bundle member {name!r}: it inflates {info.file_size:,} bytes from "
                f"{info.compress_size:,} (a zip bomb?)."
            )
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise UnsafeBundle(f"Refusing bundle: more than {MAX_TOTAL_BYTES:,} bytes inflated.")


def extract(bundle: Path, target: Path) -> Path:
    """Check and extract the zip ``bundle`` into the empty directory ``target``."""
    try:
        archive = zipfile.ZipFile(bundle)
    except (zipfile.BadZipFile, OSError) as error:
        raise UnsafeBundle(f"{bundle.name} is not a readable zip file ({error}).") from None
    with archive:
        infos = archive.infolist()
        _check_infos(infos)
        target.mkdir(parents=True, exist_ok=True)
        root = target.resolve()
        for info in infos:
            destination = (root / info.filename).resolve()
            if not destination.is_relative_to(root):
                raise UnsafeBundle(f"Refusing bundle member {info.filename!r}: outside the folder.")
            destination.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with archive.open(info) as source, open(destination, "xb") as sink:
                    while chunk := source.read(CHUNK):
                        written += len(chunk)
                        if written > info.file_size:
                            raise UnsafeBundle(
                                f"Refusing bundle member {info.filename!r}: larger than declared."
                            )
                        sink.write(chunk)
            except FileExistsError:
                raise UnsafeBundle(
                    f"Refusing bundle: {info.filename!r} is written twice."
                ) from None
            except (zipfile.BadZipFile, EOFError) as error:
                raise UnsafeBundle(
                    f"Bundle member {info.filename!r} is damaged ({error})."
                ) from None
    return target


def member_path(root: Path, name: str) -> Path:
    """The file of bundle member ``name`` inside the extracted bundle ``root``: a name the
    layout allows, a regular file (not a link) inside ``root``, within the size limit.
    Other files in the folder (the zip itself, notebook checkpoints) are never read."""
    relative = check_name(name)
    path = root / relative
    if path.is_symlink() or not path.is_file():
        raise UnsafeBundle(f"The bundle has no file {name!r}.")
    if not path.resolve().is_relative_to(root.resolve()):
        raise UnsafeBundle(f"Refusing bundle file {name!r}: outside the folder.")
    if path.stat().st_size > MAX_MEMBER_BYTES:
        raise UnsafeBundle(
            f"Refusing bundle file {name!r}: larger than {MAX_MEMBER_BYTES:,} bytes."
        )
    return path
