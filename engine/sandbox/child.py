"""The sandbox child: runs ONE dynamic action in a fresh interpreter, then exits.

Started by :mod:`engine.sandbox.runner` as ``python -I -S -B child.py`` with an empty
environment, its own session (process group) and a private temporary working
directory holding ``request.json`` and ``data.json``. It imports only the standard
library until it has locked itself down, and never imports the project (``engine``).

Order of operations (each step before any user code runs):

1. read the request; resource limits (address space, CPU seconds, file size, no core
   files);
2. a new network namespace (``unshare(CLONE_NEWNET)``, or with a user namespace when
   unprivileged): no interface but a loopback that is down;
3. thread variables for the numeric libraries (``OPENBLAS_NUM_THREADS=1`` ...; the only
   environment the child ever has), then ``sys.path`` from the request and
   ``import numpy, pandas``; the price frame is built;
4. the output files are opened; open-files and process-count limits; Landlock (where
   the kernel has it): read-only access to the Python installation and system
   libraries, no write anywhere, no TCP, no signals or abstract sockets outside the
   sandbox; ``no_new_privs``;
5. seccomp (through libseccomp, where installed): no exec, fork, clone (threads),
   sockets, ptrace, namespaces, io_uring, kernel keyrings or modules, no signals or
   rlimit changes aimed at other processes;
6. the source is compiled and ``run(data, **params)`` called — with restricted builtins
   and a guarded ``__import__`` unless the runner turned validation off to test the
   layers above alone. ``print`` output is captured up to a cap.

The result (or the error) goes to the pre-opened ``result.json`` as plain JSON; the
layers actually applied go to ``layers.json`` before user code starts. The parent
treats both as untrusted data. The process leaves through ``os._exit`` so no
finaliser of user objects runs after the result is written.
"""

import ctypes
import json
import os
import resource
import signal
import sys

CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
PR_SET_NO_NEW_PRIVS = 38
PR_SET_DUMPABLE = 4

SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE = 1 << 0
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO_EPERM = 0x00050000 | 1
SCMP_CMP_NE = 1

DENIED_SYSCALLS = (
    "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace",
    "process_vm_readv", "process_vm_writev", "pidfd_open", "pidfd_getfd",
    "pidfd_send_signal", "tkill", "socket", "socketpair", "mount", "umount2", "pivot_root",
    "chroot", "setns", "unshare", "bpf", "perf_event_open", "keyctl", "add_key",
    "request_key", "init_module", "finit_module", "delete_module", "kexec_load",
    "kexec_file_load", "reboot", "swapon", "swapoff", "iopl", "ioperm", "userfaultfd",
    "io_uring_setup", "io_uring_enter", "io_uring_register", "personality", "acct",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "name_to_handle_at",
    "open_by_handle_at", "lookup_dcookie", "quotactl", "syslog", "kcmp", "fanotify_init",
    "memfd_create", "memfd_secret", "shmget", "msgget", "semget", "mq_open", "setrlimit",
    "vhangup", "uselib", "mknod", "mknodat", "sethostname", "setdomainname",
    "mount_setattr", "fsopen", "fsmount", "fspick", "open_tree", "move_mount",
)  # fmt: skip
# Allowed only when aimed at this process itself (argument 0 == own pid).
SELF_ONLY_SYSCALLS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")

