"""engine.lazy: a module stand-in that imports the module on first attribute access."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.lazy import LazyModule

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fresh_colorsys(monkeypatch):
    # a small stdlib module nothing here imports: drop it so the stand-in must import it
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    yield
    sys.modules.pop("colorsys", None)


def test_imports_on_first_attribute_access(fresh_colorsys):
    lazy = LazyModule("colorsys")
    assert "colorsys" not in sys.modules
    convert = lazy.rgb_to_hsv
    assert "colorsys" in sys.modules
    assert convert is sys.modules["colorsys"].rgb_to_hsv
    assert lazy.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    # after the first access the namespace is the stand-in's own: no __getattr__ call
    assert "hls_to_rgb" in vars(lazy)


def test_missing_names_raise_attribute_error(fresh_colorsys):
    lazy = LazyModule("colorsys")
    with pytest.raises(AttributeError):
        _ = lazy.no_such_name
    assert not hasattr(lazy, "still_no_such_name")
    assert "rgb_to_hsv" in dir(lazy)


def test_concurrent_first_accesses_see_one_module(fresh_colorsys):
    lazy = LazyModule("colorsys")
    barrier = threading.Barrier(8)
    seen: list[object] = []

    def first_access() -> None:
        barrier.wait()
        seen.append(lazy.rgb_to_yiq)

    threads = [threading.Thread(target=first_access) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(one is sys.modules["colorsys"].rgb_to_yiq for one in seen)


def test_the_pandas_stand_in_is_pandas_once_used():
    # in a fresh interpreter: importing the stand-in does not import pandas, using it does
    code = (
        "import sys\n"
        "from engine.lazy import pandas as pd\n"
        "assert 'pandas' not in sys.modules\n"
        "frame = pd.DataFrame({'a': [1, 2]})\n"
        "import pandas\n"
        "assert isinstance(frame, pandas.DataFrame) and pd.DataFrame is pandas.DataFrame\n"
        "assert pd.isna(pd.NaT) and pd.api.types.is_numeric_dtype(frame['a'])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
