"""First layer of the dynamic-action sandbox: an ``ast``-based allow-list.

A dynamic action's source defines one function ``run(data, **params)``. Before it is
saved, tested or run, :func:`validate` parses it and walks every node; the first
problem found is reported as a :class:`Violation` naming the rule and the line, e.g.
``forbidden_attribute`` at line 4: "'to_csv' is not allowed (file access)".

This layer gives analysts (and Claude) fast, precise feedback and removes whole classes
of attack, but it is never the only one: every run also goes through the isolated
subprocess of :mod:`engine.sandbox.runner`, which must contain code that slipped past
these rules (the security tests run the hostile corpus against both layers).

The rules, in short:

- ``syntax``, ``source_too_large``, ``too_many_nodes``, ``too_deep``: parseable and small.
- ``node_not_allowed``: only plain computation syntax (no classes, ``with``, ``yield``,
  ``async``, ``match`` ...); ``global_nonlocal``; ``decorator``.
- ``import_not_allowed``: imports only from :data:`ALLOWED_MODULES`; no relative or star
  imports.
- ``underscore_name``: no name, attribute, argument or keyword starting with ``_``.
- ``forbidden_builtin``: builtins outside :data:`ALLOWED_BUILTINS` (``exec``, ``eval``,
  ``open``, ``getattr`` ...); ``type_three_args``.
- ``forbidden_attribute``: attributes that reach files, processes, the network,
  interpreter internals or code evaluation, whatever object they are read from
  (``read_csv``, ``to_csv``, ``query``, ``eval``, ``load``, ``os``, ``gi_frame`` ...).
- ``module_attribute``: ``np.x.y`` chains are resolved against the real modules; reaching
  a module outside the allow-list (``np.char``, ``scipy.io``) or a missing attribute fails.
- ``module_alias``: an imported module may only be used through its attributes
  (``x = np`` or ``f(np)`` would hide later attribute accesses from the check).
- ``format_string``: ``str.format``/``format_map``/``format()`` and f-strings with a
  computed format spec.
- ``string_dispatch``: ``apply``/``agg``/``aggregate``/``transform`` (and ``pipe``) look a
  string up as a method name (pandas even falls back to ``getattr(numpy, name)``), on
  frames, series, groupby, rolling, expanding, ewm and resample objects alike, so their
  function argument (first positional, ``func=``/``arg=``/``aggfunc=``, named
  aggregations, ``pivot_table``/``crosstab``/``NamedAgg``) must be a lambda, a function
  defined in the source, a module function (``np.mean``), an allowed builtin or a
  literal reducer name (``"mean"``) — never a variable; their further positional
  arguments are numbers or axis names. Anywhere in the source, a string value naming a
  dangerous method (``"eval"``, ``"query"``, ``"to_csv"``, ``"load"``, ``"pipe"``, dunders
  ... see :func:`dangerous_method_names`) is refused; dict keys and subscripts are labels.
- ``call_unpacking``: no ``*args`` or ``**kwargs`` unpacking in calls (it hides which
  function or method name a call receives).
- ``rebinding``: builtins and the source's own functions may not be rebound (assignment,
  walrus, loop or comprehension target, argument, ``except ... as``, import alias), so a
  name accepted as a function above is that function (``str = "eval"`` would otherwise
  pass ``data.agg(str, ...)``).
- ``forbidden_keyword``: keywords that open files or choose execution engines
  (``engine=``, ``backend=``, ``allow_pickle=``, ``buffer=`` ...).
- ``literal_too_large``, ``huge_number``: literal sizes and constant powers/shifts.
- ``huge_allocation``: array constructors (``np.ones``, ``np.zeros``, ``np.arange``,
  random draws ...) and ``range`` with a constant size above :data:`MAX_ALLOCATION`.
- ``infinite_loop``: ``while True`` (or another constant condition) with no ``break``,
  ``return`` or ``raise`` inside; ``recursion``: functions that call themselves, directly
  or through each other (loops and vectorised code do the same without the stack).
- ``contract``, ``top_level_code``: exactly one ``run(data, ...)`` whose parameter
  defaults are literals; only imports, functions, constants and a docstring at top level.
"""

from __future__ import annotations

import ast
import builtins
import functools
import importlib
import math
import types
from dataclasses import dataclass
from typing import Any

MAX_SOURCE_BYTES = 64_000
MAX_NODES = 5_000
MAX_DEPTH = 80
MAX_STR_LITERAL = 10_000
MAX_INT_LITERAL_DIGITS = 30
MAX_COLLECTION_LITERAL = 2_000
MAX_EXPONENT = 10_000
MAX_REPEAT = 10_000_000
MAX_ALLOCATION = 100_000_000
ALLOCATING_CALLS = frozenset(
    {
        "ones", "zeros", "empty", "full", "arange", "linspace", "logspace", "geomspace",
        "eye", "identity", "tri", "rand", "randn", "random", "random_sample", "normal",
        "uniform", "standard_normal", "integers", "choice", "permutation", "repeat", "tile",
        "date_range", "bdate_range", "period_range", "timedelta_range", "range",
    }
)  # fmt: skip