THREAD_VARIABLES = (
    "OPENBLAS_NUM_THREADS",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


# ------------------------------------------------------------------------------ layers


def set_limits(limits, layers):
    mb = 1024 * 1024
    cpu = max(1, int(limits["cpu_seconds"]))
    applied = {}
    for name, resource_id, soft, hard in (
        ("address_space_mb", resource.RLIMIT_AS, limits["memory_mb"] * mb, None),
        ("cpu_seconds", resource.RLIMIT_CPU, cpu, cpu + 1),
        ("file_size_mb", resource.RLIMIT_FSIZE, limits["file_size_mb"] * mb, None),
        ("core_dumps", resource.RLIMIT_CORE, 0, None),
    ):
        hard = soft if hard is None else hard
        try:
            resource.setrlimit(resource_id, (soft, hard))
            applied[name] = soft // mb if name.endswith("_mb") else soft
        except (ValueError, OSError) as error:
            applied[name] = f"failed: {error}"
    layers["rlimits"] = applied


def late_limits(limits, layers):
    applied = layers.setdefault("rlimits", {})
    for name, resource_id, value in (
        ("open_files", resource.RLIMIT_NOFILE, limits["open_files"]),
        ("processes", resource.RLIMIT_NPROC, 0),
    ):
        try:
            _, hard = resource.getrlimit(resource_id)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            resource.setrlimit(resource_id, (value, value))
            applied[name] = value
        except (ValueError, OSError) as error:
            applied[name] = f"failed: {error}"
    if os.geteuid() == 0:
        applied["processes"] = "0 (not enforced for root; seccomp blocks fork and clone)"


def new_network_namespace(layers):
    libc = _libc()
    if libc.unshare(CLONE_NEWNET) == 0:
        layers["network_namespace"] = "new network namespace (no interfaces up)"
        return
    first = os.strerror(ctypes.get_errno())
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0:
        layers["network_namespace"] = "new user + network namespace (no interfaces up)"
        return
    layers["network_namespace"] = f"unavailable ({first})"


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def landlock(read_paths, layers):
    libc = _libc()
    abi = libc.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    if abi < 1:
        layers["landlock"] = f"unavailable ({os.strerror(ctypes.get_errno())})"
        return False
    handled_fs = (1 << 13) - 1  # ABI 1: execute .. make_sym
    if abi >= 2:
        handled_fs |= 1 << 13  # refer
    if abi >= 3:
        handled_fs |= 1 << 14  # truncate
    if abi >= 5:
        handled_fs |= 1 << 15  # ioctl_dev
    attr = _RulesetAttr(handled_fs, 0, 0)
    size = 8
    if abi >= 4:
        attr.handled_access_net = 0b11  # bind_tcp | connect_tcp, and no rule allows any
        size = 16
    if abi >= 6:
        attr.scoped = 0b11  # abstract unix sockets | signals
        size = 24
    ruleset = libc.syscall(
        ctypes.c_long(SYS_LANDLOCK_CREATE_RULESET),
        ctypes.byref(attr),
        ctypes.c_size_t(size),
        ctypes.c_uint32(0),
    )
    if ruleset < 0:
        layers["landlock"] = f"failed ({os.strerror(ctypes.get_errno())})"
        return False
    allowed = []
    for path in read_paths:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            is_dir = os.path.isdir(path)
            access = FS_READ_FILE | FS_EXECUTE | (FS_READ_DIR if is_dir else 0)
            rule = _PathBeneath(access, fd)
            if (
                libc.syscall(
                    ctypes.c_long(SYS_LANDLOCK_ADD_RULE),
                    ctypes.c_int(ruleset),
                    ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                    ctypes.byref(rule),
                    ctypes.c_uint32(0),
                )
                == 0
            ):
                allowed.append(path)
        finally:
            os.close(fd)
    libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if libc.syscall(ctypes.c_long(SYS_LANDLOCK_RESTRICT_SELF), ctypes.c_int(ruleset), 0) != 0:
        layers["landlock"] = f"failed ({os.strerror(ctypes.get_errno())})"
        os.close(ruleset)
        return False
    os.close(ruleset)
    parts = ["filesystem: read-only " + ", ".join(allowed) + "; no writes"]
    if abi >= 4:
        parts.append("tcp bind/connect denied")
    if abi >= 6:
        parts.append("signals and abstract unix sockets scoped to the sandbox")
    layers["landlock"] = f"ABI {abi}: " + "; ".join(parts)
    return True


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


def seccomp(layers):
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        layers["seccomp"] = "unavailable (libseccomp.so.2 not installed)"
        return False
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.restype = ctypes.c_int
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.restype = ctypes.c_int
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_void_p,
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    context = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not context:
        layers["seccomp"] = "failed (seccomp_init)"
        return False
    denied = []
    try:
        for name in DENIED_SYSCALLS:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                continue
            if lib.seccomp_rule_add_array(context, SCMP_ACT_ERRNO_EPERM, number, 0, None) == 0:
                denied.append(name)
        me = os.getpid()
        for name in SELF_ONLY_SYSCALLS:
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                continue
            compare = _ArgCmp(0, SCMP_CMP_NE, me, 0)
            if (
                lib.seccomp_rule_add_array(
                    context, SCMP_ACT_ERRNO_EPERM, number, 1, ctypes.addressof(compare)
                )
                == 0
            ):
                denied.append(name + "(others)")
        number = lib.seccomp_syscall_resolve_name(b"prlimit64")
        if number >= 0:
            rules = (
                (_ArgCmp * 2)(_ArgCmp(0, SCMP_CMP_NE, 0, 0), _ArgCmp(0, SCMP_CMP_NE, me, 0)),
                (_ArgCmp * 1)(_ArgCmp(2, SCMP_CMP_NE, 0, 0)),
            )
            for array in rules:
                lib.seccomp_rule_add_array(
                    context, SCMP_ACT_ERRNO_EPERM, number, len(array), ctypes.addressof(array)
                )
            denied.append("prlimit64(set or others)")
        if lib.seccomp_load(context) != 0:
            layers["seccomp"] = f"failed (seccomp_load: {os.strerror(ctypes.get_errno())})"
            return False
    finally:
        lib.seccomp_release(context)
    layers["seccomp"] = f"{len(denied)} system calls denied with EPERM: " + ", ".join(denied)
    return True


# --------------------------------------------------------------------------- user code


class CappedText:
    """A stdout replacement keeping the first ``limit`` characters of what is printed."""

    def __init__(self, limit):
        self.limit = limit
        self.parts = []
        self.size = 0
        self.dropped = 0

    def write(self, text):
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            kept = text[:room]
            self.parts.append(kept)
            self.size += len(kept)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self):
        return None

    def getvalue(self):
        value = "".join(self.parts)
        if self.dropped:
            value += f"\n[... {self.dropped} more characters of output dropped]"
        return value


