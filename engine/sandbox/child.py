"""The sandbox child: runs ONE dynamic action in a fresh interpreter, then exits.

Started by :mod:`engine.sandbox.runner` as ``python -I -S -B child.py`` with an empty
environment, its own session (process group) and a private temporary working
directory holding ``request.json`` and ``data.json``. It imports only the standard
library until it has locked itself down, and never imports the project (``engine``).

Order of operations (each step before any user code runs):

1. read the request; resource limits (address space, CPU seconds, file size, no core
   files); a kernel timer that sends SIGKILL when the wall-clock limit (plus a margin)
   has passed, whatever the parent does;
2. a new network namespace (``unshare(CLONE_NEWNET)``, or with a user namespace when
   unprivileged): no interface but a loopback that is down;
3. thread variables for the numeric libraries (``OPENBLAS_NUM_THREADS=1`` ...; the only
   environment the child ever has), then ``sys.path`` from the request and
   ``import numpy, pandas``; the price frame is built; pandas' and numpy's
   code-evaluation, file and plotting entry points (``eval``, ``query``, ``read_*``,
   ``to_*`` writers, ``style``, ``pd.io``, ``load``/``save`` ...) are replaced by errors;
4. the output files are opened; open-files and process-count limits; Landlock (where
   the kernel has it): read-only access to the Python installation and system
   libraries, no write anywhere, no TCP, no signals or abstract sockets outside the
   sandbox; ``no_new_privs``;
5. seccomp (through libseccomp, where installed): no exec, fork, clone (threads),
   sockets, ptrace, namespaces, io_uring, kernel keyrings or modules, no POSIX timers
   (the watchdog stays armed), no signals, rlimit, priority, scheduling or affinity
   changes aimed at other processes; then every capability is dropped;
6. the source is compiled and ``run(data, **params)`` called — with restricted builtins
   and a guarded ``__import__`` unless the runner turned validation off to test the
   layers above alone. ``print`` output is captured up to a cap.

The result (or the error) goes to the pre-opened ``result.json`` as plain JSON; the
layers actually applied go to ``layers.json`` before user code starts. If a layer the
request requires was not granted (or ``disable_layers`` named it), the child writes a
``sandbox_unavailable`` refusal instead and never runs the user's code. The parent
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

# POSIX-timer calls: denied once the wall-clock timer is armed, so it cannot be removed.
TIMER_SYSCALLS = ("timer_create", "timer_settime", "timer_delete")
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
    "process_madvise", "process_mrelease", "set_mempolicy_home_node",
    *TIMER_SYSCALLS,
)  # fmt: skip
# Allowed only when aimed at this process itself (argument 0 == own pid).
SELF_ONLY_SYSCALLS = ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")
# Scheduling and memory-policy calls naming a process in argument 0: only the child's own
# pid (not even 0, "this process": libseccomp cannot compare one argument twice in a rule,
# and nothing the child runs needs these calls).
SELF_PID_SYSCALLS = (
    "sched_setscheduler", "sched_setparam", "sched_setaffinity", "sched_setattr",
    "migrate_pages", "move_pages",
)  # fmt: skip
# setpriority(which, who, prio) and ioprio_set(which, who, ioprio): ``which`` must be
# "one process" (PRIO_PROCESS == 0, IOPRIO_WHO_PROCESS == 1) and ``who`` the own pid.
WHICH_PROCESS = {"setpriority": 0, "ioprio_set": 1}
LAYER_NAMES = ("rlimits", "network_namespace", "landlock", "seccomp")

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
        # Both groups name a process in argument 0: only the child's own pid passes.
        for name in SELF_ONLY_SYSCALLS + SELF_PID_SYSCALLS:
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
        for name, which in WHICH_PROCESS.items():
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:
                continue
            rules = (
                (_ArgCmp * 1)(_ArgCmp(0, SCMP_CMP_NE, which, 0)),  # a group or a user
                (_ArgCmp * 1)(_ArgCmp(1, SCMP_CMP_NE, me, 0)),  # another process
            )
            added = [
                lib.seccomp_rule_add_array(
                    context, SCMP_ACT_ERRNO_EPERM, number, len(array), ctypes.addressof(array)
                )
                for array in rules
            ]
            if added == [0, 0]:
                denied.append(name + "(others)")
        number = lib.seccomp_syscall_resolve_name(b"prlimit64")
        if number >= 0:
            # any prlimit64 that sets a limit (argument 2 not NULL), on any process; reading
            # limits stays possible (glibc's getrlimit is prlimit64(0, ...)). libseccomp
            # cannot compare one argument twice in a rule, so "not 0 and not me" is not
            # expressible; setting was the harm.
            array = (_ArgCmp * 1)(_ArgCmp(2, SCMP_CMP_NE, 0, 0))
            if (
                lib.seccomp_rule_add_array(
                    context, SCMP_ACT_ERRNO_EPERM, number, 1, ctypes.addressof(array)
                )
                == 0
            ):
                denied.append("prlimit64(set)")
        if lib.seccomp_load(context) != 0:
            layers["seccomp"] = f"failed (seccomp_load: {os.strerror(ctypes.get_errno())})"
            return False
    finally:
        lib.seccomp_release(context)
    layers["seccomp"] = f"{len(denied)} system calls denied with EPERM: " + ", ".join(denied)
    return True


class _SigEvent(ctypes.Structure):  # struct sigevent (64 bytes on Linux)
    _fields_ = [
        ("value", ctypes.c_uint64),
        ("signo", ctypes.c_int),
        ("notify", ctypes.c_int),
        ("pad", ctypes.c_int * 12),
    ]


class _TimeSpec(ctypes.Structure):
    _fields_ = [("sec", ctypes.c_long), ("nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("interval", _TimeSpec), ("value", _TimeSpec)]


CLOCK_MONOTONIC = 1
SIGEV_SIGNAL = 0


def wall_clock_timer(seconds, layers):
    """A kernel timer that sends SIGKILL to this process after ``seconds`` of wall-clock
    time. It needs nothing from the parent: even a parent that user code stopped (SIGSTOP)
    or attached cannot keep the child running. seccomp then denies the timer calls, so
    user code cannot disarm it."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        create, settime = libc.timer_create, libc.timer_settime
    except (OSError, AttributeError):
        try:
            librt = ctypes.CDLL("librt.so.1", use_errno=True)
            create, settime = librt.timer_create, librt.timer_settime
        except (OSError, AttributeError):
            layers["wall_clock_timer"] = "unavailable (no timer_create)"
            return False
    if not seconds > 0:
        layers["wall_clock_timer"] = f"failed (invalid limit {seconds!r})"
        return False
    seconds = min(float(seconds), 10.0**7)  # also turns an infinite limit into ~4 months
    event = _SigEvent(0, signal.SIGKILL, SIGEV_SIGNAL)
    timer = ctypes.c_void_p()
    if create(CLOCK_MONOTONIC, ctypes.byref(event), ctypes.byref(timer)) != 0:
        layers["wall_clock_timer"] = f"failed ({os.strerror(ctypes.get_errno())})"
        return False
    whole = int(seconds)
    spec = _ITimerSpec(_TimeSpec(0, 0), _TimeSpec(whole, int((seconds - whole) * 1e9)))
    if settime(timer, 0, ctypes.byref(spec), None) != 0:
        layers["wall_clock_timer"] = f"failed ({os.strerror(ctypes.get_errno())})"
        return False
    layers["wall_clock_timer"] = f"SIGKILL after {seconds:g} s (kernel timer in the child)"
    return True


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def drop_capabilities(layers):
    """Drop every capability (effective, permitted, inheritable) once the namespaces are
    made: a child started by root then cannot ptrace or read the memory and environment
    of the non-dumpable parent, nor override file permissions, even without seccomp."""
    libc = _libc()
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        layers["capabilities"] = f"unknown ({os.strerror(ctypes.get_errno())})"
        return
    held = any(item.effective or item.permitted for item in data)
    empty = (_CapData * 2)()
    if libc.capset(ctypes.byref(header), empty) != 0:
        layers["capabilities"] = f"failed ({os.strerror(ctypes.get_errno())})"
        return
    layers["capabilities"] = "all dropped" if held else "none held"