# What `import` may name (also the dotted paths an attribute chain may reach, e.g.
# ``np.random`` is the path ``numpy.random``).
ALLOWED_MODULES = frozenset(
    {
        "math",
        "cmath",
        "statistics",
        "random",
        "datetime",
        "decimal",
        "fractions",
        "itertools",
        "bisect",
        "heapq",
        "numpy",
        "numpy.linalg",
        "numpy.random",
        "numpy.fft",
        "numpy.polynomial",
        "numpy.emath",
        "pandas",
        "pandas.offsets",
        "pandas.tseries",
        "pandas.tseries.offsets",
        "scipy",
        "scipy.stats",
        "scipy.stats.mstats",
        "scipy.stats.distributions",
        "scipy.special",
        "scipy.optimize",
        "scipy.linalg",
        "scipy.interpolate",
        "scipy.signal",
        "scipy.integrate",
        "scipy.fft",
    }
)

ALLOWED_BUILTINS = frozenset(
    {
        "abs",
        "all",
        "any",
        "ascii",
        "bin",
        "bool",
        "bytes",
        "callable",
        "chr",
        "complex",
        "dict",
        "divmod",
        "enumerate",
        "filter",
        "float",
        "frozenset",
        "hash",
        "hex",
        "int",
        "isinstance",
        "issubclass",
        "iter",
        "len",
        "list",
        "map",
        "max",
        "min",
        "next",
        "oct",
        "ord",
        "pow",
        "print",
        "range",
        "repr",
        "reversed",
        "round",
        "set",
        "slice",
        "sorted",
        "str",
        "sum",
        "tuple",
        "type",  # one argument only (rule type_three_args)
        "zip",
        "True",
        "False",
        "None",
        "Ellipsis",
        "NotImplemented",
        "ArithmeticError",
        "AssertionError",
        "Exception",
        "FloatingPointError",
        "IndexError",
        "KeyError",
        "LookupError",
        "NotImplementedError",
        "OverflowError",
        "RuntimeError",
        "StopIteration",
        "TypeError",
        "ValueError",
        "ZeroDivisionError",
    }
)
_BUILTIN_NAMES = frozenset(dir(builtins))

# Attribute names refused on any object. Grouped by why.
_MODULE_NAMES = {
    "os", "sys", "subprocess", "socket", "importlib", "pickle", "cPickle", "marshal",
    "ctypes", "ctypeslib", "builtins", "shutil", "pathlib", "io", "threading",
    "multiprocessing", "concurrent", "asyncio", "signal", "resource", "gc", "inspect",
    "types", "weakref", "code", "codeop", "pty", "tempfile", "glob", "fcntl", "mmap",
    "platform", "atexit", "urllib", "http", "ftplib", "smtplib", "ssl", "select",
    "selectors", "posix", "nt", "runpy", "imp", "pkgutil", "zipimport", "site",
    "sysconfig", "traceback", "linecache", "tokenize", "zipfile", "tarfile", "gzip", "bz2",
    "lzma", "sqlite3", "dbm", "shelve", "copyreg", "webbrowser", "requests", "fsspec",
    "numba", "cffi", "dill", "cloudpickle", "joblib", "lib", "core", "compat", "testing",
    "distutils", "f2py", "api", "util", "utils", "plotting", "tests", "conftest", "libs",
    "errors", "config", "warnings", "logging", "contextlib", "functools", "operator",
}  # fmt: skip
_INTROSPECTION = {
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "gi_suspended", "cr_frame",
    "cr_code", "cr_await", "cr_running", "ag_frame", "ag_code", "ag_await", "ag_running",
    "tb_frame", "tb_next", "tb_lasti", "tb_lineno", "f_back", "f_globals", "f_locals",
    "f_builtins", "f_code", "f_trace", "f_lasti", "f_lineno", "co_code", "co_consts",
    "co_names", "co_varnames", "co_filename", "func_globals", "func_code", "func_closure",
    "cell_contents", "mro", "with_traceback", "im_func", "im_self", "im_class",
}  # fmt: skip
_IO_AND_EVAL = {
    "load", "loads", "save", "savez", "savez_compressed", "savetxt", "loadtxt",
    "genfromtxt", "fromfile", "tofile", "fromregex", "memmap", "dump", "dumps",
    "DataSource", "open", "query", "eval", "exec", "system", "popen", "spawn", "fork",
    "style", "plot", "hist", "boxplot", "set_option", "get_option", "option_context",
    "options", "describe_option", "reset_option", "show_versions", "show_config",
    "show_runtime", "info", "lookfor", "source", "get_include", "ExcelWriter", "ExcelFile",
    "HDFStore", "as_strided", "data_as", "setflags", "register_dataframe_accessor",
    "register_series_accessor", "register_index_accessor", "LowLevelCallable",
    "datasets", "seterrcall", "test", "bench",
}  # fmt: skip
FORBIDDEN_ATTRIBUTES = frozenset(_MODULE_NAMES | _INTROSPECTION | _IO_AND_EVAL)
FORBIDDEN_ATTRIBUTE_PREFIXES = ("read_", "gi_", "cr_", "ag_", "tb_", "f_", "co_", "func_")
# to_* methods that only convert in memory; every other to_* writes or serialises.
SAFE_TO_METHODS = frozenset(
    {
        "to_numpy",
        "to_list",
        "to_dict",
        "to_frame",
        "to_datetime",
        "to_numeric",
        "to_timedelta",
        "to_period",
        "to_timestamp",
        "to_series",
        "to_flat_index",
        "to_offset",
        "to_pydatetime",
        "to_records",
    }
)
FORMAT_ATTRIBUTES = frozenset({"format", "format_map"})
# Methods whose function argument may be a string that pandas looks up as a method name
# (``data.agg("eval", ...)`` calls ``data.eval``), on frames, series, groupby, rolling,
# expanding, ewm and resample objects alike; ``pipe`` only takes callables but is held to
# the same rule. Functions with a keyword that does the same (``aggfunc=``).
STRING_DISPATCH_METHODS = frozenset({"apply", "agg", "aggregate", "transform", "pipe"})
DISPATCH_KEYWORDS = frozenset({"func", "arg", "aggfunc"})
DISPATCH_FUNCTIONS = frozenset({"pivot_table", "crosstab", "NamedAgg"})
# Strings an extra positional argument of a dispatch call may be (an axis name).
AXIS_NAMES = frozenset({"index", "columns", "rows"})
DISPATCHERS = STRING_DISPATCH_METHODS | {"map", "applymap", "pipe"}
SAFE_REDUCERS = frozenset(
    {
        "sum", "mean", "median", "std", "var", "min", "max", "count", "first", "last",
        "prod", "sem", "skew", "kurt", "kurtosis", "quantile", "nunique", "size", "cumsum",
        "cumprod", "cummax", "cummin", "abs", "rank", "pct_change", "diff", "shift",
        "idxmax", "idxmin", "any", "all", "ohlc", "mad",
    }
)  # fmt: skip
FORBIDDEN_KEYWORDS = frozenset(
    {
        "engine",
        "engine_kwargs",
        "backend",
        "storage_options",
        "allow_pickle",
        "buffer",
        "strides",
        "path_or_buf",
        "filepath_or_buffer",
        "buf",
        "fname",
        "file",
        "mmap_mode",
    }
)
RESERVED_PARAMETERS = frozenset({"data", "symbols", "start", "end", "source", "version", "name"})