def restricted_builtins(allowed_names, allowed_modules, stdout):
    import builtins

    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level != 0 or name not in allowed_modules:
            raise ImportError(f"import of '{name}' is not allowed in a dynamic action")
        for item in fromlist or ():
            if str(item).startswith("_"):
                raise ImportError(f"importing '{item}' is not allowed")
        return real_import(name, globals, locals, fromlist, level)

    def capped_print(*args, sep=" ", end="\n"):
        stdout.write(str(sep).join(str(arg) for arg in args) + str(end))

    namespace = {name: getattr(builtins, name) for name in allowed_names if hasattr(builtins, name)}
    namespace["__import__"] = guarded_import
    namespace["print"] = capped_print
    return namespace


def build_frame(payload):
    import numpy as np
    import pandas as pd

    values = np.array(payload["values"], dtype="float64").reshape(
        len(payload["index"]), len(payload["columns"])
    )
    index = pd.DatetimeIndex(pd.to_datetime(payload["index"]), name="date").as_unit("ns")
    return pd.DataFrame(values, index=index, columns=[str(c) for c in payload["columns"]])


def encode_index(index):
    import pandas as pd

    if isinstance(index, pd.DatetimeIndex):
        return {
            "kind": "datetime",
            "values": [None if v is pd.NaT else v.isoformat() for v in index],
        }
    labels = []
    for value in index:
        if isinstance(value, (bool, int, float, str)):
            labels.append(value)
        elif hasattr(value, "isoformat"):
            labels.append(value.isoformat())
        else:
            labels.append(str(value))
    return {"kind": "labels", "values": labels}


def finite_list(array):
    import numpy as np

    flat = np.asarray(array, dtype="float64")
    mask = np.isfinite(flat)
    return [float(v) if ok else None for v, ok in zip(flat.tolist(), mask.tolist(), strict=True)]


class ResultError(Exception):
    pass


def encode_number(value):
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        if abs(int(value)) > 2**63:
            raise ResultError("integer result is too large")
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if np.isfinite(number) else None
    raise ResultError(f"expected a number, got {type(value).__name__}")


def encode_result(value, max_cells):
    import pandas as pd

    if isinstance(value, pd.Series):
        value = value.to_frame(name=value.name if value.name is not None else "value")
        kind = "series"
    elif isinstance(value, pd.DataFrame):
        kind = "frame"
    else:
        kind = None
    if kind is not None:
        rows, columns = value.shape
        if rows * max(columns, 1) > max_cells:
            raise ResultError(f"the result has {rows} x {columns} cells; the limit is {max_cells}")
        try:
            numbers = value.to_numpy(dtype="float64", na_value=float("nan"))
        except (TypeError, ValueError):
            raise ResultError("every column of the result must be numeric") from None
        labels = [
            " | ".join(str(part) for part in c) if isinstance(c, tuple) else str(c)
            for c in value.columns
        ]
        return {
            "type": kind,
            "index": encode_index(value.index),
            "columns": labels,
            "data": [finite_list(row) for row in numbers],
        }
    if isinstance(value, dict):
        if len(value) > 10_000:
            raise ResultError("the result dict has more than 10000 entries")
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, (str, int, float)):
                raise ResultError("dict keys must be strings")
            encoded[str(key)] = encode_number(item)
        return {"type": "dict", "values": encoded}
    return {"type": "number", "value": encode_number(value)}