# ------------------------------------------------------------------ library entry points


def _blocker(label):
    def blocked(*args, **kwargs):
        raise PermissionError(f"{label} is disabled in the dynamic-action sandbox")

    blocked.__name__ = label.rsplit(".", 1)[-1]
    blocked.__qualname__ = blocked.__name__
    return blocked


class _DisabledModule:
    def __init__(self, name):
        self.name = name

    def __getattr__(self, attribute):
        raise PermissionError(f"{self.name} is disabled in the dynamic-action sandbox")


def _to_string_guard(original):
    """``to_string`` stays (``repr`` and ``print`` of frames use it) but may not write a
    file: only no buffer or an in-memory one."""

    def to_string(self, buf=None, *args, **kwargs):
        if buf is not None and not (hasattr(buf, "write") and hasattr(buf, "getvalue")):
            raise PermissionError("to_string(buf=...) is disabled in the dynamic-action sandbox")
        return original(self, buf, *args, **kwargs)

    return to_string


def _refused(name, spec, module=None):
    """Whether ``name`` is an entry point to disable. Module-level ``to_*`` functions count
    only in pandas' I/O package (elsewhere they are internal converters)."""
    if name in spec["names"] or name.startswith("read_"):
        return True
    if module is not None and not module.startswith("pandas.io"):
        return False
    return name.startswith("to_") and name not in spec["safe_to"]