_ALLOWED_NODES: tuple[type, ...] = (
    ast.Module, ast.FunctionDef, ast.arguments, ast.arg, ast.Return, ast.Assign,
    ast.AugAssign, ast.AnnAssign, ast.For, ast.While, ast.If, ast.Break, ast.Continue,
    ast.Pass, ast.Expr, ast.Try, ast.ExceptHandler, ast.Raise, ast.Assert, ast.Delete,
    ast.Import, ast.ImportFrom, ast.alias, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare,
    ast.Call, ast.keyword, ast.IfExp, ast.Lambda, ast.Dict, ast.Set, ast.List, ast.Tuple,
    ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension,
    ast.Constant, ast.Name, ast.Attribute, ast.Subscript, ast.Slice, ast.Starred,
    ast.JoinedStr, ast.FormattedValue, ast.NamedExpr, ast.Load, ast.Store, ast.Del,
    ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop,
)  # fmt: skip


@dataclass(frozen=True)
class Violation:
    """Why a source was refused: the rule, the 1-based line (0 when unknown), a message."""

    rule: str
    line: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"ok": False, "rule": self.rule, "line": self.line, "error": self.message}

    def __str__(self) -> str:
        return f"{self.message} (rule {self.rule}, line {self.line})"


class ValidationFailed(Exception):
    def __init__(self, violation: Violation):
        super().__init__(str(violation))
        self.violation = violation


@dataclass(frozen=True)
class Parameter:
    """A declared parameter of ``run`` (everything after ``data``)."""

    name: str
    type: str  # integer | number | string | boolean | array
    default: Any = None
    required: bool = False


@dataclass(frozen=True)
class Report:
    """A valid source: its ``run`` parameters and the modules it imports."""

    parameters: tuple[Parameter, ...]
    imports: tuple[str, ...]
    accepts_kwargs: bool = False

    def parameter_schema(self) -> dict[str, Any]:
        return parameter_schema(self.parameters)