def user_line(error):
    import traceback

    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename == "<dynamic>":
            line = frame.lineno
    if line is None and isinstance(error, SyntaxError) and error.filename == "<dynamic>":
        line = error.lineno
    return line


def describe(error):
    try:
        text = f"{type(error).__name__}: {error}"
    except Exception:  # a hostile __str__
        text = type(error).__name__
    return text[:2000]


def write_json(fd, payload):
    data = json.dumps(payload, allow_nan=False).encode("utf-8")
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _active(value):
    text = str(value)
    return bool(value) and not text.startswith(("unavailable", "failed", "off"))


def main():
    with open("request.json", encoding="utf-8") as handle:
        request = json.load(handle)
    limits = request["limits"]
    # Writes past the file-size limit fail with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    layers = {
        "python": "isolated (-I -S -B), explicit sys.path",
        # Python itself may add LC_CTYPE (PEP 538 locale coercion) to an empty environment.
        "environment": "at start: ["
        + ", ".join(sorted(os.environ))
        + "]; while user code runs: "
        + ", ".join(f"{v}=1" for v in THREAD_VARIABLES),
    }
    set_limits(limits, layers)
    new_network_namespace(layers)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    sys.path[:] = list(request["sys_path"])
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    with open("data.json", encoding="utf-8") as handle:
        data = build_frame(json.load(handle))
    # Only the thread settings stay: numeric libraries loaded later (scipy's own BLAS)
    # read them when they start, and may not start threads (clone is denied below).
    for variable in list(os.environ):
        if variable not in THREAD_VARIABLES:
            del os.environ[variable]
    result_fd = os.open("result.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    layers_fd = os.open("layers.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    late_limits(limits, layers)
    landlock(request["read_paths"], layers)
    seccomp(layers)
    restricted = bool(request["restricted"])
    layers["in_process_guard"] = (
        "restricted builtins and guarded imports" if restricted else "off (validation skipped)"
    )
    write_json(layers_fd, layers)
    os.close(layers_fd)
    missing = [name for name in request.get("require", []) if not _active(layers.get(name))]
    if missing:  # fail closed: the operator required layers this machine did not grant
        write_json(
            result_fd,
            {
                "ok": False,
                "kind": "sandbox_unavailable",
                "error": "required sandbox layers are not available: " + ", ".join(missing),
            },
        )
        os._exit(0)

    stdout = CappedText(int(limits["max_output_chars"]))
    sys.stdout = stdout
    payload = run_user_code(request, data, restricted, stdout)
    payload["stdout"] = stdout.getvalue()
    try:
        write_json(result_fd, payload)
    except Exception as error:  # e.g. the result exceeded the file-size limit
        failure = {"ok": False, "kind": "invalid_result", "error": describe(error)}
        try:
            os.ftruncate(result_fd, 0)
            os.lseek(result_fd, 0, os.SEEK_SET)
            write_json(result_fd, failure)
        except Exception:  # noqa: S110 - the parent then reports the exit without a result
            pass
    os._exit(0)


def run_user_code(request, data, restricted, stdout):
    if restricted:
        sys.setrecursionlimit(int(request.get("recursion_limit", 1000)))
    try:
        code = compile(request["source"], "<dynamic>", "exec")
        namespace = {"__name__": "dynamic_action"}
        if restricted:
            namespace["__builtins__"] = restricted_builtins(
                request["builtins"], set(request["modules"]), stdout
            )
        exec(code, namespace)  # noqa: S102 - the point of the sandbox
        function = namespace.get("run")
        if not callable(function):
            return {"ok": False, "kind": "contract", "error": "the source defines no run()"}
        value = function(data, **request["params"])
        return {"ok": True, "result": encode_result(value, int(request["max_cells"]))}
    except MemoryError:
        return {"ok": False, "kind": "memory", "error": "MemoryError: out of memory"}
    except RecursionError as error:
        return {
            "ok": False,
            "kind": "recursion",
            "error": describe(error),
            "line": user_line(error),
        }
    except ResultError as error:
        return {"ok": False, "kind": "invalid_result", "error": str(error)}
    except BaseException as error:  # noqa: BLE001 - everything user code raises is reported
        if type(error).__name__ == "_ArrayMemoryError":
            return {"ok": False, "kind": "memory", "error": describe(error)}
        return {"ok": False, "kind": "error", "error": describe(error), "line": user_line(error)}


if __name__ == "__main__":
    main()
