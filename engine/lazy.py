"""Libraries the action catalogue names but does not need until an action runs.

``from engine.lazy import pandas as pd`` gives a module object that imports pandas on
its first attribute access (``pd.DataFrame``, ``pd.isna``...), then copies pandas'
namespace into itself so later accesses are plain attribute lookups. Importing the
catalogue (every CLI call, pool and Dask worker start) thereby skips pandas and pyarrow
(~0.3 s of CPU) until an action touches a frame; type checkers see the real module.

Modules that use pandas only inside functions import it this way; code that needs it at
import time (a module-level ``pd.`` expression) must import it normally. The namespace is
taken once: a name rebound on the real module afterwards (a test's monkeypatch) is not
seen through the stand-in, so patch where the name is used, not pandas itself.
"""

from __future__ import annotations

import importlib
import types
from typing import TYPE_CHECKING, Any


class LazyModule(types.ModuleType):
    """A stand-in for module ``name`` that imports it on first attribute access."""

    def __getattr__(self, attribute: str) -> Any:
        # Called only when normal lookup fails: before the import, for every name; after
        # it, for names the real module gained since (submodules, its own __getattr__).
        module = importlib.import_module(self.__name__)  # thread-safe: the import lock
        if "__file__" not in self.__dict__:  # the first access: take the namespace once
            self.__dict__.update(
                (key, value) for key, value in vars(module).items() if key != "__getattr__"
            )
        return getattr(module, attribute)

    def __dir__(self) -> list[str]:
        return dir(importlib.import_module(self.__name__))


if TYPE_CHECKING:
    import pandas as pandas
else:
    pandas = LazyModule("pandas")

__all__ = ["LazyModule", "pandas"]