def parameter_schema(parameters: tuple[Parameter, ...] | list[Parameter]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for parameter in parameters:
        spec: dict[str, Any] = {"type": parameter.type}
        if parameter.type == "array":
            spec["items"] = {"type": "number"}
            if isinstance(parameter.default, list) and parameter.default:
                if all(isinstance(item, str) for item in parameter.default):
                    spec["items"] = {"type": "string"}
        if parameter.required:
            required.append(parameter.name)
        else:
            spec["default"] = parameter.default
        properties[parameter.name] = spec
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


# ---------------------------------------------------------------------------- helpers


def _line(node: ast.AST | None) -> int:
    return int(getattr(node, "lineno", 0) or 0)


def _forbidden_attribute_reason(name: str) -> str | None:
    if name in _MODULE_NAMES:
        return f"'{name}' is not allowed (it reaches a module outside the allow-list)"
    if name in _INTROSPECTION or name.startswith(("gi_", "cr_", "ag_", "tb_", "f_", "co_")):
        return f"'{name}' is not allowed (interpreter internals)"
    if name.startswith("func_"):
        return f"'{name}' is not allowed (interpreter internals)"
    if name in _IO_AND_EVAL:
        return f"'{name}' is not allowed (file, process or code-evaluation access)"
    if name.startswith("read_"):
        return f"'{name}' is not allowed (reads files or URLs); data comes in as `data`"
    if name.startswith("to_") and name not in SAFE_TO_METHODS:
        return (
            f"'{name}' is not allowed (writes or serialises); return the result instead. "
            f"Allowed conversions: {', '.join(sorted(SAFE_TO_METHODS))}"
        )
    return None


@functools.lru_cache(maxsize=1)
def dangerous_method_names() -> frozenset[str]:
    """Names a string argument must never be: attributes of the objects pandas and numpy
    dispatch strings on (frames, series, indexes, groupby, window and resample objects,
    arrays) that are refused as attributes (``eval``, ``query``, ``to_csv``, ``style`` ...),
    that dispatch again (``apply``, ``pipe`` ...) or that are dunders."""
    classes: list[Any] = []
    try:
        import numpy as np
        import pandas as pd
        from pandas.api import typing as pd_typing

        # numpy itself: pandas falls back to ``getattr(numpy, name)`` for unknown strings
        classes = [pd.DataFrame, pd.Series, pd.Index, np.ndarray, np]
        for name in (
            "DataFrameGroupBy", "SeriesGroupBy", "Rolling", "Expanding",
            "ExponentialMovingWindow", "Resampler", "Window",
        ):  # fmt: skip
            found = getattr(pd_typing, name, None)
            if found is not None:
                classes.append(found)
    except ImportError:  # without pandas nothing can dispatch on these strings
        pass
    names: set[str] = set()
    for klass in classes:
        for name in dir(klass):
            dunder = name.startswith("__") and name.endswith("__")
            if dunder or name in DISPATCHERS or _forbidden_attribute_reason(name):
                names.add(name)
    return frozenset(names)


def _module_allowed(path: str) -> bool:
    return path in ALLOWED_MODULES


def _import_module(path: str) -> types.ModuleType | None:
    try:
        return importlib.import_module(path)
    except Exception:  # an allowed module missing here fails at run time instead
        return None


def _const_number(node: ast.AST) -> float | None:
    """The magnitude of a constant numeric expression, else None. Magnitudes saturate at
    1e300; ``inf`` means more than MAX_EXPONENT digits (too big to compute safely)."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        try:
            return min(float(abs(value)), 1e300)
        except OverflowError:
            return 1e300
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _const_number(node.operand)
    if isinstance(node, ast.BinOp):
        left, right = _const_number(node.left), _const_number(node.right)
        if left is None or right is None:
            return None
        if math.inf in (left, right) and not isinstance(node.op, (ast.Div, ast.FloorDiv)):
            return math.inf
        if isinstance(node.op, ast.Pow):
            if left <= 1:
                return left
            digits = right * math.log10(left)
            if digits > MAX_EXPONENT:
                return math.inf
            return 1e300 if digits > 300 else left**right
        if isinstance(node.op, ast.LShift):
            if right * math.log10(2) > MAX_EXPONENT:
                return math.inf
            return 1e300 if right > 900 else min(left * 2.0**right, 1e300)
        if isinstance(node.op, ast.Mult):
            return min(left * right, 1e300)
        if isinstance(node.op, (ast.Add, ast.Sub)):
            return min(left + right, 1e300)
        return None
    return None


def _const_size(node: ast.AST) -> float | None:
    """A constant size argument: a number, or the product of a constant shape tuple."""
    if isinstance(node, (ast.Tuple, ast.List)):
        sizes = [_const_number(item) for item in node.elts]
        known = [size for size in sizes if size is not None]
        if not sizes or len(known) != len(sizes):
            return None
        product = 1.0
        for size in known:
            product = min(product * size, 1e300)
        return product
    return _const_number(node)


def _can_leave(body: list[ast.stmt]) -> bool:
    """Whether a loop body contains a break (not inside a nested loop), return or raise."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Return, ast.Raise)):
            return True
        if isinstance(node, ast.Break):
            return True
        if isinstance(node, (ast.For, ast.While)):
            # a break in a nested loop leaves only that loop; returns and raises still count
            stack.extend(
                inner for inner in ast.walk(node) if isinstance(inner, (ast.Return, ast.Raise))
            )
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.FunctionDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _sequence_length(node: ast.AST) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return len(node.value)
    if isinstance(node, (ast.List, ast.Tuple)):
        return len(node.elts)
    return None


def _literal(node: ast.AST) -> Any:
    return ast.literal_eval(node)


def _parameter_type(annotation: ast.AST | None, default: Any) -> str:
    if isinstance(annotation, ast.Name):
        mapped = {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}
        if annotation.id in mapped:
            return mapped[annotation.id]
        if annotation.id in ("list", "tuple"):
            return "array"
    if isinstance(default, bool):
        return "boolean"
    if isinstance(default, int):
        return "integer"
    if isinstance(default, float):
        return "number"
    if isinstance(default, str):
        return "string"
    if isinstance(default, (list, tuple)):
        return "array"
    return "number"


# ---------------------------------------------------------------------------- checker


class _Checker:
    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.module_aliases: dict[str, str] = {}  # local name -> dotted module path
        self.function_names: set[str] = set()
        self.imports: list[str] = []
        self.attribute_values: set[int] = set()  # ids of Name nodes used as Attribute.value
        self.called: set[int] = set()  # ids of nodes used as Call.func
        # ids of string constants that are docstrings, dict keys or subscripts (labels,
        # never looked up as methods)
        self.label_strings: set[int] = set()

    def fail(self, rule: str, node: ast.AST | None, message: str) -> None:
        raise ValidationFailed(Violation(rule, _line(node), message))

    # -- passes -----------------------------------------------------------------------
    def run(self) -> Report:
        nodes = list(ast.walk(self.tree))
        for node in nodes:
            if not isinstance(node, _ALLOWED_NODES):
                self._node_not_allowed(node)
        for node in nodes:
            if isinstance(node, ast.FunctionDef):
                self.function_names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                self._check_import(node)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                self.attribute_values.add(id(node.value))
            elif isinstance(node, ast.Call):
                self.called.add(id(node.func))
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                self.label_strings.add(id(node.value))
            elif isinstance(node, ast.Dict):
                self.label_strings.update(id(key) for key in node.keys if key is not None)
            elif isinstance(node, ast.Subscript):
                slices = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                self.label_strings.update(id(item) for item in slices)
        for node in nodes:
            self._check_node(node)
        self._check_recursion(nodes)
        return self._check_contract()

    def _node_not_allowed(self, node: ast.AST) -> None:
        if isinstance(node, (ast.Global, ast.Nonlocal)):
            self.fail("global_nonlocal", node, "global and nonlocal are not allowed")
        names = {
            ast.ClassDef: "class definitions",
            ast.AsyncFunctionDef: "async functions",
            ast.Await: "await",
            ast.Yield: "generators (yield)",
            ast.YieldFrom: "generators (yield from)",
            ast.With: "with statements",
            ast.AsyncWith: "async with",
            ast.AsyncFor: "async for",
        }
        what = next((label for kind, label in names.items() if isinstance(node, kind)), None)
        what = what or f"'{type(node).__name__}' syntax"
        self.fail("node_not_allowed", node, f"{what} are not allowed in a dynamic action")

    # -- imports ----------------------------------------------------------------------
    def _check_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                path = alias.name
                self._check_identifier(alias.asname or path.split(".")[0], node)
                if not _module_allowed(path):
                    self.fail(
                        "import_not_allowed",
                        node,
                        f"import of '{path}' is not allowed; allowed modules: "
                        f"{', '.join(sorted(ALLOWED_MODULES))}",
                    )
                self.imports.append(path)
                if alias.asname:
                    self.module_aliases[alias.asname] = path
                else:
                    root = path.split(".")[0]
                    self.module_aliases[root] = root
            return
        if node.level:
            self.fail("import_not_allowed", node, "relative imports are not allowed")
        base = node.module or ""
        if not _module_allowed(base):
            self.fail("import_not_allowed", node, f"import from '{base}' is not allowed")
        self.imports.append(base)
        module = _import_module(base)
        for alias in node.names:
            if alias.name == "*":
                self.fail("import_not_allowed", node, "'from ... import *' is not allowed")
            self._check_identifier(alias.name, node)
            self._check_identifier(alias.asname or alias.name, node)
            reason = _forbidden_attribute_reason(alias.name)
            if reason:
                self.fail("forbidden_attribute", node, f"importing {reason}")
            if alias.name in FORMAT_ATTRIBUTES:
                self.fail("format_string", node, "format functions are not allowed")
            target = f"{base}.{alias.name}"
            value = None
            if module is not None:
                value = getattr(module, alias.name, None)
                if value is None:
                    value = _import_module(target)
                if value is None:
                    self.fail("module_attribute", node, f"module '{base}' has no '{alias.name}'")
            if isinstance(value, types.ModuleType):
                if not _module_allowed(target):
                    self.fail(
                        "module_attribute",
                        node,
                        f"'{target}' is a module outside the allow-list",
                    )
                self.module_aliases[alias.asname or alias.name] = target

    # -- per node ---------------------------------------------------------------------
    def _check_identifier(self, name: str | None, node: ast.AST) -> None:
        if name and name.startswith("_"):
            self.fail(
                "underscore_name", node, f"names starting with '_' are not allowed ('{name}')"
            )

    def _check_binding(self, name: str | None, node: ast.AST, function: bool = False) -> None:
        """A name bound by an assignment, argument, loop, import, ``except`` or ``def``.

        Builtins and the source's own functions keep their meaning everywhere: a string
        bound to ``str`` (or to a helper's name) would otherwise pass as a function where a
        callable is checked (``str = "eval"; data.agg(str, ...)``)."""
        if not name:
            return
        if name in _BUILTIN_NAMES:
            self.fail("rebinding", node, f"'{name}' is a builtin and may not be rebound")
        if name in self.function_names and not function:
            self.fail(
                "rebinding", node, f"'{name}' is a function defined here and may not be rebound"
            )
        if function and name in self.module_aliases:
            self.fail("module_alias", node, f"'{name}' rebinds an imported module")

    def _check_node(self, node: ast.AST) -> None:
        if isinstance(node, ast.Name):
            self._check_name(node)
            if not isinstance(node.ctx, ast.Load):
                self._check_binding(node.id, node)
        elif isinstance(node, ast.Attribute):
            self._check_attribute(node)
        elif isinstance(node, ast.FunctionDef):
            self._check_identifier(node.name, node)
            self._check_binding(node.name, node, function=True)
            if node.decorator_list:
                self.fail("decorator", node.decorator_list[0], "decorators are not allowed")
        elif isinstance(node, ast.arg):
            self._check_identifier(node.arg, node)
            if node.arg in self.module_aliases:
                self.fail("module_alias", node, f"'{node.arg}' rebinds an imported module")
            self._check_binding(node.arg, node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if bound != "*":
                    self._check_binding(bound, node)
        elif isinstance(node, ast.keyword):
            if node.arg is None:
                self.fail(
                    "call_unpacking",
                    node.value,
                    "'**' unpacking in a call is not allowed; pass keywords by name",
                )
            self._check_identifier(node.arg, node)
            if node.arg in FORBIDDEN_KEYWORDS:
                self.fail(
                    "forbidden_keyword",
                    node.value,
                    f"the keyword '{node.arg}=' is not allowed (files, buffers or engines)",
                )
        elif isinstance(node, ast.Call):
            self._check_call(node)
        elif isinstance(node, ast.Constant):
            self._check_constant(node)
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            if len(node.elts) > MAX_COLLECTION_LITERAL:
                self.fail("literal_too_large", node, "collection literal is too large")
        elif isinstance(node, ast.Dict):
            if len(node.keys) > MAX_COLLECTION_LITERAL:
                self.fail("literal_too_large", node, "dict literal is too large")
        elif isinstance(node, ast.BinOp):
            self._check_binop(node)
        elif isinstance(node, ast.FormattedValue):
            if node.format_spec is not None and any(
                isinstance(part, ast.FormattedValue) for part in ast.walk(node.format_spec)
            ):
                self.fail(
                    "format_string",
                    node,
                    "f-strings with a computed format spec are not allowed",
                )
        elif isinstance(node, ast.ExceptHandler):
            self._check_identifier(node.name, node)
            self._check_binding(node.name, node)
        elif isinstance(node, ast.While):
            self._check_while(node)
        elif isinstance(node, ast.alias):
            pass

    def _check_name(self, node: ast.Name) -> None:
        name = node.id
        self._check_identifier(name, node)
        if name == "format":
            self.fail("format_string", node, "format() is not allowed")
        if name in _BUILTIN_NAMES and name not in ALLOWED_BUILTINS:
            self.fail("forbidden_builtin", node, f"the builtin '{name}' is not allowed")
        if name == "type" and id(node) not in self.called:
            self.fail("type_three_args", node, "type may only be called, with one argument")
        if name in self.module_aliases:
            if not isinstance(node.ctx, ast.Load):
                self.fail("module_alias", node, f"'{name}' rebinds an imported module")
            if id(node) not in self.attribute_values:
                self.fail(
                    "module_alias",
                    node,
                    f"the module '{name}' may only be used through its attributes "
                    f"(e.g. {name}.mean)",
                )

    def _check_attribute(self, node: ast.Attribute) -> None:
        name = node.attr
        self._check_identifier(name, node)
        if name in FORMAT_ATTRIBUTES:
            self.fail("format_string", node, f"'.{name}' is not allowed; use an f-string")
        reason = _forbidden_attribute_reason(name)
        if reason:
            self.fail("forbidden_attribute", node, reason)
        chain = self._module_chain(node)
        if chain is not None:
            if not isinstance(node.ctx, ast.Load):
                self.fail("module_alias", node, "attributes of modules are read-only")
            for inner in chain[1]:  # the most specific complaint first (np.ctypeslib.x)
                self._check_identifier(inner, node)
                reason = _forbidden_attribute_reason(inner)
                if reason:
                    self.fail("forbidden_attribute", node, reason)
            self._resolve_chain(node, *chain)

    def _module_chain(self, node: ast.Attribute) -> tuple[str, list[str]] | None:
        """(module path, attribute names) when ``node`` is ``alias.a.b`` for an import."""
        names: list[str] = []
        current: ast.AST = node
        while isinstance(current, ast.Attribute):
            names.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name) and current.id in self.module_aliases:
            return self.module_aliases[current.id], list(reversed(names))
        return None

    def _resolve_chain(self, node: ast.Attribute, path: str, names: list[str]) -> None:
        value: Any = _import_module(path)
        if value is None:
            return
        for name in names:
            if not isinstance(value, types.ModuleType):
                return  # past the modules: the name rules above apply
            target = f"{path}.{name}"
            found = getattr(value, name, None)
            if found is None and name not in vars(value):
                found = _import_module(target) if _module_allowed(target) else None
                if found is None:
                    self.fail("module_attribute", node, f"module '{path}' has no '{name}'")
            if isinstance(found, types.ModuleType) and not _module_allowed(target):
                self.fail(
                    "module_attribute", node, f"'{target}' is a module outside the allow-list"
                )
            value, path = found, target

    def _check_call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        for argument in node.args:
            if isinstance(argument, ast.Starred):
                self.fail(
                    "call_unpacking",
                    argument,
                    "'*' unpacking in a call is not allowed; pass the arguments one by one",
                )
        for keyword in node.keywords:
            if keyword.arg is None:
                self.fail(
                    "call_unpacking",
                    keyword.value,
                    "'**' unpacking in a call is not allowed; pass keywords by name",
                )
        if called in ALLOCATING_CALLS:
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                size = _const_size(argument)
                if size is not None and size > MAX_ALLOCATION:
                    self.fail(
                        "huge_allocation",
                        node,
                        f"{called}() with a constant size above {MAX_ALLOCATION:,} is not allowed",
                    )
        if (
            isinstance(func, ast.Name)
            and func.id == "type"
            and (len(node.args) != 1 or node.keywords)
        ):
            self.fail("type_three_args", node, "type() may only be called with one argument")
        if isinstance(func, ast.Name) and func.id == "pow" and len(node.args) >= 2:
            exponent = _const_number(node.args[1])
            if exponent is not None and exponent > MAX_EXPONENT:
                self.fail("huge_number", node, "constant exponent is too large")
        if isinstance(func, ast.Attribute) and func.attr in STRING_DISPATCH_METHODS:
            self._check_dispatch_call(node, func.attr)
        elif called in DISPATCH_FUNCTIONS:
            # pivot_table(data, values, index, columns, aggfunc) / crosstab(index, columns,
            # values, rownames, colnames, aggfunc) / NamedAgg(column, aggfunc): by keyword
            position = {"pivot_table": 4, "crosstab": 5, "NamedAgg": 1}[called]
            if isinstance(func, ast.Attribute) and called == "pivot_table":
                position = 3  # data.pivot_table(values, index, columns, aggfunc)
            if len(node.args) > position:
                self._check_dispatch_argument(node.args[position], called)
            for keyword in node.keywords:
                if keyword.arg in DISPATCH_KEYWORDS:
                    self._check_dispatch_argument(keyword.value, called)

    def _check_dispatch_call(self, node: ast.Call, method: str) -> None:
        """``agg``/``apply``/``transform``/``pipe`` on any object: the function argument (the
        first positional, or ``func=``/``arg=``) is checked; further positional arguments are
        numbers or axis names (``pipe`` passes them to its function); without a function
        every keyword is a named aggregation (``total=("AAPL", "sum")``) whose function is
        checked."""
        functions = [k.value for k in node.keywords if k.arg in DISPATCH_KEYWORDS]
        if node.args:
            functions.insert(0, node.args[0])
        for candidate in functions:
            self._check_dispatch_argument(candidate, method)
        for extra in node.args[1:] if method != "pipe" else ():  # pipe: the function's
            if isinstance(extra, ast.Constant) and isinstance(extra.value, str):
                if extra.value not in AXIS_NAMES:
                    self.fail(
                        "string_dispatch",
                        extra,
                        f".{method}() takes an axis name or a number here, not "
                        f"'{extra.value[:40]}'",
                    )
        if functions:
            return
        for keyword in node.keywords:
            value = keyword.value
            if isinstance(value, ast.Tuple) and len(value.elts) == 2:
                self._check_dispatch_argument(value.elts[1], method)
            elif isinstance(value, ast.Call) and getattr(value.func, "attr", None) == "NamedAgg":
                continue  # checked as a call of its own
            else:
                self._check_dispatch_argument(value, method)

    def _check_dispatch_argument(self, node: ast.AST, method: str) -> None:
        if isinstance(node, ast.Lambda):
            return
        if isinstance(node, ast.Name) and (
            node.id in self.function_names or node.id in ALLOWED_BUILTINS
        ):
            return
        if isinstance(node, ast.Attribute) and self._module_chain(node) is not None:
            return
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in SAFE_REDUCERS:
                return
            self.fail(
                "string_dispatch",
                node,
                f".{method}('{node.value}') would look up a method by name; use one of "
                f"{', '.join(sorted(SAFE_REDUCERS))} or pass a function",
            )
        if isinstance(node, (ast.List, ast.Tuple)):
            for item in node.elts:
                self._check_dispatch_argument(item, method)
            return
        if isinstance(node, ast.Dict):
            for item in node.values:
                self._check_dispatch_argument(item, method)
            return
        self.fail(
            "string_dispatch",
            node,
            f".{method}() needs a lambda, a function defined here, a module function "
            f"(e.g. np.mean) or a reducer name as a literal string",
        )

    def _check_constant(self, node: ast.Constant) -> None:
        value = node.value
        if (
            isinstance(value, str)
            and id(node) not in self.label_strings
            and value in dangerous_method_names()
        ):
            self.fail(
                "string_dispatch",
                node,
                f"the string '{value[:40]}' names a method pandas could call by name "
                "(code evaluation, files or another dispatch); it may not appear as a value",
            )
        if isinstance(value, (str, bytes)) and len(value) > MAX_STR_LITERAL:
            self.fail("literal_too_large", node, "string literal is too large")
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 10**MAX_INT_LITERAL_DIGITS:
                self.fail("literal_too_large", node, "integer literal is too large")

    def _check_binop(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Pow):
            exponent = _const_number(node.right)
            if exponent is not None and exponent > MAX_EXPONENT:
                self.fail("huge_number", node, "constant exponent is too large")
        if isinstance(node.op, ast.LShift):
            shift = _const_number(node.right)
            if shift is not None and shift > MAX_EXPONENT:
                self.fail("huge_number", node, "constant shift is too large")
        if isinstance(node.op, ast.Mult):
            for sequence, count in ((node.left, node.right), (node.right, node.left)):
                length, times = _sequence_length(sequence), _const_number(count)
                if length is not None and times is not None and length * times > MAX_REPEAT:
                    self.fail("huge_number", node, "repeated literal would be too large")
        magnitude = _const_number(node)
        if magnitude is not None and magnitude == math.inf:
            self.fail("huge_number", node, "constant expression is too large")

    def _check_while(self, node: ast.While) -> None:
        test = node.test
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            constant = test.operand
            truthy = isinstance(constant, ast.Constant) and not constant.value
        else:
            truthy = isinstance(test, ast.Constant) and bool(test.value)
        if truthy and not _can_leave(node.body):
            self.fail(
                "infinite_loop",
                node,
                "this loop can never end (constant condition and no break, return or raise)",
            )

    def _check_recursion(self, nodes: list[ast.AST]) -> None:
        bodies: dict[str, list[ast.AST]] = {}
        for node in nodes:
            if isinstance(node, ast.FunctionDef):
                bodies.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        bodies.setdefault(target.id, []).append(node.value)
        calls: dict[str, set[str]] = {}
        for name, definitions in bodies.items():
            found = calls.setdefault(name, set())
            for definition in definitions:
                for inner in ast.walk(definition):
                    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name):
                        if inner.func.id in bodies:
                            found.add(inner.func.id)
        for start in calls:
            stack, seen = list(calls[start]), set()
            while stack:
                current = stack.pop()
                if current == start:
                    self.fail(
                        "recursion",
                        bodies[start][0],
                        f"'{start}' calls itself (directly or through other functions); "
                        "use a loop or vectorised code",
                    )
                if current not in seen:
                    seen.add(current)
                    stack.extend(calls.get(current, ()))

    # -- contract ---------------------------------------------------------------------
    def _check_contract(self) -> Report:
        runs = []
        for statement in self.tree.body:
            if isinstance(statement, ast.FunctionDef):
                if statement.name == "run":
                    runs.append(statement)
                continue
            if isinstance(statement, (ast.Import, ast.ImportFrom)):
                continue
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
                continue
            if isinstance(statement, (ast.Assign, ast.AnnAssign)):
                targets = (
                    statement.targets if isinstance(statement, ast.Assign) else [statement.target]
                )
                if all(isinstance(t, ast.Name) for t in targets) and statement.value is not None:
                    try:
                        _literal(statement.value)
                        continue
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        pass
            self.fail(
                "top_level_code",
                statement,
                "only imports, functions, constants and a docstring may appear at top level; "
                "put the computation inside run()",
            )
        if len(runs) != 1:
            self.fail(
                "contract",
                runs[1] if runs else None,
                "define exactly one function `run(data, **params)` at top level",
            )
        run = runs[0]
        args = run.args
        positional = [*args.posonlyargs, *args.args]
        if not positional:
            self.fail("contract", run, "run() must take the price DataFrame as first argument")
        if args.vararg is not None:
            self.fail("contract", run, "run() may not take *args; declare named parameters")
        parameters: list[Parameter] = []
        defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
        pairs = list(zip(positional[1:], defaults[1:], strict=True))
        pairs += list(zip(args.kwonlyargs, args.kw_defaults, strict=True))
        for arg, default_node in pairs:
            if arg.arg in RESERVED_PARAMETERS:
                self.fail("contract", arg, f"'{arg.arg}' is a reserved parameter name")
            default = None
            if default_node is not None:
                try:
                    default = _literal(default_node)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    self.fail(
                        "contract",
                        default_node,
                        f"the default of '{arg.arg}' must be a literal (number, string, "
                        "bool, None or a list of them)",
                    )
                if isinstance(default, tuple):
                    default = list(default)
            parameters.append(
                Parameter(
                    arg.arg,
                    _parameter_type(arg.annotation, default),
                    default,
                    required=default_node is None,
                )
            )
        return Report(tuple(parameters), tuple(self.imports), accepts_kwargs=args.kwarg is not None)