def disable_entry_points(spec, layers):
    """Replace pandas' and numpy's code-evaluation, file and plotting entry points by
    functions raising PermissionError, before user code runs: ``eval``/``query`` (pandas'
    expression engines), every ``read_*`` reader and ``to_*`` writer, ``DataFrame.style``,
    ``plot``, ``pd.io``, the options API (numexpr/numba engines stay off), ``numpy``'s
    ``load``/``save``/``fromfile``/``memmap``/``ctypeslib`` ... A string that reaches them
    through a dispatch (``data.agg("eval", ...)``) or a validator bug then finds nothing."""
    import numpy
    import pandas

    done = []
    try:
        pandas.set_option("compute.use_numexpr", False)
        pandas.set_option("compute.use_numba", False)
    except Exception:  # noqa: S110 - an option this pandas lacks is already off
        pass
    for module_name, module in sorted(sys.modules.items()):
        if module is None or module_name.split(".")[0] not in ("pandas", "numpy"):
            continue
        namespace = getattr(module, "__dict__", {})
        for name in list(namespace):
            if _refused(name, spec, module_name) and callable(namespace[name]):
                setattr(module, name, _blocker(f"{module_name}.{name}"))
                done.append(f"{module_name}.{name}")
    for name in spec["modules"]:  # pandas.io, numpy.ctypeslib ...
        parent, _, child = name.rpartition(".")
        holder = sys.modules.get(parent)
        if holder is None:
            continue
        if child in vars(holder):
            delattr(holder, child)  # loaded: internal imports still find it in sys.modules
        else:
            setattr(holder, child, _DisabledModule(name))  # else numpy would load it lazily
        done.append(name)
    for name in spec["options"]:
        if name in vars(pandas):
            setattr(pandas, name, _blocker(f"pandas.{name}"))
            done.append(f"pandas.{name}")
    classes = set()
    for root in (pandas.DataFrame, pandas.Series, pandas.Index):
        classes.update(root.__mro__)
    typing = sys.modules.get("pandas.api.typing")
    for name in dir(typing) if typing is not None else ():
        value = getattr(typing, name)
        if isinstance(value, type):
            classes.update(value.__mro__)
    for klass in classes:
        if not klass.__module__.startswith("pandas"):
            continue
        for name in list(vars(klass)):
            if name == "to_string":
                setattr(klass, name, _to_string_guard(vars(klass)[name]))
            elif _refused(name, spec) or name in spec["attributes"]:
                label = f"{klass.__name__}.{name}"
                if isinstance(vars(klass)[name], (property, type)) or name in spec["attributes"]:
                    setattr(klass, name, property(_blocker(label)))
                else:
                    setattr(klass, name, _blocker(label))
                done.append(label)
    config = sys.modules.get("pandas._config.config")
    wrapper = getattr(config, "DictWrapper", None)
    if isinstance(wrapper, type):  # pd.options.x.y = v (reading options stays possible)
        # replacing the method is the point: the sandbox disables this entry point
        wrapper.__setattr__ = _blocker("setting pandas.options")  # type: ignore[method-assign]
    for klass, name in ((numpy.memmap, "__new__"), (pandas.HDFStore, "__init__")):
        setattr(klass, name, _blocker(f"{klass.__name__}"))
    for name in ("ExcelWriter", "ExcelFile"):
        klass = getattr(sys.modules.get("pandas.io.excel"), name, None)
        if isinstance(klass, type):
            klass.__new__ = _blocker(name)  # type: ignore[method-assign]  # disabled on purpose
    layers["entry_points"] = f"{len(done)} pandas/numpy entry points disabled (eval, query, " + (
        "read_*, to_* writers, style, plot, pd.io, options, numpy load/save/fromfile/memmap)"
    )


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
    if isinstance(value, dict):  # rlimits: every limit applied
        return bool(value) and not any(str(v).startswith("failed") for v in value.values())
    text = str(value)
    return bool(value) and not text.startswith(("unavailable", "failed", "off"))


