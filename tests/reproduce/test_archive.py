"""Opening a bundle is safe: names that leave the folder, links, unexpected layouts,
zip bombs and headers that lie about sizes are refused before anything is written
outside (or much inside) the target folder; the command exits 2 with the reason."""

from __future__ import annotations

import io
import json
import stat
import zipfile

import pytest

from engine.__main__ import main
from engine.reproduce import archive
from engine.reproduce.archive import UnsafeBundle, extract


def zipped(*entries: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in entries:
            out.writestr(name, data)
    return buffer.getvalue()


def link(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


@pytest.mark.parametrize(
    "name",
    [
        "../evil.py",
        "data/../../evil.py",
        "/etc/evil",
        "C:evil.json",
        "data\\..\\evil",
        "results/deep/step_1.json",
        "elsewhere/step_1.json",
        "data/.hidden",
        "notes.sh",
    ],
)
def test_names_outside_the_bundle_layout_are_refused(tmp_path, name):
    path = tmp_path / "bad.zip"
    path.write_bytes(zipped(("manifest.json", b"{}"), (name, b"x")))
    with pytest.raises(UnsafeBundle):
        extract(path, tmp_path / "out")
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_links_duplicates_and_non_zips_are_refused(tmp_path):
    cases = {
        "link.zip": zipped((link("data/x.parquet", "/etc/passwd"), b"/etc/passwd")),
        "twice.zip": zipped(("manifest.json", b"{}"), ("manifest.json", b"{}")),
    }
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
        with pytest.raises(UnsafeBundle):
            extract(tmp_path / name, tmp_path / f"out-{name}")
    (tmp_path / "text.zip").write_text("not a zip")
    with pytest.raises(UnsafeBundle, match="not a readable zip"):
        extract(tmp_path / "text.zip", tmp_path / "out-text")


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    path = tmp_path / "bomb.zip"
    path.write_bytes(zipped(("results/step_1.json", b"0" * (64 << 20))))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(UnsafeBundle, match="zip bomb"):
        extract(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_size_limits_hold_even_when_the_header_lies(tmp_path, monkeypatch):
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 1000)
    path = tmp_path / "big.zip"
    path.write_bytes(zipped(("results/step_1.json", bytes(range(256)) * 8)))
    with pytest.raises(UnsafeBundle, match="2,048 bytes"):
        extract(path, tmp_path / "out")
    # a header declaring fewer bytes than the member inflates to
    payload = bytearray(zipped(("results/step_1.json", b"a" * 4000)))
    declared = (100).to_bytes(4, "little")
    local = payload.index(b"PK\x03\x04")
    payload[local + 22 : local + 26] = declared
    central = payload.index(b"PK\x01\x02")
    payload[central + 24 : central + 28] = declared
    path.write_bytes(bytes(payload))
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", 1 << 30)
    with pytest.raises(UnsafeBundle):
        extract(path, tmp_path / "out2")
    written = tmp_path / "out2" / "results" / "step_1.json"
    assert not written.exists() or written.stat().st_size <= 100 + archive.CHUNK


def test_the_command_refuses_an_unsafe_bundle_with_exit_2(tmp_path, capsys):
    path = tmp_path / "bad.zip"
    path.write_bytes(zipped(("manifest.json", b"{}"), ("../escape.py", b"print('x')")))
    assert main(["reproduce", str(path)]) == 2
    assert (
        "Refusing bundle member '../escape.py'"
        in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["error"]
    )
    good_layout = tmp_path / "notmanifest.zip"
    good_layout.write_bytes(zipped(("manifest.json", b'{"format": "other"}')))
    assert main(["reproduce", str(good_layout)]) == 2
    assert "not an mlTrainer bundle manifest" in capsys.readouterr().out