def _depth(tree: ast.AST) -> int:
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _count(tree: ast.AST, limit: int) -> int:
    count = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return count
        stack.extend(ast.iter_child_nodes(node))
    return count


def inspect_source(source: str) -> Report:
    """Validate ``source``; returns its :class:`Report` or raises :class:`ValidationFailed`."""
    if not isinstance(source, str):
        raise ValidationFailed(Violation("syntax", 0, "the source must be text"))
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > MAX_SOURCE_BYTES:
        raise ValidationFailed(
            Violation(
                "source_too_large", 0, f"source is {size} bytes; the limit is {MAX_SOURCE_BYTES}"
            )
        )
    try:
        tree = ast.parse(source, filename="<dynamic>", mode="exec")
    except SyntaxError as error:
        raise ValidationFailed(
            Violation("syntax", int(error.lineno or 0), f"syntax error: {error.msg}")
        ) from None
    except ValueError as error:
        raise ValidationFailed(Violation("syntax", 0, f"cannot parse: {error}")) from None
    except (RecursionError, MemoryError):
        raise ValidationFailed(Violation("too_deep", 0, "the code is nested too deeply")) from None
    if _count(tree, MAX_NODES) > MAX_NODES:
        raise ValidationFailed(
            Violation("too_many_nodes", 0, f"more than {MAX_NODES} syntax nodes")
        )
    if _depth(tree) > MAX_DEPTH:
        raise ValidationFailed(Violation("too_deep", 0, f"nesting deeper than {MAX_DEPTH}"))
    try:
        return _Checker(tree).run()
    except RecursionError:
        raise ValidationFailed(Violation("too_deep", 0, "the code is nested too deeply")) from None


def validate(source: str) -> Violation | None:
    """None when ``source`` passes every rule, else the first :class:`Violation`."""
    try:
        inspect_source(source)
    except ValidationFailed as failed:
        return failed.violation
    return None