DISABLED_BY_CONFIGURATION = "off (disabled by configuration)"


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
    disabled = set(request.get("disable_layers", ()))
    for name in disabled & set(LAYER_NAMES):
        layers[name] = DISABLED_BY_CONFIGURATION
    if "rlimits" not in disabled:
        set_limits(limits, layers)
    wall_clock_timer(float(limits["kill_after_seconds"]), layers)
    if "network_namespace" not in disabled:
        new_network_namespace(layers)
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    sys.path[:] = list(request["sys_path"])
    import numpy  # noqa: F401
    import pandas  # noqa: F401

    with open("data.json", encoding="utf-8") as handle:
        data = build_frame(json.load(handle))
    disable_entry_points(request["entry_points"], layers)
    # Only the thread settings stay: numeric libraries loaded later (scipy's own BLAS)
    # read them when they start, and may not start threads (clone is denied below).
    for variable in list(os.environ):
        if variable not in THREAD_VARIABLES:
            del os.environ[variable]
    result_fd = os.open("result.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    layers_fd = os.open("layers.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    _libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if "rlimits" not in disabled:
        late_limits(limits, layers)
    if "landlock" not in disabled:
        landlock(request["read_paths"], layers)
    if "seccomp" not in disabled:
        seccomp(layers)
    drop_capabilities(layers)
    restricted = bool(request["restricted"])
    layers["in_process_guard"] = (
        "restricted builtins and guarded imports" if restricted else "off (validation skipped)"
    )
    write_json(layers_fd, layers)
    os.close(layers_fd)
    missing = [name for name in request.get("require", []) if not _active(layers.get(name))]
    if missing:  # fail closed: a required layer was not granted (or was disabled)
        write_json(
            result_fd,
            {
                "ok": False,
                "kind": "sandbox_unavailable",
                "missing": missing,
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
